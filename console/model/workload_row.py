"""A workload row and what every view counts it by: its type, its status words, its GPU amounts.

Shared by the workloads view (which builds the rows) and the projects view (which sums them), so
neither reaches into the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .podspec import GpuRequest
from .records import PodRec


class NodeMemory(Protocol):
    """Where a `gpu-memory` request learns the size of its node's GPUs."""

    def node_memory(self, node: str) -> int | None: ...

INFERENCE, TRAINING, BUILD, INTERACTIVE = "inference", "training", "build", "interactive"
SYSTEM = "system"  # cluster services (DaemonSets, system-* priority classes): shown, never counted as work

BUILD_CLASSES = frozenset({"build", "build-preemptible"})
INTERACTIVE_CLASSES = frozenset({"interactive", "interactive-preemptible"})
INFERENCE_KINDS = frozenset({"Deployment", "Service", "InferenceWorkload", "Revision", "Configuration",
                             "LeaderWorkerSet"})
TRAINING_KINDS = frozenset({"Job", "CronJob", "PyTorchJob", "MPIJob", "JobSet", "RunaiJob", "TrainingWorkload",
                            "DistributedWorkload"})
RUNAI_WORKLOAD_KINDS = {"TrainingWorkload": TRAINING, "DistributedWorkload": TRAINING,
                        "InferenceWorkload": INFERENCE, "DistributedInferenceWorkload": INFERENCE,
                        "InteractiveWorkload": INTERACTIVE}

RUNNING, PENDING, PARTIAL, COMPLETED, FAILED = "Running", "Pending", "Partially running", "Completed", "Failed"
SCALED_TO_ZERO, UNKNOWN = "Scaled to zero", "Unknown"
TERMINATING = "Terminating"  # every pod left is being deleted (kubectl's STATUS for such pods)


@dataclass(frozen=True, slots=True)
class RevisionRow:
    name: str
    percent: int | None          # share of the traffic the route sends it; None when not routed
    desired: int | None
    actual: int | None


@dataclass(frozen=True, slots=True)
class AutoscalingRow:
    source: str                  # knative | kserve | hpa | runai
    min: int | None
    max: int | None              # None: unlimited, or unreadable (then see problems)
    metric: str | None
    target: float | None
    desired: int | None          # the autoscaler's latest decision; None until it reports one
    current: int                 # replicas ready now
    scaled_to_zero: bool
    problems: tuple[str, ...] = ()

    @property
    def at_max(self) -> bool:
        return self.max is not None and self.desired is not None and self.desired >= self.max


@dataclass(slots=True)
class WorkloadRow:
    namespace: str
    name: str
    kind: str
    api_group: str
    type: str
    project: str | None
    priority_class: str | None
    preemptible: bool
    replicas_desired: int | None      # None: the owner is not watched or its kind does not say
    replicas_ready: int
    replicas_running: int
    replicas_pending: int             # live pods in phase Pending (unscheduled or starting)
    pods: int                         # live pods not being deleted
    terminating: int                  # pods being deleted that still run (and hold their GPUs)
    terminating_since: float | None   # when the longest-terminating of them was deleted (epoch s)
    gpu_per_replica: float | None     # GPU devices one replica asks for; None for MIG or unresolved memory
    gpu_request: str                  # "1", "0.5", "2000MiB", "2x0.5", "mig-1g.5gb", "" for none
    gpu_total: float                  # over live pods not being deleted
    gpu_allocated: float              # over those placed on nodes (terminating pods' GPUs: `gpu_terminating`)
    gpu_terminating: float            # still held by terminating pods
    status: str
    pending_reason: str | None
    service: str | None               # the Service in front of an inference workload
    created: str
    autoscaling: AutoscalingRow | None = None   # None: a fixed replica count
    revisions: tuple[RevisionRow, ...] = ()     # Knative revisions, with their share of the traffic

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)


def workload_type(kind: str, priority_class: str | None, runai_kind: str | None) -> str:
    """Build / interactive when the priority class says so; else Run:ai's workload kind; else by owner kind."""
    if kind == "DaemonSet" or (priority_class or "").startswith("system-"):
        return SYSTEM
    if priority_class in BUILD_CLASSES:
        return BUILD
    if priority_class in INTERACTIVE_CLASSES:
        return INTERACTIVE
    if runai_kind in RUNAI_WORKLOAD_KINDS:
        return RUNAI_WORKLOAD_KINDS[runai_kind]
    if kind in INFERENCE_KINDS:
        return INFERENCE
    if kind in TRAINING_KINDS:
        return TRAINING
    if kind == "Notebook":
        return BUILD
    if kind == "InteractiveWorkload":
        return INTERACTIVE
    if priority_class == "inference":
        return INFERENCE
    return TRAINING


def request_text(g: GpuRequest | None) -> str:
    if g is None or g.kind == "none":
        return ""
    if g.kind == "whole":
        return str(g.count)
    if g.kind == "mig":
        return f"{g.count}x mig-{g.mig_profile}" if g.count > 1 else f"mig-{g.mig_profile}"
    one = f"{g.portion:g}" if g.kind == "fraction" else f"{g.memory_mib}MiB"
    return f"{g.count}x{one}" if g.count > 1 else one


def gpu_amount(g: GpuRequest, gpu_memory_mib: int | None) -> float | None:
    """GPU devices a request takes on a GPU of that size; None when that cannot be known (MIG, memory on ?)."""
    if g.kind in ("whole", "fraction"):
        return g.total
    if g.kind == "memory":
        return g.resolved(gpu_memory_mib).total if gpu_memory_mib else None
    if g.kind == "mig":
        return None
    return 0.0


def pod_gpu(store: NodeMemory, p: PodRec) -> float:
    """What a pod counts for in GPU sums (unknowable amounts count 0)."""
    g = p.gpu
    if g.kind == "none":
        return 0.0
    if g.kind != "memory":
        return g.total
    return gpu_amount(g, store.node_memory(p.node) if p.node else None) or 0.0
