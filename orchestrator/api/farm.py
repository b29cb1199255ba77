"""What the API needs from the farm, and the two ways it gets it.

`Farm` is the coordinator as the API uses it: submit, cancel, re-render, and
read the event log. `RayFarm` calls the coordinator actor, every call
bounded by a timeout, and unwraps refusals raised inside the actor so they
reach the error handlers as themselves. `LocalFarm` runs a Coordinator in
this process with no nodes: the same validation, refusals and log, nothing
rendered (tests, and a submission-only front end).

`Previs` is the cut detector: `RayPrevis` on the PrevisNode actor,
`InlinePrevis` on the same class in a worker thread.

Nothing here may wait on the farm without a bound: a coordinator that does
not answer becomes FarmUnavailable (503), never a hung request.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import anyio
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from nodes.actors.previs import PrevisNode, PrevisOrder, PrevisProposal
from orchestrator.api.errors import FarmUnavailable
from orchestrator.coordinator.failures import cause_of
from orchestrator.coordinator.interpreter import Coordinator
from orchestrator.core.admission import BadRequest
from pipelines.editorial.cut import EditorialError


class Farm(Protocol):
    async def submit(self, spec: dict[str, Any]) -> str: ...

    async def cancel(self, sequence_id: str) -> None: ...

    async def rerender(self, sequence_id: str, shot: str) -> None: ...

    async def retire(self, sequence_id: str, reason: str, by: str) -> None: ...

    async def events(self, after: int, sequence_id: str | None, limit: int) -> list[tuple[int, dict]]: ...


class Previs(Protocol):
    async def propose(self, order: PrevisOrder) -> PrevisProposal: ...


async def _result(ref: Any) -> Any:
    return await ref


async def _call(handle: Any, method: str, timeout: float, *args: Any) -> Any:
    try:
        return await asyncio.wait_for(_result(getattr(handle, method).remote(*args)), timeout)
    except (asyncio.TimeoutError, GetTimeoutError):
        raise FarmUnavailable(f"the farm did not answer {method} within {timeout:g} s") from None
    except RayActorError:
        raise FarmUnavailable("the farm's coordinator is not running") from None
    except RayTaskError as e:
        cause = cause_of(e)
        if isinstance(cause, BadRequest | EditorialError):
            raise cause from None  # a refusal, for the 4xx handlers
        raise


class RayFarm:
    def __init__(self, coordinator: Any, timeout: float):
        self.coordinator, self.timeout = coordinator, timeout

    async def submit(self, spec: dict[str, Any]) -> str:
        return await _call(self.coordinator, "submit", self.timeout, spec)

    async def cancel(self, sequence_id: str) -> None:
        await _call(self.coordinator, "cancel", self.timeout, sequence_id)

    async def rerender(self, sequence_id: str, shot: str) -> None:
        await _call(self.coordinator, "rerender", self.timeout, sequence_id, shot)

    async def retire(self, sequence_id: str, reason: str, by: str) -> None:
        await _call(self.coordinator, "retire", self.timeout, sequence_id, reason, by)

    async def events(self, after: int, sequence_id: str | None, limit: int) -> list[tuple[int, dict]]:
        return await _call(self.coordinator, "events", self.timeout, after, sequence_id, limit)


class LocalFarm:
    """A Coordinator in this process and on this event loop, never started: no nodes, no renders."""

    def __init__(self, coordinator: Coordinator):
        self.coordinator = coordinator

    async def submit(self, spec: dict[str, Any]) -> str:
        return await self.coordinator.submit(spec)

    async def cancel(self, sequence_id: str) -> None:
        await self.coordinator.cancel(sequence_id)

    async def rerender(self, sequence_id: str, shot: str) -> None:
        await self.coordinator.rerender(sequence_id, shot)

    async def retire(self, sequence_id: str, reason: str, by: str) -> None:
        await self.coordinator.retire(sequence_id, reason, by)

    async def events(self, after: int, sequence_id: str | None, limit: int) -> list[tuple[int, dict]]:
        return await self.coordinator.events(after, sequence_id, limit)


class RayPrevis:
    def __init__(self, node: Any, timeout: float):
        self.node, self.timeout = node, timeout

    async def propose(self, order: PrevisOrder) -> PrevisProposal:
        return await _call(self.node, "propose", self.timeout, order)


class InlinePrevis:
    def __init__(self, node: PrevisNode):
        self.node = node

    async def propose(self, order: PrevisOrder) -> PrevisProposal:
        return await anyio.to_thread.run_sync(self.node.propose, order)
