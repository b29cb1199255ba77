"""Folds of the render-node pool: started, joined, draining, forgiven."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from orchestrator.core import events as ev
from orchestrator.core.chunks import ChunkTable
from orchestrator.core.folds.base import fold, with_item
from orchestrator.core.state import FarmState, NodeState
from orchestrator.core.status import (
    ChunkStatus,
)
from orchestrator.scheduling.blocklist import expired


@fold(ev.PoolStarted)
def _pool_started(state: FarmState, e: ev.PoolStarted) -> FarmState:
    nodes = {n.node_id: NodeState(n.node_id, n.gpu_class, n.slots) for n in e.nodes}
    sequences = {}
    for sid, seq in state.sequences.items():
        # Whatever was running or waiting for a retry timer had its node or
        # its timer die with the previous coordinator: queue it again.
        if seq.chunks.count(ChunkStatus.RUNNING, ChunkStatus.RETRY_WAIT):
            requeued = {
                cid: replace(c, status=ChunkStatus.QUEUED, node_id=None)
                if c.status in (ChunkStatus.RUNNING, ChunkStatus.RETRY_WAIT)
                else c
                for cid, c in seq.chunks.items()
            }
            seq = replace(seq, chunks=ChunkTable.of(requeued))
        sequences[sid] = seq
    return replace(state, nodes=MappingProxyType(nodes), sequences=MappingProxyType(sequences))


@fold(ev.NodeJoined)
def _node_joined(state: FarmState, e: ev.NodeJoined) -> FarmState:
    n = e.node
    node = state.nodes.get(n.node_id)
    if node is not None and node.draining:  # back on another machine: it takes work again
        return replace(state, nodes=with_item(state.nodes, n.node_id, replace(node, draining=False)))
    if node is not None:
        return state  # already in the pool: it holds what it holds
    nodes = {**state.nodes, n.node_id: NodeState(n.node_id, n.gpu_class, n.slots)}
    return replace(state, nodes=MappingProxyType(nodes))


@fold(ev.NodeDraining)
def _node_draining(state: FarmState, e: ev.NodeDraining) -> FarmState:
    node = state.nodes.get(e.node_id)
    if node is None or node.draining:
        return state  # not in this pool (a restart since), or already known
    return replace(state, nodes=with_item(state.nodes, e.node_id, replace(node, draining=True)))


@fold(ev.NodeForgiven)
def _forgiven(state: FarmState, e: ev.NodeForgiven) -> FarmState:
    where = (e.sequence_id, e.node_id)
    record = state.node_failures.get(where)
    if record is None or not expired(record, e.at, state.policy.farm.forgive_after):
        return state  # it failed again since: the block stands until later
    failures = {k: v for k, v in state.node_failures.items() if k != where}
    return replace(state, node_failures=MappingProxyType(failures))
