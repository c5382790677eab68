"""Telemetry joined to the GPU map: one `GpuTelemetry` per model GPU row, plus history and idleness.

The model's GPU rows know a device's UUID only for shared GPUs (the reservation pod's annotation);
whole-GPU rows are known by their holder pod, free rows by nothing. So samples are matched per node
in three passes: by UUID, then by holder pod (the exporter's pod labels, a reservation's sharing pods,
or a local process's pod UID), then free rows take the remaining unclaimed GPUs in index order. A row
nothing matches has no telemetry rather than a guess. MIG instances are folded into their physical
GPU's row (memory summed, utilisation averaged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.telemetry.health import GpuHealth, merge
from console.telemetry.history import History, sample_key
from console.telemetry.idle import IdlePolicy, IdleTracker
from console.telemetry.sampler import VIA_GPU_GROUP, GpuSample, PodRef, Snapshot, state_line

from .views_gpus import FREE, GpuRow

if TYPE_CHECKING:
    from .cluster_store import ClusterStore

RowKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GpuTelemetry:
    """What the GPU pane shows beside a row: live values, idleness, and why values are missing."""

    key: RowKey
    sample_key: tuple | None           # history key (None: no sample matched this row)
    uuid: str | None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    last_xid: int | None = None
    idle_for_s: float | None = None
    idle: bool = False                 # allocated and idle for at least the policy's hold time
    lost: bool = False
    error: str | None = None
    taken_at: float | None = None
    index: int | None = None           # the device index the source reports (dcgm `gpu` label, NVML index)
    sm_clock_mhz: float | None = None
    health: GpuHealth | None = None    # None: the source reports no health field for this GPU

    @property
    def problems(self) -> list[str]:
        """What is wrong with the GPU, worst first (`lost` before anything its health says)."""
        out = ["lost"] if self.lost else []
        if self.health is not None:
            out += self.health.problems()
        return out


def fold_mig(samples: list[GpuSample]) -> GpuSample:
    """MIG instances of one GPU as one physical sample (the model has one row per physical GPU)."""
    first = samples[0]

    def total(f: str) -> float | None:
        vals = [getattr(s, f) for s in samples if getattr(s, f) is not None]
        return sum(vals) if vals else None

    def peak(f: str) -> float | None:
        vals = [getattr(s, f) for s in samples if getattr(s, f) is not None]
        return max(vals) if vals else None

    utils = [s.util_pct for s in samples if s.util_pct is not None]
    pods: list[PodRef] = []
    for s in samples:
        pods.extend(p for p in s.pods if p not in pods)
    return dataclasses.replace(
        first, uuid=first.parent_uuid or first.uuid, gi_id=None, mig_profile=None, parent_uuid=None,
        util_pct=sum(utils) / len(utils) if utils else None, mem_used_mib=total("mem_used_mib"),
        mem_free_mib=total("mem_free_mib"), mem_total_mib=total("mem_total_mib"), temp_c=peak("temp_c"),
        power_w=peak("power_w"), lost=any(s.lost for s in samples), sm_clock_mhz=peak("sm_clock_mhz"),
        health=merge(s.health for s in samples),
        error=next((s.error for s in samples if s.error), None), pods=tuple(pods), procs=())


def physical(samples: Iterable[GpuSample]) -> list[GpuSample]:
    """One sample per physical GPU: whole GPUs as they are, MIG instances folded per parent."""
    out: list[GpuSample] = []
    migs: dict[str, list[GpuSample]] = {}
    parents: dict[str, GpuSample] = {}
    for s in samples:
        if s.gi_id is not None and (s.parent_uuid or s.uuid):
            migs.setdefault(s.parent_uuid or s.uuid or "", []).append(s)
        else:
            out.append(s)
            if s.uuid:
                parents[s.uuid] = s
    for parent_uuid, group in migs.items():
        folded = fold_mig(group)
        p = parents.get(parent_uuid)
        if p is not None:   # NVML gives the parent too: keep its temperature and power
            out[out.index(p)] = dataclasses.replace(
                folded, temp_c=p.temp_c, power_w=p.power_w, power_limit_w=p.power_limit_w,
                util_pct=p.util_pct if p.util_pct is not None else folded.util_pct,
                sm_clock_mhz=p.sm_clock_mhz, health=p.health if p.health is not None else folded.health,
                last_xid=p.last_xid)
        else:
            out.append(folded)
    return out


def _holders_of(s: GpuSample, name_of_uid: Callable[[str], tuple[str, str] | None]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for p in s.pods:
        if p.name:
            out.add((p.namespace, p.name))
        elif p.uid:
            hit = name_of_uid(p.uid)
            if hit:
                out.add(hit)
    if s.reservation is not None:
        out.add((s.reservation.namespace, s.reservation.name))
    return out


def match_rows(snap: Snapshot, rows: Mapping[RowKey, GpuRow],
               name_of_uid: Callable[[str], tuple[str, str] | None] = lambda uid: None
               ) -> dict[RowKey, GpuSample]:
    """Which sample belongs to which model row (see the module docstring for the passes)."""
    by_node: dict[str, list[GpuRow]] = {}
    for r in rows.values():
        by_node.setdefault(r.node, []).append(r)
    out: dict[RowKey, GpuSample] = {}
    for node, ng in snap.nodes.items():
        node_rows = sorted(by_node.get(node, ()), key=lambda r: r.slot)
        if not node_rows or not ng.gpus:
            continue
        samples = sorted(physical(ng.gpus), key=lambda s: (s.index is None, s.index or 0, s.uuid or ""))
        left = list(samples)
        by_uuid = {s.uuid: s for s in samples if s.uuid}
        pending: list[GpuRow] = []
        for r in node_rows:                                     # 1. the API names the device
            s = by_uuid.get(r.uuid) if r.uuid else None
            if s is not None and s in left:
                out[r.key] = s
                left.remove(s)
            else:
                pending.append(r)
        holders = {id(s): _holders_of(s, name_of_uid) for s in left}
        free_rows: list[GpuRow] = []
        for r in pending:                                       # 2. the same pod holds both
            want = {(h.namespace, h.pod) for h in r.holders}
            hit = next((s for s in left if want & holders[id(s)]
                        or (r.reservation_pod and s.reservation and s.reservation.name == r.reservation_pod)),
                       None)
            if hit is not None:
                out[r.key] = hit
                left.remove(hit)
            elif r.use == FREE and not r.holders:
                free_rows.append(r)
        unclaimed = [s for s in left if not holders[id(s)]]     # 3. free rows take free GPUs
        for r, s in zip(free_rows, unclaimed):
            out[r.key] = s
    return out


class StoreGroupIndex:
    """`GroupIndex` for the dcgm sampler, read live from the cluster model's pod indexes."""

    def __init__(self, store: ClusterStore) -> None:
        self.store = store

    def consumers(self, namespace: str, pod: str) -> tuple[PodRef, ...] | None:
        r = self.store.pods.get((namespace, pod))
        if r is None or not r.reservation:
            return None
        out: list[PodRef] = []
        for g in r.gpu_groups:
            for key in sorted(self.store.fractions_by_group.get(g, ())):
                p = self.store.pods.get(key)
                if p is not None and p.bound:
                    ref = PodRef(p.namespace, p.name, p.gpu.container or "", VIA_GPU_GROUP, p.uid)
                    if ref not in out:
                        out.append(ref)
        return tuple(out)


def uid_index(store: ClusterStore) -> Callable[[str], tuple[str, str] | None]:
    """Pod UID → (namespace, name), for processes known by their cgroup's pod UID."""
    by_uid = {p.uid: p.key for p in store.pods.values() if p.uid}
    return by_uid.get


class TelemetryView:
    """Ingests snapshots; keeps history, idle clocks and one GpuTelemetry per model GPU row."""

    def __init__(self, policy: IdlePolicy | None = None, window_s: float = 600.0, step_s: float = 30.0) -> None:
        self.history = History(window_s, step_s)
        self.idle = IdleTracker(policy)
        self.rows: dict[RowKey, GpuTelemetry] = {}
        self.state = "starting"
        self.last: Snapshot | None = None

    def ingest(self, snap: Snapshot, rows: Mapping[RowKey, GpuRow],
               name_of_uid: Callable[[str], tuple[str, str] | None] = lambda uid: None
               ) -> tuple[dict[RowKey, GpuTelemetry], set[RowKey]]:
        """Join a snapshot to the rows; returns the rows whose telemetry changed and those removed."""
        self.last = snap
        self.state = state_line(snap)
        self.history.add(snap)
        matched = match_rows(snap, rows, name_of_uid)
        new: dict[RowKey, GpuTelemetry] = {}
        seen_keys: set = set()
        t = snap.taken_at
        for key, row in rows.items():
            s = matched.get(key)
            holders = tuple(sorted((h.namespace, h.pod) for h in row.holders))
            ng = snap.nodes.get(row.node)
            node_error = ng.error if ng is not None else None
            if s is None:
                idle_key = ("row",) + key
                seen_keys.add(idle_key)
                idle_for = self.idle.update(idle_key, t, None, holders)
                err = node_error or snap.error or (None if ng is None else "no matching GPU in the exporter's data")
                new[key] = GpuTelemetry(key, None, row.uuid, idle_for_s=idle_for,
                                        idle=self.idle.is_idle(idle_for), error=err, taken_at=t)
                continue
            sk = sample_key(s)
            seen_keys.add(sk)
            idle_for = self.idle.update(sk, t, None if s.lost else s.util_pct, holders)
            new[key] = GpuTelemetry(
                key, sk, s.uuid, s.util_pct, s.mem_used_mib, s.mem_total_mib, s.temp_c, s.power_w,
                s.power_limit_w, s.last_xid, idle_for, self.idle.is_idle(idle_for), s.lost,
                s.error or node_error, t, s.index, s.sm_clock_mhz, s.health)
        self.idle.forget_except(seen_keys)
        changed = {k: v for k, v in new.items() if self.rows.get(k) != v}
        removed = set(self.rows) - set(new)
        self.rows = new
        return changed, removed

    def idle_rows(self) -> list[GpuTelemetry]:
        """Idle-allocated GPUs, longest idle first (the UI's jump list)."""
        return idle_rows(self.rows)


def idle_rows(rows: Mapping[RowKey, GpuTelemetry]) -> list[GpuTelemetry]:
    """Idle-allocated GPUs, longest idle first."""
    return sorted((r for r in rows.values() if r.idle), key=lambda r: (-(r.idle_for_s or 0), r.key))


def idle_by_workload(rows: Mapping[RowKey, GpuRow], telemetry: Mapping[RowKey, GpuTelemetry]
                     ) -> dict[tuple[str, str], int]:
    """Idle-allocated GPUs per workload (namespace, top owner name); a shared GPU counts for each."""
    out: dict[tuple[str, str], int] = {}
    for key, tel in telemetry.items():
        row = rows.get(key)
        if not tel.idle or row is None:
            continue
        for w in {(h.namespace, h.workload or h.pod) for h in row.holders}:
            out[w] = out.get(w, 0) + 1
    return out


def idle_by_project(store: ClusterStore, rows: Mapping[RowKey, GpuRow],
                    telemetry: Mapping[RowKey, GpuTelemetry]) -> dict[str, int]:
    """Idle-allocated GPUs per project (queue) of the pods holding them."""
    out: dict[str, int] = {}
    for key, tel in telemetry.items():
        row = rows.get(key)
        if not tel.idle or row is None:
            continue
        projects = {p.queue for h in row.holders if (p := store.pods.get((h.namespace, h.pod))) and p.queue}
        for q in projects:
            out[q] = out.get(q, 0) + 1
    return out


def health_dict(tel: GpuTelemetry | None) -> dict[str, object] | None:
    """A GPU's `health` object in `gpuconsole snapshot`: {ok, xid_last, throttle[], ecc_uncorrected,
    row_remap_failed, nvlink_errors}; None when no source reported any health field for it."""
    if tel is None or (tel.health is None and not tel.lost):
        return None
    out = (tel.health or GpuHealth()).to_dict()
    if tel.lost:
        out["ok"] = False
        out["lost"] = True
    return out


def snapshot_fields(tel: GpuTelemetry | None) -> dict[str, object]:
    """The per-GPU keys `gpuconsole snapshot` adds: util_pct, mem_used_mib, temp_c, power_w, idle_for_s,
    health."""
    if tel is None:
        return {"util_pct": None, "mem_used_mib": None, "temp_c": None, "power_w": None, "idle_for_s": None,
                "health": None}
    return {"util_pct": tel.util_pct, "mem_used_mib": tel.mem_used_mib, "temp_c": tel.temp_c,
            "power_w": None if tel.power_w is None else round(tel.power_w, 3), "idle_for_s": tel.idle_for_s,
            "health": health_dict(tel)}


def unhealthy(rows: Iterable[GpuTelemetry]) -> list[GpuTelemetry]:
    """The rows with something wrong (lost, an XID, throttling, ECC, row remapping, NVLink)."""
    return [t for t in rows if t.problems]
