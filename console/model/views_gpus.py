"""GPUs: one row per physical GPU of each node, with who holds what share and what is left.

The API records a device only for shared GPUs: a fractional pod's `runai-gpu-group` label leads to its
reservation pod, whose node and `run.ai/reserve_for_gpu_index` annotation (a GPU UUID) name the GPU.
Whole-GPU pods have no per-device record, so they are placed on the node's remaining rows in a stable
order (same pods, same rows) and those rows say "device not reported" (`device_reported=False`,
`uuid=None`) instead of inventing UUIDs. A row is keyed by its `slot`, its position on the node; its
`index` is the device index (what nvidia-smi, DCGM and the device plugin call the GPU) and the API
rarely knows it: only an older Run:ai reservation pod names its GPU by index. The telemetry join fills
it from dcgm-exporter's `gpu` label or NVML (`GpuTelemetry.index`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .podspec import floor_gpu_memory
from .records import NodeRec, PodRec, pending_shape

if TYPE_CHECKING:
    from .store_reads import StoreReads

EPS = 1e-6
SHARED, WHOLE, FREE = "shared", "whole", "free"


@dataclass(frozen=True, slots=True)
class Holder:
    namespace: str
    pod: str
    workload: str | None
    share: float | None      # 1.0 whole; the fraction; memory / GPU memory; None when not knowable
    terminating: bool = False            # being deleted: still holds its share until its grace period ends
    terminating_since: float | None = None  # when it was deleted (epoch s)


@dataclass(slots=True)
class GpuRow:
    node: str
    slot: int                         # position on the node: the row's key, stable while pods stay put
    uuid: str | None
    model: str | None
    memory_mib: int | None
    holders: tuple[Holder, ...]
    free_share: float | None
    use: str                          # shared | whole | free
    device_reported: bool             # the API names this device (a reservation pod's UUID annotation)
    reservation_pod: str | None
    fragmented: bool                  # a free sliver that no waiting GPU request fits
    mig: bool                         # the node's GPUs are split into MIG instances (shares not tracked)
    index: int | None = None          # device index, when the API names it

    @property
    def key(self) -> tuple[str, int]:
        return (self.node, self.slot)


@dataclass(frozen=True, slots=True)
class PendingFit:
    """The smallest waiting GPU requests: enough to tell whether a free sliver is usable."""

    any_pending: bool = False
    min_portion: float | None = None
    min_memory_mib: float | None = None

    def fits(self, free: float, gpu_memory_mib: int | None) -> bool:
        if self.min_portion is not None and self.min_portion <= free + EPS:
            return True
        if self.min_memory_mib is not None and gpu_memory_mib:
            return min(1.0, self.min_memory_mib / floor_gpu_memory(gpu_memory_mib)) <= free + EPS
        return False


def pending_fit(shapes: Iterable[tuple[str, float]]) -> PendingFit:
    shapes = list(shapes)
    portions = [v for k, v in shapes if k == "fraction"]
    mems = [v for k, v in shapes if k == "memory"]
    return PendingFit(bool(shapes), min(portions) if portions else None, min(mems) if mems else None)


def _share(p: PodRec, gpu_memory_mib: int | None) -> float | None:
    g = p.gpu
    if g.kind == "fraction":
        return g.portion
    if g.kind == "memory":
        return g.portion_on(gpu_memory_mib) if gpu_memory_mib else None
    if g.kind == "whole":
        return 1.0
    return None


def _holder(p: PodRec, share: float | None) -> Holder:
    going = p.terminating
    return Holder(p.namespace, p.name, p.workload[2] if p.workload else None, share, going,
                  p.deleting_since if going else None)


def _free(shares: list[float | None]) -> float | None:
    if any(s is None for s in shares):
        return None
    return max(0.0, round(1.0 - math.fsum(s for s in shares if s is not None), 6))


def node_rows(name: str, node: NodeRec | None, reservations: list[tuple[PodRec, list[PodRec]]],
              unplaced: dict[str, list[PodRec]], wholes: list[PodRec], fit: PendingFit) -> list[GpuRow]:
    """A node's GPU rows: reserved (shared) GPUs first, then shared GPUs whose reservation is not seen,
    then whole-GPU pods in name order, then free GPUs up to the node's GPU count."""
    model = node.gpu_product if node else None
    mem = node.gpu_memory_mib if node else None
    mig = bool(node and node.mig_capacity)
    rows: list[GpuRow] = []

    def add(uuid: str | None, holders: list[PodRec], use: str, reservation: str | None) -> None:
        if use == WHOLE:
            hs = tuple(_holder(p, 1.0) for p in holders)
            free: float | None = 0.0
        else:
            ordered = sorted(holders, key=lambda p: (p.namespace, p.name))
            shares = [_share(p, mem) for p in ordered]
            hs = tuple(_holder(p, s) for p, s in zip(ordered, shares))
            free = None if mig and use == FREE else _free(shares)
        frag = bool(fit.any_pending and free is not None and EPS < free < 1 - EPS and not fit.fits(free, mem))
        index = None
        if uuid is not None and uuid.isdigit():   # `run.ai/reserve_for_gpu_index` holding an index, not a UUID
            index, uuid = int(uuid), None
        rows.append(GpuRow(name, len(rows), uuid, model, mem, hs, free, use, uuid is not None, reservation,
                           frag, mig, index))

    for r, holders in sorted(reservations, key=lambda rh: (rh[0].reserved_uuid is None,
                                                           rh[0].reserved_uuid or "", rh[0].name)):
        add(r.reserved_uuid, holders, SHARED, r.name)
    for group in sorted(unplaced):
        add(None, unplaced[group], SHARED, None)
    for p in sorted(wholes, key=lambda p: (p.namespace, p.name)):
        for _ in range(max(1, p.gpu.count)):
            add(None, [p], WHOLE, None)
    capacity = node.gpu_count if node and node.gpu_count is not None else 0
    while len(rows) < capacity:
        add(None, [], FREE, None)
    return rows


def _is_whole_holder(p: PodRec) -> bool:
    return p.bound and not p.reservation and p.gpu.kind == "whole"


def _is_shared_holder(p: PodRec) -> bool:
    return p.bound and not p.reservation and p.gpu.shared


def _is_reservation(p: PodRec) -> bool:
    return p.bound and p.reservation


class GpusView:
    """GPU rows per node, recomputed for dirty nodes (and for slivers when waiting requests change)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], GpuRow] = {}
        self.count: dict[str, int] = {}
        self.partial_nodes: set[str] = set()
        self.terminating: set[tuple[str, int]] = set()  # rows with a holder being deleted
        self.fit = PendingFit()
        self._totals = [0] * len(_FIELDS)   # summary() of every row, kept as rows change

    def _count(self, row: GpuRow, sign: int) -> None:
        t = self._totals
        for i, v in enumerate(_parts(row)):
            t[i] += sign * v

    def summary(self) -> dict[str, float | int]:
        """The cluster totals (`summary()` of every row) without walking the rows."""
        return _as_summary(self._totals)

    def refresh(self, store: StoreReads, dirty: set[str]
                ) -> tuple[dict[tuple[str, int], GpuRow], set[tuple[str, int]]]:
        fit = pending_fit(store.pending_shapes)
        if fit != self.fit:
            self.fit = fit
            dirty = dirty | self.partial_nodes
        changed: dict[tuple[str, int], GpuRow] = {}
        removed: set[tuple[str, int]] = set()
        for name in dirty:
            rows = self._compute(store, name, fit)
            before = self.count.get(name, 0)
            for row in rows:
                old = self.rows.get(row.key)
                if old != row:
                    if old is not None:
                        self._count(old, -1)
                    self._count(row, 1)
                    self.rows[row.key] = row
                    changed[row.key] = row
                    if any(h.terminating for h in row.holders):
                        self.terminating.add(row.key)
                    else:
                        self.terminating.discard(row.key)
            for i in range(len(rows), before):
                self._count(self.rows.pop((name, i)), -1)
                removed.add((name, i))
                self.terminating.discard((name, i))
            if rows:
                self.count[name] = len(rows)
            else:
                self.count.pop(name, None)
            if any(r.free_share is not None and EPS < r.free_share < 1 - EPS for r in rows):
                self.partial_nodes.add(name)
            else:
                self.partial_nodes.discard(name)
        return changed, removed

    @staticmethod
    def _compute(store: StoreReads, name: str, fit: PendingFit) -> list[GpuRow]:
        on_node = store.pods_of(store.pods_by_node.get(name, ()))
        reservations = []
        for r in on_node:
            if _is_reservation(r):
                holders = [f for g in r.gpu_groups[:1]
                           for f in store.pods_of(store.fractions_by_group.get(g, ())) if _is_shared_holder(f)]
                reservations.append((r, holders))
        unplaced: dict[str, list[PodRec]] = defaultdict(list)
        for p in on_node:
            if _is_shared_holder(p):
                for g in p.gpu_groups or ("",):
                    if not any(_is_reservation(r) for r in store.pods_of(store.reservations_by_group.get(g, ()))):
                        unplaced[g].append(p)
        wholes = [p for p in on_node if _is_whole_holder(p)]
        return node_rows(name, store.nodes.get(name), reservations, unplaced, wholes, fit)


def compute_all(store: StoreReads) -> dict[tuple[str, int], GpuRow]:
    """Every GPU row from the records alone (fresh owner walks for holder workloads): the oracle."""
    by_uid = {r.uid: r for r in store.owners.values() if r.uid}
    pods = [store.resolved_copy(p, by_uid) for p in store.pods.values()]
    fit = pending_fit(s for p in pods if (s := pending_shape(p)) is not None)
    res_by_node: dict[str, list[PodRec]] = defaultdict(list)
    reserved_groups: set[str] = set()
    shared_by_group: dict[str, list[PodRec]] = defaultdict(list)
    shared_by_node: dict[str, list[PodRec]] = defaultdict(list)
    wholes: dict[str, list[PodRec]] = defaultdict(list)
    for p in pods:
        if _is_reservation(p):
            res_by_node[p.node].append(p)
            reserved_groups.update(p.gpu_groups)
        elif _is_shared_holder(p):
            shared_by_node[p.node].append(p)
            for g in p.gpu_groups:
                shared_by_group[g].append(p)
        elif _is_whole_holder(p):
            wholes[p.node].append(p)
    out: dict[tuple[str, int], GpuRow] = {}
    for name in set(store.nodes) | {p.node for p in pods if p.node}:
        reservations = [(r, list(shared_by_group.get(r.gpu_groups[0], ())) if r.gpu_groups else [])
                        for r in res_by_node.get(name, ())]
        unplaced: dict[str, list[PodRec]] = defaultdict(list)
        for p in shared_by_node.get(name, ()):
            for g in p.gpu_groups or ("",):
                if g not in reserved_groups or g == "":
                    unplaced[g].append(p)
        for row in node_rows(name, store.nodes.get(name), reservations, unplaced, wholes.get(name, []), fit):
            out[row.key] = row
    return out


# Cluster totals are kept in millionths of a GPU, as integers: the view adds and takes away each row's
# part as rows change, and the running sums stay equal to a sum over every row (floats would drift).
MICRO = 1_000_000
_FIELDS = ("gpus", "in_use", "free", "fragmented", "slivers", "allocated", "terminating")


def _micro(x: float) -> int:
    return int(round(x * MICRO))


def _parts(r: GpuRow) -> tuple[int, int, int, int, int, int, int]:
    """One GPU row's part of the totals: (1, in use, free, stranded, sliver, allocated, held by terminating)."""
    in_use = 1 if r.holders else 0
    going = sum(_micro(h.share or 0.0) for h in r.holders if h.terminating)
    if r.free_share is None:  # shares not knowable (MIG): only the known ones count as allocated
        held = sum(_micro(h.share) for h in r.holders if h.share is not None)
        return (1, in_use, 0, 0, 0, min(MICRO, held), going)
    free = _micro(r.free_share)
    return (1, in_use, free, free if r.fragmented else 0, free if in_use and free > 0 else 0, MICRO - free,
            going)


def _as_summary(t: list[int] | tuple[int, ...]) -> dict[str, float | int]:
    gpus, in_use, free, frag, slivers, alloc, going = t
    return {"gpus": gpus, "free_share": round(free / MICRO, 6), "fragmented_share": round(frag / MICRO, 6),
            "allocated_share": round(alloc / MICRO, 6), "in_use": in_use, "sliver_share": round(slivers / MICRO, 6),
            "terminating_share": round(going / MICRO, 6)}


def summary(rows: Iterable[GpuRow]) -> dict[str, float | int]:
    """Cluster GPU totals, the same for the header, the GPUs pane and `gpuconsole snapshot`.

    gpus: GPU rows (each node's capacity, more where pods hold more); allocated_share: the shares held,
    summed (a GPU counts at most 1); in_use: GPUs with any holder; free_share: what is free, summed;
    sliver_share: the free part of GPUs in use (fractions left over); fragmented_share: the slivers no
    waiting request fits; terminating_share: the shares still held by pods being deleted (free once their
    grace periods end). A GPU whose shares cannot be known (MIG) adds its known shares only.
    `GpusView.summary()` is the same, kept up to date as rows change.
    """
    t = [0] * len(_FIELDS)
    for r in rows:
        for i, v in enumerate(_parts(r)):
            t[i] += v
    return _as_summary(t)
