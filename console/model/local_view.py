"""This machine's GPUs (an NVML snapshot) joined to the cluster: each process's pod, namespace and workload.

A process is tied to its pod by the pod UID in its cgroup (done by the sampler); here the UID becomes a
pod of the cluster model, looked up among the pods bound to this host's node (the only ones that can
run here), or among all pods while the host's node is not known. A process outside any pod is a
`host process`; one in a pod the model does not hold (no cluster, or not synced yet) keeps its UID.

Which node this machine is: the node named like the host (`NODE_NAME`, the hostname or its short form),
else the node whose GPUs carry the UUIDs NVML reports (shared GPUs' reservation annotations, or the
dcgm-exporter scrape), else the node running the processes' pods.

Everything here is immutable once built (`LocalView` and what it holds): the view is handed to the UI
by swapping one reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from console.telemetry.health import GpuHealth
from console.telemetry.sampler import GpuSample, NodeGpus, ProcSample, Snapshot

from .telemetry_view import match_rows

if TYPE_CHECKING:
    from .cluster_store import ClusterStore

HOST_PROCESS = "host process"
RowKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LocalProc:
    """A process on one of this machine's GPUs, and the pod it runs in when it runs in one."""

    pid: int
    name: str | None
    used_mib: float | None
    sm_pct: float | None
    mem_pct: float | None
    gi_id: int | None
    pod_uid: str | None
    namespace: str | None = None
    pod: str | None = None
    workload: str | None = None
    project: str | None = None

    @property
    def owner(self) -> str:
        """`namespace/pod`, `host process`, or the pod UID the model does not know."""
        if self.pod:
            return f"{self.namespace}/{self.pod}"
        if self.pod_uid:
            return f"pod {self.pod_uid[:8]}… (not in the cluster model)"
        return HOST_PROCESS

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "name": self.name, "used_mib": _round(self.used_mib),
                "util_pct": self.sm_pct, "namespace": self.namespace, "pod": self.pod,
                "workload": self.workload, "project": self.project, "pod_uid": self.pod_uid,
                "gpu_instance": self.gi_id}


@dataclass(frozen=True, slots=True)
class LocalGpu:
    """One GPU (or MIG instance) of this machine, with its processes and recent utilisation."""

    index: int | None
    uuid: str | None
    name: str | None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    health: GpuHealth | None = None
    lost: bool = False
    error: str | None = None
    mig_profile: str | None = None
    gi_id: int | None = None
    procs: tuple[LocalProc, ...] = ()
    instances: tuple["LocalGpu", ...] = ()      # MIG instances of a physical GPU
    row: RowKey | None = None                   # the cluster model's GPU row for this device
    spark: tuple[float | None, ...] = ()        # recent utilisation, oldest first

    @property
    def problems(self) -> list[str]:
        out = ["lost"] if self.lost else []
        if self.health is not None:
            out += self.health.problems()
        return out

    def to_dict(self) -> dict[str, object]:
        h = self.health or GpuHealth()
        out: dict[str, object] = {
            "index": self.index, "uuid": self.uuid, "name": self.name, "util_pct": self.util_pct,
            "mem_used_mib": _round(self.mem_used_mib), "mem_total_mib": _round(self.mem_total_mib),
            "temp_c": self.temp_c, "power_w": _round(self.power_w, 3), "power_limit_w": self.power_limit_w,
            "sm_clock_mhz": self.sm_clock_mhz, "throttle": list(h.throttle), "xid_last": h.xid,
            "ecc_uncorrected": h.ecc_uncorrected, "row_remap_failed": h.row_remap_failed,
            "health": {"ok": not self.problems, "problems": self.problems}, "lost": self.lost,
            "error": self.error, "processes": [p.to_dict() for p in self.procs]}
        if self.instances:
            out["mig_instances"] = [{"gpu_instance": i.gi_id, "profile": i.mig_profile, "uuid": i.uuid,
                                     "mem_used_mib": _round(i.mem_used_mib), "mem_total_mib": _round(i.mem_total_mib),
                                     "processes": [p.pid for p in i.procs]} for i in self.instances]
        return out


@dataclass(frozen=True, slots=True)
class LocalView:
    """What the Local pane and `snapshot --view local` show. `by_row` maps cluster GPU rows to GPUs."""

    available: bool
    reason: str | None
    host: str
    node: str | None = None
    source: str = "nvml"
    driver: str | None = None
    note: str | None = None
    taken_at: float = 0.0
    gpus: tuple[LocalGpu, ...] = ()
    by_row: Mapping[RowKey, LocalGpu] = field(default_factory=dict)   # never mutated after build

    def to_dict(self) -> dict[str, object]:
        """The `local` object of `gpuconsole snapshot --view local`."""
        return {"available": self.available, "reason": self.reason, "host": self.host, "node": self.node,
                "source": self.source, "driver": self.driver, "note": self.note,
                "gpus": [g.to_dict() for g in self.gpus]}


def _round(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


def unavailable(host: str, reason: str, source: str = "nvml") -> LocalView:
    return LocalView(False, reason, host, source=source)


# ------------------------------------------------------------------------------------------ which node
def host_node(store: ClusterStore | None, names: Iterable[str], uuids: Iterable[str],
              pod_uids: Iterable[str] = (), dcgm: Snapshot | None = None) -> str | None:
    """The cluster node this machine is (see the module docstring); None when nothing says."""
    if store is None:
        return None
    for n in names:
        if not n:
            continue
        if n in store.nodes:
            return n
        short = n.split(".", 1)[0]
        hit = next((node for node in store.nodes if node == short or node.split(".", 1)[0] == short), None)
        if hit is not None:
            return hit
    want = {u for u in uuids if u}
    if want:
        for r in store.gpus.rows.values():
            if r.uuid in want:
                return r.node
        if dcgm is not None:
            for node, ng in dcgm.nodes.items():
                if any(g.uuid in want or g.parent_uuid in want for g in ng.gpus):
                    return node
    uids = set(pod_uids)
    if uids:
        for p in store.pods.values():
            if p.uid in uids and p.node:
                return p.node
    return None


def _pods_by_uid(store: ClusterStore, node: str | None) -> dict[str, tuple[str, str]]:
    keys = store.pods_by_node.get(node, ()) if node else store.pods.keys()
    out: dict[str, tuple[str, str]] = {}
    for k in tuple(keys):
        p = store.pods.get(k)
        if p is not None and p.uid:
            out[p.uid] = k
    return out


# ------------------------------------------------------------------------------------------ the join
def build(snap: Snapshot, *, host: str, store: ClusterStore | None = None, node: str | None = None,
          driver: str | None = None, source: str = "nvml", note: str | None = None,
          sparks: Mapping[str, tuple[float | None, ...]] | None = None, dcgm: Snapshot | None = None) -> LocalView:
    """One NVML snapshot as a LocalView; `node` is the cluster node when already known (else found)."""
    if snap.error:
        return LocalView(False, snap.error, host, source=source, note=note, taken_at=snap.taken_at)
    samples = [g for ng in snap.nodes.values() for g in ng.gpus]
    node_error = next((ng.error for ng in snap.nodes.values() if ng.error), None)
    if node_error and not samples:
        return LocalView(False, node_error, host, source=source, note=note, taken_at=snap.taken_at)
    uids = {p.pod_uid for g in samples for p in g.procs if p.pod_uid}
    if node is None or store is None or node not in store.nodes:
        node = host_node(store, [host], [g.uuid or "" for g in samples], uids, dcgm)
    by_uid = _pods_by_uid(store, node) if store is not None and uids else {}
    if store is not None and uids - set(by_uid) and node is not None:
        by_uid.update(_pods_by_uid(store, None))   # a pod the node index has not caught up with yet

    def proc(p: ProcSample) -> LocalProc:
        key = by_uid.get(p.pod_uid) if p.pod_uid else None
        rec = store.pods.get(key) if store is not None and key is not None else None
        if rec is None:
            return LocalProc(p.pid, p.name, p.used_mem_mib, p.sm_pct, p.mem_pct, p.gpu_instance_id, p.pod_uid)
        return LocalProc(p.pid, p.name, p.used_mem_mib, p.sm_pct, p.mem_pct, p.gpu_instance_id, p.pod_uid,
                         rec.namespace, rec.name, rec.workload[2] if rec.workload else rec.name, rec.queue)

    rows: dict[str, RowKey] = {}
    if store is not None and node is not None:
        node_rows = {k: r for k, r in store.gpus.rows.items() if r.node == node}
        as_node = Snapshot(snap.source, snap.taken_at,
                           {node: NodeGpus(node, tuple(_renode(g, node) for g in samples))})
        for key, s in match_rows(as_node, node_rows, by_uid.get).items():
            if s.uuid:
                rows[s.uuid] = key

    parents = [g for g in samples if g.gi_id is None]
    children: dict[str, list[GpuSample]] = {}
    for g in samples:
        if g.gi_id is not None:
            children.setdefault(g.parent_uuid or "", []).append(g)
    gpus: list[LocalGpu] = []
    for g in sorted(parents, key=lambda g: (g.index is None, g.index or 0, g.uuid or "")):
        kids = sorted(children.get(g.uuid or "", ()), key=lambda c: c.gi_id or 0)
        insts = tuple(LocalGpu(c.index, c.uuid, c.model, c.util_pct, c.mem_used_mib, c.mem_total_mib,
                               error=c.error, mig_profile=c.mig_profile, gi_id=c.gi_id,
                               procs=tuple(proc(p) for p in c.procs)) for c in kids)
        procs = {p.pid: proc(p) for p in g.procs}
        for inst in insts:                       # processes seen only through their MIG instance
            for p in inst.procs:
                procs.setdefault(p.pid, p)
        gpus.append(LocalGpu(
            g.index, g.uuid, g.model, g.util_pct, g.mem_used_mib, g.mem_total_mib, g.temp_c, g.power_w,
            g.power_limit_w, g.sm_clock_mhz, g.health, g.lost, g.error, None, None,
            tuple(sorted(procs.values(), key=lambda p: p.pid)), insts, rows.get(g.uuid or ""),
            (sparks or {}).get(g.uuid or "", ())))
    if store is not None and node is None and note is None:
        note = "this machine is not a node of the connected cluster (no node by its name or GPU UUIDs)"
    by_row = {g.row: g for g in gpus if g.row is not None}
    return LocalView(True, None, host, node, source, driver, note, snap.taken_at, tuple(gpus), by_row)


def _renode(g: GpuSample, node: str) -> GpuSample:
    """A sample under the cluster's name for this node (NVML knows the host by its hostname)."""
    return g if g.node == node else replace(g, node=node)
