"""A small Python client for the shotfarm REST API.

    from orchestrator.interfaces.sdk import Client
    farm = Client("http://127.0.0.1:8470", token="...")   # or SHOTFARM_SERVER / SHOTFARM_TOKEN
    sid = farm.submit(Path("examples/teaser.yaml")).sequence_id
    for event in farm.watch(sid):
        ...

Answers are the API's own models (orchestrator.api.views). Every failure
the server reports is an ApiError carrying its status, message and field
problems; an unreachable server is ServerUnreachable. This module must
never print, exit, or retry a request that changes anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.api.views import ChunkView, CostView, CutView, SequenceDetail, SequenceSummary, ShotDetail, ShotView, Submitted

DEFAULT_SERVER = "http://127.0.0.1:8470"
_YAML = (".yaml", ".yml")


class ApiError(Exception):
    def __init__(self, status: int, message: str, problems: list[tuple[str, str]] | None = None):
        self.status, self.message, self.problems = status, message, problems or []
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.message} (HTTP {self.status})"]
        lines += [f"  {path or '(top level)'}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


class ServerUnreachable(ConnectionError):
    pass


class Client:
    def __init__(self, server: str | None = None, token: str | None = None, timeout: float = 60.0):
        self.server = (server or os.environ.get("SHOTFARM_SERVER") or DEFAULT_SERVER).rstrip("/")
        token = token or os.environ.get("SHOTFARM_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ServerUnreachable(f"cannot reach {self.server}: {e}") from None
        _raise_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    @staticmethod
    def _seq(sid: str) -> str:
        return f"/v1/sequences/{_quote(sid)}"

    # -- sequences -----------------------------------------------------------

    def submit(self, spec: dict[str, Any] | Path | str) -> Submitted:
        """A spec as a dict, a .yaml/.json file, or YAML/JSON text."""
        if isinstance(spec, dict):
            body, kind = json.dumps(spec).encode(), "application/json"
        elif isinstance(spec, Path):
            body = spec.read_bytes()
            kind = "application/yaml" if spec.suffix.lower() in _YAML else "application/json"
        else:
            body, kind = spec.encode(), "application/yaml"
        return Submitted.model_validate(self._json("POST", "/v1/sequences", content=body, headers={"Content-Type": kind}))

    def submit_cut(self, cut: Path, mapping: dict[str, Any] | Path, dry_run: bool = False) -> dict[str, Any]:
        """An .otio or .edl cut list with a scene mapping (a dict, or a YAML/JSON file)."""
        text = mapping.read_text(encoding="utf-8") if isinstance(mapping, Path) else json.dumps(mapping)
        files = {"cut": (cut.name, cut.read_bytes(), "application/octet-stream")}
        data = {"mapping": text, "dry_run": "true" if dry_run else "false"}
        return self._json("POST", "/v1/editorial", files=files, data=data)

    def propose_from_movie(self, show: str, movie: Path) -> dict[str, Any]:
        """Upload a previs movie; returns the proposal (its `previs_id` and proposed shots)."""
        with movie.open("rb") as f:
            files = {"movie": (movie.name, f, "application/octet-stream")}
            return self._json("POST", "/v1/previs", files=files, data={"show": show})

    def accept_proposal(self, show: str, previs_id: str, mapping: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", f"/v1/previs/{_quote(show)}/{_quote(previs_id)}/accept", json=mapping)

    def sequences(self) -> list[SequenceSummary]:
        return [SequenceSummary.model_validate(s) for s in self._json("GET", "/v1/sequences")]

    def sequence(self, sid: str) -> SequenceDetail:
        return SequenceDetail.model_validate(self._json("GET", self._seq(sid)))

    def shots(self, sid: str) -> list[ShotView]:
        return [ShotView.model_validate(s) for s in self._json("GET", f"{self._seq(sid)}/shots")]

    def shot(self, sid: str, shot: str) -> ShotDetail:
        return ShotDetail.model_validate(self._json("GET", f"{self._seq(sid)}/shots/{_quote(shot)}"))

    def chunks(self, sid: str) -> list[ChunkView]:
        return [ChunkView.model_validate(c) for c in self._json("GET", f"{self._seq(sid)}/chunks")]

    def cuts(self, sid: str) -> list[CutView]:
        return [CutView.model_validate(c) for c in self._json("GET", f"{self._seq(sid)}/cuts")]

    def cost(self, sid: str) -> CostView:
        return CostView.model_validate(self._json("GET", f"{self._seq(sid)}/cost"))

    def cancel(self, sid: str) -> SequenceSummary:
        return SequenceSummary.model_validate(self._json("POST", f"{self._seq(sid)}/cancel"))

    def rerender(self, sid: str, shot: str) -> ShotView:
        return ShotView.model_validate(self._json("POST", f"{self._seq(sid)}/shots/{_quote(shot)}/rerender"))

    def preview(self, sid: str, shot: str, frame: int, width: int = 320) -> bytes:
        """A tone-mapped PNG of a rendered frame."""
        path = f"{self._seq(sid)}/shots/{_quote(shot)}/frames/{frame}/preview.png"
        return self._request("GET", path, params={"width": width}).content

    # -- live ----------------------------------------------------------------

    def watch(self, sid: str | None = None, after: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, data) as the server sends them; for one sequence it ends when the sequence does."""
        path = f"{self._seq(sid)}/events" if sid else "/v1/events"
        params = {"after": after} if after is not None else {}
        try:
            with self._http.stream("GET", path, params=params, timeout=httpx.Timeout(None, connect=10)) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                yield from _events(response.iter_lines())
        except httpx.TransportError as e:
            raise ServerUnreachable(f"lost {self.server}: {e}") from None


def _quote(part: str) -> str:
    return quote(part, safe=":")


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield kind, json.loads(data)
            kind, data = "message", ""
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        message = str(body.get("error") or response.reason_phrase)
        problems = [(str(p.get("path", "")), str(p.get("message", ""))) for p in body.get("problems", [])]
    except (ValueError, AttributeError):
        message, problems = response.text[:300] or response.reason_phrase, []
    raise ApiError(response.status_code, message, problems)
