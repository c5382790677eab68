"""The one sampler interface and the records it yields.

Every GPU source (local NVML, cluster dcgm-exporter, their fakes) returns the same `Snapshot`, so the
model and the UI never care where a value came from. Failures are data, not exceptions: a missing
value is None, a lost GPU is `lost=True`, a node whose exporter is down carries `error`, and a source
that cannot work at all (no driver) says why in `Snapshot.error`. Only programming errors raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .health import GpuHealth

# How a pod was tied to a GPU: the exporter's pod labels, the reservation pod's `runai-gpu-group`
# partners, or a local process whose cgroup names the pod.
VIA_EXPORTER, VIA_GPU_GROUP, VIA_CGROUP = "exporter", "runai-gpu-group", "cgroup"


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str
    name: str
    container: str = ""
    via: str = VIA_EXPORTER
    uid: str = ""                              # set when known (cgroup-mapped pods are known only by it)


@dataclass(frozen=True, slots=True)
class ProcSample:
    """A process on a local GPU (NVML only): memory it holds, SM share, and its pod when known."""

    pid: int
    used_mem_mib: float | None
    sm_pct: float | None
    mem_pct: float | None
    pod_uid: str | None
    gpu_instance_id: int | None = None
    name: str | None = None                    # the process's name, as NVML reports it


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU, or one MIG instance (then `parent_uuid` is the physical GPU and `gi_id` its instance)."""

    node: str
    index: int | None
    uuid: str | None
    model: str | None = None
    gi_id: int | None = None
    mig_profile: str | None = None
    parent_uuid: str | None = None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_free_mib: float | None = None
    mem_reserved_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    last_xid: int | None = None
    sm_clock_mhz: float | None = None
    health: GpuHealth | None = None            # XID, throttle reasons, ECC, row remapping (None: not reported)
    lost: bool = False
    error: str | None = None
    pods: tuple[PodRef, ...] = ()              # who uses it (fraction pods replace their reservation pod)
    reservation: PodRef | None = None          # the reservation pod the exporter saw on a shared GPU
    procs: tuple[ProcSample, ...] = ()

    @property
    def key(self) -> tuple[str, str | None, int | None]:
        """Node, UUID and MIG instance: stable across ticks (the index may change across reboots)."""
        return (self.node, self.uuid, self.gi_id)

    @property
    def is_mig(self) -> bool:
        return self.gi_id is not None


@dataclass(frozen=True, slots=True)
class NodeGpus:
    """One node's GPUs from one scrape; `error` says why they are missing or incomplete."""

    node: str
    gpus: tuple[GpuSample, ...] = ()
    error: str | None = None
    source: str = ""                           # e.g. the exporter pod, or "nvml"
    bad_lines: int = 0                         # exporter lines skipped as unparseable


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one tick of a sampler saw. `taken_at` is the sampler's clock (seconds)."""

    source: str                                # "nvml" | "dcgm-exporter" | a fake's name
    taken_at: float
    nodes: dict[str, NodeGpus] = field(default_factory=dict)
    error: str | None = None                   # the whole source is unusable: why (shown in the header)

    def gpus(self) -> list[GpuSample]:
        return [g for n in self.nodes.values() for g in n.gpus]

    @property
    def failing_nodes(self) -> list[str]:
        return sorted(n for n, ng in self.nodes.items() if ng.error)


@runtime_checkable
class Sampler(Protocol):
    """A GPU telemetry source. `sample()` never raises for a GPU or node fault: see `Snapshot`."""

    name: str

    @property
    def interval_s(self) -> float:
        """How often sampling is worth it: calling `sample()` sooner returns the previous snapshot."""

    async def sample(self) -> Snapshot: ...

    async def close(self) -> None: ...


def state_line(snap: Snapshot | None) -> str:
    """A short sampler state for the header: ok, unavailable (why), or which nodes fail."""
    if snap is None:
        return "starting"
    if snap.error:
        return snap.error
    failing = snap.failing_nodes
    n = len(snap.nodes)
    gpus = sum(len(ng.gpus) for ng in snap.nodes.values())
    lost = sum(1 for g in snap.gpus() if g.lost)
    parts = [f"{snap.source}: {gpus} GPUs on {n - len(failing)}/{n} nodes"]
    if failing:
        shown = ", ".join(failing[:3]) + (f" +{len(failing) - 3}" if len(failing) > 3 else "")
        parts.append(f"failing: {shown}")
    if lost:
        parts.append(f"{lost} lost")
    return "; ".join(parts)
