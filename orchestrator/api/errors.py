"""Errors as the API answers them: one JSON shape, a 4xx for anything the caller can fix.

    {"error": "invalid spec", "problems": [{"path": "shots[2].frames.last", "message": "..."}]}

Bad specs, mappings and cut lists are 422 with field paths; a refused
coordinator request (a changed spec, a finished sequence) is 409; an
unreachable coordinator is 503. Nothing is answered with a traceback, and
nothing about another show's sequences is ever said: those are 404 like a
sequence that does not exist.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from orchestrator.coordinator.failures import sentence_of
from orchestrator.core.admission import BadRequest
from pipelines.spec.errors import DocumentTooLarge
from pipelines.spec.loading import SpecError, field_path

log = logging.getLogger(__name__)


class Problem(BaseModel):
    path: str
    message: str


class ErrorBody(BaseModel):
    error: str
    problems: list[Problem] = []


class FarmUnavailable(RuntimeError):
    """The coordinator did not answer (gone, or past the call timeout)."""


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, all with the ErrorBody shape."""
    text = {
        400: "Malformed request",
        401: "Missing or unknown bearer token",
        403: "The token's shows do not include this one",
        404: "No such resource (or not visible to this token)",
        409: "Refused by the farm in its current state",
        413: "Body over the upload limit",
        415: "Unsupported content type",
        422: "Invalid input, with field paths",
        503: "The coordinator did not answer",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


def problem(status: int, error: str, problems: list[tuple[str, str]] | None = None, headers: dict | None = None) -> JSONResponse:
    body = ErrorBody(error=error, problems=[Problem(path=p, message=m) for p, m in problems or []])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        where = loc[0] if loc else ""
        rest = loc[1:] if where in ("body", "path", "query", "header", "form") else loc
        path = field_path(rest)
        problems.append((f"{where}.{path}" if where in ("path", "query", "header") else path, str(err.get("msg", ""))))
    return problem(422, "invalid request", problems)


def _spec(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SpecError)
    if isinstance(exc, DocumentTooLarge):
        return problem(413, f"{exc.source}: too large", exc.problems)
    return problem(422, f"{exc.source}: invalid", exc.problems)


def _refused(request: Request, exc: Exception) -> JSONResponse:
    return problem(409, sentence_of(exc) or "refused")


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, str(exc), headers={"Retry-After": "5"})


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug: logged here with its traceback, answered without one.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SpecError, _spec)
    app.add_exception_handler(BadRequest, _refused)
    app.add_exception_handler(FarmUnavailable, _unavailable)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
