"""The coordinator's effects: calls to node actors, and what their answers record.

Each effect is an async task the interpreter spawns for one command (for
renders, for the Dispatches one batch sends a node: they share a call). It
builds the order from the state (coordinator.orders), calls the node with a
timeout, and posts the event that records the outcome; the interpreter
appends and folds it like any other, in one batch with whatever else
arrived meanwhile. Choices about an outcome
(retry, re-render, fail) are the pure core's (core.admission, decide): an
effect only reports what happened. Frames never travel through Ray: orders
and answers carry store keys and digests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ray.exceptions import RayActorError, TaskCancelledError

from nodes.actors.master import SourceFrameBad
from nodes.errors import Draining
from nodes.protocol import CheckResult, ChunkResult, DeliverResult, SegmentResult, TakesResult
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.failures import blames_node, cause_of, classify
from orchestrator.coordinator.orders import check_order, chunk_order, deliver_order, segment_order, takes_order
from orchestrator.core import admission
from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch, Forgive, RetryLater
from orchestrator.core.decide import backoff
from orchestrator.core.state import FarmState
from orchestrator.scheduling.ids import AttemptKey

log = logging.getLogger(__name__)


class Interpreter(Protocol):
    """What an effect needs of the coordinator that spawned it."""

    state: FarmState
    settings: FarmSettings
    nodes: dict[str, Any]
    master: Any
    checker: Any
    calls: dict[AttemptKey, Any]

    def post(self, event: ev.Event) -> None:
        """Record the event soon, with others arriving meanwhile (one log transaction)."""


async def _answer(ref: Any) -> Any:
    return await ref


async def answer(ref: Any, timeout: float) -> Any:
    """What a call answers, or TimeoutError after ``timeout`` seconds (the call itself runs on).

    Awaited in the effect's own task under a deadline: asyncio.wait_for would start one more
    task per call to wait in, on the path every chunk takes."""
    async with asyncio.timeout(timeout):
        return await ref


async def with_retries(farm: Interpreter, call: Callable[[], Any], timeout: float) -> Any:
    """A check, stitch or delivery, tried again with the core's backoff while it fails transiently (a store outage)."""
    for attempt in range(1, farm.settings.max_attempts + 1):
        try:
            return await answer(call(), timeout)
        except Exception as e:
            if attempt == farm.settings.max_attempts or not classify(e)[0]:
                raise
        await asyncio.sleep(backoff(farm.state, attempt))


BATCH_WITHIN_S = 0.05
"""A node given several chunks in one call starts another only within this many seconds of the
call's start (nodes.actors.render.RenderNode.render_many): quick chunks share a call, whose
overhead would otherwise be most of their cost, while a long chunk's result is never held back
behind its neighbour's render (it comes back alone, and the neighbour is sent again)."""


async def render(farm: Interpreter, sent: list[tuple[Dispatch, str]]) -> None:
    """Render chunks sent to one node in one batch, as (command, gpu class): one call carries them all."""
    node_id = sent[0][0].node_id
    many = getattr(farm.nodes[node_id], "render_many", None) if len(sent) > 1 else None
    if many is None:  # one chunk, or a node that takes one chunk per call
        await asyncio.gather(*(_render_one(farm, command, gpu_class) for command, gpu_class in sent))
        return
    try:
        orders = [chunk_order(farm.state.sequences[c.sequence_id], c, farm.settings.engine) for c, _ in sent]
        ref = many.remote(orders, BATCH_WITHIN_S)
        for command, _ in sent:
            farm.calls[command.key] = ref
        results: list[ChunkResult] = await answer(ref, farm.settings.timeouts.chunk * len(sent))
    except TaskCancelledError:
        return  # every chunk of the call was preempted (interpreter: a call is cancelled only then)
    except Exception as e:
        for command, _ in sent:
            farm.calls.pop(command.key, None)
        if isinstance(cause_of(e), Draining):  # the first chunk was refused, so nothing of the call started
            await _refused(farm, [command for command, _ in sent])
            return
        if isinstance(e, RayActorError):
            await node_back(farm, node_id)
        for command, _ in sent:
            _failed(farm, command, e)
        return
    for (command, gpu_class), result in zip(sent, results):
        farm.calls.pop(command.key, None)
        _rendered(farm, command, gpu_class, result)
    # Not rendered by the call (its time was up, or one before failed): sent again alone, unless taken back meanwhile.
    rest = [(c, g) for c, g in sent[len(results) :] if farm.calls.pop(c.key, None) is ref]
    await asyncio.gather(*(_render_one(farm, command, gpu_class) for command, gpu_class in rest))


async def _render_one(farm: Interpreter, command: Dispatch, gpu_class: str) -> None:
    key = command.key
    try:
        order = chunk_order(farm.state.sequences[command.sequence_id], command, farm.settings.engine)
        ref = farm.calls[key] = farm.nodes[command.node_id].render.remote(order)
        result: ChunkResult = await answer(ref, farm.settings.timeouts.chunk)
    except TaskCancelledError:
        return  # preempted: ChunkPreempted already put the chunk back in the queue
    except Exception as e:  # classified once, here, into a retry policy
        farm.calls.pop(key, None)
        if isinstance(cause_of(e), Draining):
            await _refused(farm, [command])
            return
        if isinstance(e, RayActorError):
            # Ray is restarting the node: its slots stay held by this attempt until it
            # answers again, so no chunk is sent there only to fail on arrival.
            await node_back(farm, command.node_id)
        _failed(farm, command, e)
        return
    farm.calls.pop(key, None)
    _rendered(farm, command, gpu_class, result)


async def _refused(farm: Interpreter, refused: list[Dispatch]) -> None:
    """A node refused chunks before starting them (its machine drains): record it, then wait for it to come back.

    Every refused chunk queues again as if never sent, and the node drains
    from its first refusal on: recorded before the NodeDraining that takes
    back what else waits at it, so that none of the chunks refused here is
    also taken back (an attempt spent). This effect then waits while the node drains,
    for as long as that takes (Ray brings a render node whose machine went
    back on another one), and records it joining again once it is there.
    """
    node_id, now = refused[0].node_id, time.time()
    node = farm.state.nodes.get(node_id)
    first = node is not None and not node.draining
    log.info("%s drains: it refused %s", node_id, ", ".join(c.chunk_id for c in refused))
    for c in refused:
        farm.post(ev.ChunkRefused(at=now, sequence_id=c.sequence_id, chunk_id=c.chunk_id, attempt=c.attempt, node_id=node_id))
    if first:
        farm.post(ev.NodeDraining(at=now, sequence_id=ev.FARM, node_id=node_id))
        await back_from_drain(farm, node_id)


async def back_from_drain(farm: Interpreter, node_id: str) -> None:
    """Record the node joining again once it answers that its machine does not drain.

    One question at a time, asked again a call timeout after each answer: a
    node in its machine's last minutes says it drains, one Ray is restarting
    elsewhere answers once it is placed.
    """
    ask = getattr(farm.nodes.get(node_id), "draining", None)
    if ask is None:
        return  # a node that cannot say: it stays out until the farm restarts
    step = farm.settings.timeouts.call
    while True:
        asked = asyncio.ensure_future(_answer(ask.remote()))
        while not asked.done():
            await asyncio.wait({asked}, timeout=step)
        try:
            still = asked.result()
        except Exception:  # lost with its machine, or not placed yet: ask again
            still = True
        if not still:
            break
        await asyncio.sleep(step)
    node = farm.state.nodes.get(node_id)
    if node is not None and node.draining:
        farm.post(ev.NodeJoined(at=time.time(), sequence_id=ev.FARM, node=ev.NodeInfo(node_id=node_id, gpu_class=node.gpu_class, slots=node.slots)))


def _failed(farm: Interpreter, command: Dispatch, e: Exception) -> None:
    retryable, message = classify(e)
    log.warning(
        "chunk %s attempt %d failed on %s (%s): %s", command.chunk_id, command.attempt, command.node_id,
        "will retry" if retryable else "permanent", message, extra={"sequence": command.sequence_id, "chunk": command.chunk_id},
    )  # fmt: skip
    farm.post(
        ev.ChunkFailed(
            at=time.time(),
            sequence_id=command.sequence_id,
            chunk_id=command.chunk_id,
            attempt=command.attempt,
            node_id=command.node_id,
            error=message,
            retryable=retryable,
            node_fault=blames_node(e),
        )
    )


def _rendered(farm: Interpreter, command: Dispatch, gpu_class: str, result: ChunkResult) -> None:
    farm.post(
        ev.ChunkRendered(
            at=time.time(),
            sequence_id=command.sequence_id,
            chunk_id=command.chunk_id,
            attempt=command.attempt,
            node_id=command.node_id,
            gpu_class=gpu_class,
            frames=tuple(ev.FrameRecord(frame=f.frame, key=f.key, digest=f.digest) for f in result.frames),
            node_seconds=result.seconds,
            cost_usd=farm.settings.prices.cost(gpu_class, result.seconds),
        )
    )


async def node_back(farm: Interpreter, node_id: str) -> None:
    """Wait (bounded) until a lost node answers again."""
    deadline = time.monotonic() + farm.settings.timeouts.call
    while time.monotonic() < deadline:
        try:
            await answer(farm.nodes[node_id].ping.remote(), farm.settings.timeouts.call)
            return
        except RayActorError:  # still restarting
            await asyncio.sleep(0.5)
        except Exception:
            return  # the retry policy takes it from here


async def requeue_after(farm: Interpreter, command: RetryLater) -> None:
    await asyncio.sleep(command.delay)
    farm.post(
        ev.ChunkQueued(at=time.time(), sequence_id=command.sequence_id, chunk_id=command.chunk_id, reason="retry after failure")
    )


async def join(farm: Interpreter, node: ev.NodeInfo) -> None:
    """Record the render node in the pool once it answers.

    Until then it waits to be placed: its class's Ray resource is not offered
    yet (a worker group scaling up, a worker joining the cluster). The wait is
    as long as that takes, checked in steps of the call timeout; the one ping
    stays the same, so a node placed late finds one call queued, not many.
    """
    step = farm.settings.timeouts.call
    pinged = asyncio.ensure_future(_answer(farm.nodes[node.node_id].ping.remote()))
    while not pinged.done():
        await asyncio.wait({pinged}, timeout=step)
        if not pinged.done():
            log.info("render node %s is not placed yet: no Ray node offers its class %s", node.node_id, node.gpu_class)
    try:
        pinged.result()
    except Exception as e:
        log.error("render node %s could not start and takes no work: %s", node.node_id, classify(e)[1])
        return
    farm.post(ev.NodeJoined(at=time.time(), sequence_id=ev.FARM, node=node))


async def forgive_after(farm: Interpreter, command: Forgive) -> None:
    await asyncio.sleep(command.delay)
    farm.post(ev.NodeForgiven(at=time.time(), sequence_id=command.sequence_id, node_id=command.node_id))


async def _from_checker(farm: Interpreter, sequence_id: str, doing: str, call: Callable[[], Any]) -> Any:
    """The check node's answer, or None once the sequence is recorded failed (its cuts cannot be judged)."""
    try:
        return await with_retries(farm, call, farm.settings.timeouts.chunk)
    except Exception as e:
        _, message = classify(e)
        farm.post(ev.SequenceFailed(at=time.time(), sequence_id=sequence_id, reason=f"{doing}: {message}"))
        return None


async def check(farm: Interpreter, sequence_id: str, cut: str) -> None:
    def ask() -> Any:
        return farm.checker.check.remote(check_order(farm.state.sequences[sequence_id], cut))

    result: CheckResult | None = await _from_checker(farm, sequence_id, f"checking {cut}", ask)
    if result is None:
        return
    farm.post(
        ev.CutChecked(
            at=time.time(),
            sequence_id=sequence_id,
            cut=cut,
            fingerprint=result.fingerprint,
            findings=result.findings,
            report_key=result.report_key,
        )
    )


async def choose_take(farm: Interpreter, sequence_id: str, shot: str) -> None:
    def ask() -> Any:
        return farm.checker.score_takes.remote(takes_order(farm.state.sequences[sequence_id], shot))

    result: TakesResult | None = await _from_checker(farm, sequence_id, f"choosing a take of {shot}", ask)
    if result is None:
        return
    farm.post(
        ev.TakeChosen(
            at=time.time(),
            sequence_id=sequence_id,
            shot=shot,
            version=result.version,
            take=result.take,
            fingerprint=result.fingerprint,
            scores=result.scores,
            reason=result.reason,
        )
    )


async def stitch_segment(farm: Interpreter, sequence_id: str, segment: str) -> None:
    try:
        order = segment_order(farm.state.sequences[sequence_id], segment, farm.settings.burn_in, farm.settings.exact)
        result: SegmentResult = await with_retries(
            farm, lambda: farm.master.stitch_segment.remote(order), farm.settings.timeouts.stitch
        )
    except Exception as e:
        _master_failed(farm, sequence_id, f"segment {segment}", e)
        return
    farm.post(
        ev.SegmentStitched(
            at=time.time(),
            sequence_id=sequence_id,
            segment=result.segment,
            fingerprint=result.fingerprint,
            frames=tuple(ev.FrameRecord(**f.model_dump()) for f in result.frames),
        )
    )


async def deliver(farm: Interpreter, sequence_id: str) -> None:
    try:
        order = deliver_order(farm.state.sequences[sequence_id], farm.settings.burn_in, farm.settings.exact)
        result: DeliverResult = await with_retries(farm, lambda: farm.master.deliver.remote(order), farm.settings.timeouts.stitch)
    except Exception as e:
        _master_failed(farm, sequence_id, "deliverables", e)
        return

    def record(f: Any) -> ev.FrameRecord:
        return ev.FrameRecord(**f.model_dump())

    farm.post(
        ev.MasterStitched(
            at=time.time(),
            sequence_id=sequence_id,
            frames=tuple(record(f) for f in order.frames),
            contact_sheet=record(result.contact_sheet),
            range={"first": order.frames[0].frame, "last": order.frames[-1].frame},
            deliverables={k: record(v) for k, v in result.deliverables.items()},
            maxcll=result.maxcll,
            maxfall=result.maxfall,
        )
    )


async def forget(farm: Interpreter, sequence_id: str) -> None:
    """The master node lets go of an ended sequence's encodes. Nothing waits on it: a failure is logged."""
    try:
        await answer(farm.master.forget.remote(sequence_id), farm.settings.timeouts.stitch)
    except Exception as e:
        log.warning("the master node did not let go of %s: %s", sequence_id, classify(e)[1], extra={"sequence": sequence_id})


def _master_failed(farm: Interpreter, sequence_id: str, what: str, e: Exception) -> None:
    """What the master node said, as the core's choice records it (core.admission.master_failure)."""
    cause = cause_of(e)
    bad = (cause.shot, cause.frame, str(cause)) if isinstance(cause, SourceFrameBad) else None
    event = admission.master_failure(farm.state, sequence_id, what, classify(e)[1], bad, time.time())
    if event is not None:
        farm.post(event)
