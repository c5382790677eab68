"""What KAI reads from a raw pod (and its top owner): queue, GPU request, priority class, preemptibility.

Pure functions over the dicts the API returns, shared by the console's views, its actions and the
simulated scheduler, so every layer agrees on which queue a pod bills and what it asks for. The keys and
precedence are KAI's pod-grouper and GPU-sharing validator rules (see kai-datamodel.md sections 2–5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from .quantity import parse_exact

Obj = dict[str, Any]

# Labels and annotations, exactly as KAI / Run:ai spell them.
QUEUE_LABEL = "kai.scheduler/queue"
RUNAI_QUEUE_LABEL = "runai/queue"
QUEUE_LABELS = (QUEUE_LABEL, RUNAI_QUEUE_LABEL)
PROJECT_LABEL = "project"
NODE_POOL_LABEL = "kai.scheduler/node-pool"
RUNAI_NODE_POOL_LABEL = "runai/node-pool"
PRIORITY_LABEL = "priorityClassName"
PREEMPTIBILITY_LABEL = "kai.scheduler/preemptibility"
DEFAULT_QUEUE = "default-queue"

GPU_FRACTION = "gpu-fraction"
GPU_MEMORY = "gpu-memory"
GPU_NUM_DEVICES = "gpu-fraction-num-devices"
GPU_CONTAINER = "gpu-fraction-container-name"
MPS = "mps"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"

KAI_SCHEDULERS = frozenset({"kai-scheduler", "runai-scheduler"})

PREEMPTIBLE = "preemptible"
NON_PREEMPTIBLE = "non-preemptible"

# KAI's shipped PriorityClasses plus the Run:ai >= 2.22 names. Values >= 100 are non-preemptible.
PRIORITY_CLASSES: dict[str, int] = {
    "train": 50,
    "build-preemptible": 75,
    "build": 100,
    "inference": 125,
    "very-low": 25,
    "low": 40,
    "medium-low": 65,
    "medium": 80,
    "medium-high": 90,
    "high": 125,
    "very-high": 150,
    # Kubernetes' own classes for cluster services (dcgm-exporter, device plugins): never preempted.
    "system-cluster-critical": 2000000000,
    "system-node-critical": 2000001000,
}
DEFAULT_PRIORITY = 50
NON_PREEMPTIBLE_MIN = 100

# Priority class the pod-grouper gives by top-owner kind when nothing names one.
KIND_DEFAULT_PRIORITY: dict[str, str] = {
    "Deployment": "inference",
    "Service": "inference",            # Knative Service
    "InferenceWorkload": "inference",
    "InferenceService": "inference",   # KServe
    "Notebook": "build",
}


# ---------------------------------------------------------------- owners
def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def labels_of(obj: Obj | None) -> dict[str, str]:
    """An object's labels; {} when absent or malformed."""
    return _dict(_dict(_dict(obj).get("metadata")).get("labels"))


def annotations_of(obj: Obj | None) -> dict[str, str]:
    """An object's annotations; {} when absent or malformed."""
    return _dict(_dict(_dict(obj).get("metadata")).get("annotations"))


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference marked `controller: true`, else the first one, else None."""
    refs = _dict(obj.get("metadata")).get("ownerReferences")
    refs = [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []
    for r in refs:
        if r.get("controller"):
            return r
    return refs[0] if refs else None


def top_owner_ref(obj: Obj, lookup: Any = None) -> Obj | None:
    """Walk controller ownerReferences to the root; `lookup(ref, namespace) -> obj | None` fetches owners.

    Returns the root's ownerReference (apiVersion, kind, name, uid), or None for an object with no owner.
    Without `lookup` only the first hop is known. Cycles and missing owners stop the walk where it is.
    """
    ns = _dict(obj.get("metadata")).get("namespace")
    ref = controller_ref(obj)
    if ref is None or lookup is None:
        return ref
    seen = {ref.get("uid")}
    while True:
        owner = lookup(ref, ns)
        if owner is None:
            return ref
        nxt = controller_ref(owner)
        if nxt is None or nxt.get("uid") in seen:
            return ref
        seen.add(nxt.get("uid"))
        ref = nxt


# ---------------------------------------------------------------- queue
def queue_of(pod: Obj, top_owner: Obj | None = None) -> str | None:
    """The leaf queue KAI bills the pod to; None means the caller uses `default-queue`.

    Queue label (`kai.scheduler/queue`, then the pre-0.6 / Run:ai `runai/queue`) on the top owner, then on
    the pod; else label `project: <p>` on the top owner or pod giving `<p>`, or `<p>-<pool>` when the pod
    (or its owner) carries the node-pool label.
    """
    for obj in (top_owner, pod):
        labels = labels_of(obj)
        for key in QUEUE_LABELS:
            v = labels.get(key)
            if v:
                return v
    for obj in (top_owner, pod):
        project = labels_of(obj).get(PROJECT_LABEL)
        if project:
            pool = labels_of(pod).get(NODE_POOL_LABEL) or labels_of(top_owner).get(NODE_POOL_LABEL)
            return f"{project}-{pool}" if pool else project
    return None


# ---------------------------------------------------------------- priority
def priority_class_of(pod: Obj, top_owner: Obj | None = None) -> str | None:
    """Label `priorityClassName` on the top owner, then on the pod, then `spec.priorityClassName`."""
    for obj in (top_owner, pod):
        v = labels_of(obj).get(PRIORITY_LABEL)
        if v:
            return v
    v = _dict(pod.get("spec")).get("priorityClassName")
    return v if isinstance(v, str) and v else None


def default_priority_class(top_owner_kind: str | None) -> str:
    """The pod-grouper's per-kind default when nothing names a class (bare pods and Jobs: `train`)."""
    return KIND_DEFAULT_PRIORITY.get(top_owner_kind or "", "train")


def priority_value(name: str | None, classes: dict[str, int] | None = None, global_default: int | None = None) -> int:
    """A class name's value from `classes` (the cluster's), then KAI's table, then the global default, then 50."""
    if name:
        if classes and name in classes:
            return classes[name]
        if classes is None and name in PRIORITY_CLASSES:
            return PRIORITY_CLASSES[name]
    return global_default if global_default is not None else DEFAULT_PRIORITY


def preemptibility_of(pod: Obj, top_owner: Obj | None = None) -> str | None:
    """Label `kai.scheduler/preemptibility` (top owner, then pod), if it holds a valid value."""
    for obj in (top_owner, pod):
        v = labels_of(obj).get(PREEMPTIBILITY_LABEL)
        if v in (PREEMPTIBLE, NON_PREEMPTIBLE):
            return v
    return None


def is_preemptible(priority_value: int, pod_labels: dict[str, str] | None = None,
                   podgroup_preemptibility: str | None = None) -> bool:
    """PodGroup `spec.preemptibility` wins, then the pod label, then priority < 100."""
    for v in (podgroup_preemptibility, (pod_labels or {}).get(PREEMPTIBILITY_LABEL)):
        if v == PREEMPTIBLE:
            return True
        if v == NON_PREEMPTIBLE:
            return False
    return priority_value < NON_PREEMPTIBLE_MIN


# ---------------------------------------------------------------- GPU request
GpuKind = Literal["none", "whole", "fraction", "memory", "mig"]


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """What a pod asks of GPUs. `total` is in GPU-equivalents for quota accounting.

    For `memory` requests `total` is only known once a GPU size is (`gpu_memory_mib`); until then it is
    0.0 and `resolved(mib)` gives the request with `portion` and `total` filled in.
    """

    kind: GpuKind = "none"
    count: int = 0
    portion: float = 0.0
    memory_mib: int = 0
    mig_profile: str | None = None
    total: float = 0.0
    container: str | None = None
    mps: bool = False
    init_container: bool = False       # the GPU goes to an init container (`gpu-fraction-container-name`)

    @property
    def shared(self) -> bool:
        """Fraction or memory: packed onto a shared GPU through a reservation pod."""
        return self.kind in ("fraction", "memory")

    def portion_on(self, gpu_memory_mib: int | None) -> float:
        """The share of one GPU this request takes on a GPU of that size (memory requests are capped at 1)."""
        if self.kind == "fraction":
            return self.portion
        if self.kind == "memory":
            mib = floor_gpu_memory(gpu_memory_mib)
            return min(1.0, self.memory_mib / mib)
        return 1.0 if self.kind == "whole" else 0.0

    def resolved(self, gpu_memory_mib: int | None) -> GpuRequest:
        if self.kind != "memory":
            return self
        p = self.portion_on(gpu_memory_mib)
        return GpuRequest("memory", self.count, p, self.memory_mib, None, p * self.count, self.container, self.mps,
                          self.init_container)


NO_GPU = GpuRequest()


def floor_gpu_memory(mib: int | None) -> int:
    """KAI floors a node's per-GPU memory to a multiple of 100 MiB and assumes 100 when unknown."""
    if not mib or mib < 100:
        return 100
    return int(mib) // 100 * 100


def node_gpu_memory(node: Obj) -> int | None:
    """`nvidia.com/gpu.memory` (MiB per GPU) from a node's GFD labels, or None."""
    v = labels_of(node).get(GPU_MEMORY_LABEL)
    try:
        return int(v) if v else None
    except (TypeError, ValueError):
        return None


def _containers(pod: Obj, key: str = "containers") -> list[Obj]:
    cs = _dict(pod.get("spec")).get(key)
    return [c for c in cs if isinstance(c, dict)] if isinstance(cs, list) else []


def _resources(c: Obj) -> tuple[dict, dict]:
    res = _dict(c.get("resources"))
    return _dict(res.get("requests")), _dict(res.get("limits"))


def _whole_number(value: Any, what: str) -> int:
    try:
        q = parse_exact(value)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if q.denominator != 1 or q < 0:
        raise ValueError(f"{what} must be a non-negative whole number, got {value!r}")
    return int(q)


def _extended(pod: Obj) -> tuple[int, dict[str, int]]:
    """Summed `nvidia.com/gpu` and MIG devices over regular containers; init containers count by max."""
    def one(c: Obj) -> dict[str, int]:
        requests, limits = _resources(c)
        src = dict(requests)
        src.update(limits)
        out: dict[str, int] = {}
        for k, v in src.items():
            if k == GPU_RESOURCE or k.startswith(MIG_PREFIX):
                out[k] = _whole_number(v, f"container {c.get('name', '?')!r} {k}")
        return out

    totals: dict[str, int] = {}
    for c in _containers(pod):
        for k, v in one(c).items():
            totals[k] = totals.get(k, 0) + v
    for c in _containers(pod, "initContainers"):
        for k, v in one(c).items():
            totals[k] = max(totals.get(k, 0), v)
    gpus = totals.pop(GPU_RESOURCE, 0)
    return gpus, {k: v for k, v in totals.items() if v}


def gpu_request(pod: Obj, gpu_memory_mib: int | None = None) -> GpuRequest:
    """Parse and validate a pod's GPU request the way KAI's GPU-sharing validator does.

    Raises ValueError with a message naming the field and the value when the request is invalid.
    `gpu_memory_mib` (the target GPU's size) resolves a `gpu-memory` request into a portion.
    """
    ann = annotations_of(pod)
    whole, migs = _extended(pod)
    frac_s = ann.get(GPU_FRACTION)
    mem_s = ann.get(GPU_MEMORY)
    dev_s = ann.get(GPU_NUM_DEVICES)
    mps = str(ann.get(MPS, "")).lower() == "true"
    container = ann.get(GPU_CONTAINER)

    in_init = False
    if container is not None:
        # KAI's getContainerRefByName: init containers are searched first, then the regular ones
        # (pkg/binder/common/gpusharingconfigmap, KAI @ 72de64fc; docs/gpu-sharing/gpu-sharing-init-container.yaml).
        inits = [c.get("name") for c in _containers(pod, "initContainers")]
        names = [c.get("name") for c in _containers(pod)]
        if container in inits:
            in_init = True
        elif container not in names:
            listed = f"containers: {', '.join(str(n) for n in names) or 'none'}"
            if inits:
                listed += f"; init containers: {', '.join(str(n) for n in inits)}"
            raise ValueError(f"{GPU_CONTAINER} {container!r} names no container of the pod ({listed})")
    elif _containers(pod):
        container = _containers(pod)[0].get("name")

    if frac_s is not None and mem_s is not None:
        raise ValueError(f"{GPU_FRACTION} and {GPU_MEMORY} cannot be used together")
    if (frac_s is not None or mem_s is not None) and whole:
        which = GPU_FRACTION if frac_s is not None else GPU_MEMORY
        raise ValueError(f"{which} cannot be combined with a {GPU_RESOURCE} limit ({whole})")
    if (frac_s is not None or mem_s is not None) and migs:
        raise ValueError("GPU sharing annotations cannot be combined with MIG resources")
    if whole and migs:
        raise ValueError(f"{GPU_RESOURCE} cannot be combined with MIG resources ({', '.join(sorted(migs))})")
    if dev_s is not None and frac_s is None and mem_s is None:
        raise ValueError(f"{GPU_NUM_DEVICES} needs {GPU_FRACTION} or {GPU_MEMORY}")
    if mps and frac_s is None and mem_s is None:
        raise ValueError(f"{MPS} is only valid together with {GPU_FRACTION} or {GPU_MEMORY}")

    devices = 1
    if dev_s is not None:
        try:
            devices = int(str(dev_s).strip())
        except ValueError:
            raise ValueError(f"{GPU_NUM_DEVICES} must be a positive integer, got {dev_s!r}") from None
        if devices < 1:
            raise ValueError(f"{GPU_NUM_DEVICES} must be a positive integer, got {dev_s!r}")

    if frac_s is not None:
        try:
            portion = float(str(frac_s).strip())
        except ValueError:
            raise ValueError(f"{GPU_FRACTION} must be a number between 0 and 1 (exclusive), got {frac_s!r}") \
                from None
        if not math.isfinite(portion) or not 0 < portion < 1:
            raise ValueError(f"{GPU_FRACTION} must be between 0 and 1 (exclusive), got {frac_s}")
        return GpuRequest("fraction", devices, portion, 0, None, portion * devices, container, mps, in_init)

    if mem_s is not None:
        try:
            mib = int(str(mem_s).strip())
        except ValueError:
            raise ValueError(f"{GPU_MEMORY} must be a positive integer (MiB), got {mem_s!r}") from None
        if mib <= 0:
            raise ValueError(f"{GPU_MEMORY} must be a positive integer (MiB), got {mem_s!r}")
        req = GpuRequest("memory", devices, 0.0, mib, None, 0.0, container, mps, in_init)
        return req.resolved(gpu_memory_mib) if gpu_memory_mib else req

    if whole:
        return GpuRequest("whole", whole, 0.0, 0, None, float(whole), container)

    if migs:
        if len(migs) > 1:
            raise ValueError(f"a pod may request one MIG profile, got {', '.join(sorted(migs))}")
        (key, n), = migs.items()
        return GpuRequest("mig", n, 0.0, 0, key[len(MIG_PREFIX):], 0.0, container)

    return NO_GPU


def validate_sharing(pod: Obj) -> str | None:
    """The admission-webhook check: None when the GPU request is valid, else the reason."""
    try:
        gpu_request(pod)
    except ValueError as e:
        return str(e)
    return None


# ---------------------------------------------------------------- CPU / memory
def pod_requests(pod: Obj) -> dict[str, float]:
    """Effective requests (cpu in cores, memory in bytes, extended resources in units) as the scheduler counts.

    Regular containers add up; each init container's request is a floor (max). A container with only
    limits requests its limits, as the apiserver defaults.
    """
    def one(c: Obj) -> dict[str, float]:
        requests, limits = _resources(c)
        merged = dict(limits)
        merged.update(requests)
        out: dict[str, float] = {}
        for k, v in merged.items():
            try:
                out[k] = float(parse_exact(v))
            except ValueError:
                continue
        return out

    total: dict[str, float] = {}
    for c in _containers(pod):
        for k, v in one(c).items():
            total[k] = total.get(k, 0.0) + v
    for c in _containers(pod, "initContainers"):
        for k, v in one(c).items():
            total[k] = max(total.get(k, 0.0), v)
    for k, v in _dict(_dict(pod.get("spec")).get("overhead")).items():
        try:
            total[k] = total.get(k, 0.0) + float(parse_exact(v))
        except ValueError:
            continue
    return total
