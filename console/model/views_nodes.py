"""Nodes: GPU product, capacity, what is allocated and free, readiness and cordon state.

Allocated counts whole devices: `nvidia.com/gpu` of the pods on the node, reservation pods included (one
per shared GPU), so fractional pods count through the GPU their reservation holds and never twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .records import NodeRec, PodRec

if TYPE_CHECKING:
    from .store_reads import StoreReads


@dataclass(slots=True)
class NodeRow:
    name: str
    gpu_product: str | None
    gpu_memory_mib: int | None
    gpu_capacity: int | None          # `nvidia.com/gpu.count`, else allocatable `nvidia.com/gpu`
    gpu_allocated: int                # whole devices held by pods (reservation pods included)
    gpu_free: int | None
    gpu_shared: int                   # devices held by reservation pods, i.e. shared by fractions
    mig_capacity: int
    mig_allocated: int
    pods: int                         # live pods placed on the node
    ready: bool | None
    cordoned: bool


def node_row(node: NodeRec, pods: Iterable[PodRec]) -> NodeRow:
    allocated = shared = mig = n = 0
    for p in pods:
        if not p.bound:
            continue
        n += 1
        g = p.gpu
        if g.kind == "whole":
            allocated += g.count
            if p.reservation:
                shared += g.count
        elif g.kind == "mig":
            mig += g.count
    cap = node.gpu_count
    return NodeRow(
        name=node.name, gpu_product=node.gpu_product, gpu_memory_mib=node.gpu_memory_mib, gpu_capacity=cap,
        gpu_allocated=allocated, gpu_free=None if cap is None else max(0, cap - allocated), gpu_shared=shared,
        mig_capacity=node.mig_capacity, mig_allocated=mig, pods=n, ready=node.ready, cordoned=node.cordoned,
    )


class NodesView:
    """Node rows recomputed for dirty node names."""

    def __init__(self) -> None:
        self.rows: dict[str, NodeRow] = {}

    def refresh(self, store: StoreReads, dirty: set[str]) -> tuple[dict[str, NodeRow], set[str]]:
        changed: dict[str, NodeRow] = {}
        removed: set[str] = set()
        for name in dirty:
            node = store.nodes.get(name)
            row = node_row(node, store.pods_of(store.pods_by_node.get(name, ()))) if node else None
            old = self.rows.get(name)
            if row == old:
                continue
            if row is None:
                del self.rows[name]
                removed.add(name)
            else:
                self.rows[name] = row
                changed[name] = row
        return changed, removed


def compute_all(store: StoreReads) -> dict[str, NodeRow]:
    """Every node row from the records alone: the oracle."""
    by_node: dict[str, list[PodRec]] = defaultdict(list)
    for p in store.pods.values():
        if p.node:
            by_node[p.node].append(p)
    return {name: node_row(n, by_node.get(name, [])) for name, n in store.nodes.items()}
