"""What every route gets injected: the API's context, the caller, and sequences it may see.

A sequence of a show the caller's token does not cover is answered exactly
like one that does not exist (404, same body), so ids of other shows cannot
be probed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nodes.storage.base import Store
from orchestrator.api.auth import Principal, TokenTable
from orchestrator.api.farm import Farm, Previs
from orchestrator.api.limits import SEQUENCE_ID
from orchestrator.api.projection import FarmView
from orchestrator.api.settings import ApiSettings
from orchestrator.core.state import SequenceState

NOT_FOUND = "no such sequence"


@dataclass
class ApiContext:
    settings: ApiSettings
    tokens: TokenTable
    farm: Farm
    view: FarmView
    store: Store
    previs: Previs | None = None
    notes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    """Editorial notes per sequence and shot, read from the store once."""


def context(request: Request) -> ApiContext:
    return request.app.state.shotfarm


Context = Annotated[ApiContext, Depends(context)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A token from the server's SHOTFARM_TOKENS or tokens file; it sees the shows it is scoped to.",
)


def principal(ctx: Context, credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Principal:
    challenge = {"WWW-Authenticate": 'Bearer realm="shotfarm"'}
    if credentials is None:
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)", headers=challenge)
    found = ctx.tokens.authenticate(credentials.credentials)
    if found is None:
        raise HTTPException(401, "unknown bearer token", headers=challenge)
    return found


Caller = Annotated[Principal, Depends(principal)]

SequenceId = Annotated[
    str, Path(pattern=SEQUENCE_ID, description="`show:sequence`", examples=["demo:sq010"], max_length=129)
]


def visible(ctx: Context, caller: Caller, sequence_id: SequenceId) -> SequenceState:
    seq = ctx.view.state.sequences.get(sequence_id)
    if seq is None or not caller.may_see(seq.spec.show):
        raise HTTPException(404, NOT_FOUND)
    return seq


Visible = Annotated[SequenceState, Depends(visible)]


def require_show(caller: Principal, show: str) -> None:
    if not caller.may_see(show):
        raise HTTPException(403, f"this token may not submit for show {show!r}")


def require_admin(caller: Caller) -> Principal:
    if not caller.admin:
        raise HTTPException(403, "this needs an admin (*) token")
    return caller


Admin = Annotated[Principal, Depends(require_admin)]
