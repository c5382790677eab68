"""How KAI reads Nodes and Pods, and the allocation records built from raw API objects.

Pure over the dicts the API returns, so the simulated scheduler and the console's preemption preview
build the same `NodeInfo` / `PodRec` records from the same objects: which node is schedulable, which
labels name a GPU group, what the default scheduler sees of a pod, which PodGroup, queue and priority a
pod schedules under. Malformed parts read as absent (the apiserver rejects them; bulk loads skip it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .kai_queues import QueueTree, queue_spec_from_obj
from .kai_state import NAME_FIELD, ClusterState, NodeFilter, NodeInfo, PodRec
from .podspec import (
    DEFAULT_QUEUE, GPU_RESOURCE, KAI_SCHEDULERS, MIG_PREFIX, NO_GPU, GpuRequest, gpu_request, is_preemptible,
    node_gpu_memory, pod_requests, priority_class_of, queue_of,
)
from .quantity import parse_quantity

Obj = dict[str, Any]

GPU_GROUP_LABEL = "runai-gpu-group"
RESERVATION_NAMESPACES = ("kai-resource-reservation", "runai-reservation")
POD_GROUP_ANNOTATION = "pod-group-name"
TERMINAL_PHASES = ("Succeeded", "Failed")


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def is_reservation_pod(pod: Obj) -> bool:
    """A binder's GPU reservation pod (KAI's or Run:ai's namespace, with a GPU group label)."""
    m = _d(pod.get("metadata"))
    return m.get("namespace") in RESERVATION_NAMESPACES and bool((m.get("labels") or {}).get(GPU_GROUP_LABEL))


def gpu_groups_of(pod: Obj) -> tuple[str, ...]:
    """`runai-gpu-group: <id>`, or one `runai-gpu-group/<id>: <id>` label per device."""
    labels = _d(_d(pod.get("metadata")).get("labels"))
    out = []
    for k, v in labels.items():
        if k == GPU_GROUP_LABEL and v:
            out.append(v)
        elif k.startswith(GPU_GROUP_LABEL + "/"):
            out.append(v or k.split("/", 1)[1])
    return tuple(out)


def node_info(node: Obj) -> NodeInfo:
    """A Node object as the scheduler sees it: GPUs, GPU memory, cpu/memory, MIG, cordon and readiness."""
    m = _d(node.get("metadata"))
    st = _d(node.get("status"))
    alloc = _d(st.get("allocatable")) or _d(st.get("capacity"))
    labels = {str(k): str(v) for k, v in _d(m.get("labels")).items()}

    def q(v: Any) -> float | None:
        try:
            return parse_quantity(v) if v is not None else None
        except (TypeError, ValueError):
            return None

    gpus = q(alloc.get(GPU_RESOURCE))
    if gpus is None:
        try:
            gpus = float(labels.get("nvidia.com/gpu.count", 0))
        except (TypeError, ValueError):
            gpus = 0.0
    mig = {k[len(MIG_PREFIX):]: int(q(v) or 0) for k, v in alloc.items() if str(k).startswith(MIG_PREFIX)}
    conds = _l(st.get("conditions"))
    ready = True
    if conds:
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    schedulable = ready and not _d(node.get("spec")).get("unschedulable")
    return NodeInfo(m.get("name", ""), gpus=int(gpus or 0), gpu_memory_mib=node_gpu_memory(node),
                    cpu=q(alloc.get("cpu")), memory=q(alloc.get("memory")), mig=mig, labels=labels,
                    schedulable=bool(schedulable))


def node_filter(pod: Obj) -> NodeFilter | None:
    """`nodeSelector` and required node affinity (label expressions and `metadata.name` fields).

    Malformed parts read as absent (the apiserver rejects them; bulk-loaded objects skip validation)."""
    spec = _d(pod.get("spec"))
    sel = {str(k): str(v) for k, v in _d(spec.get("nodeSelector")).items()}
    req = _d(_d(_d(spec.get("affinity")).get("nodeAffinity")).get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms: list[list[tuple[str, str, frozenset[str]]]] = []
    for t in _l(req.get("nodeSelectorTerms")):
        exprs = [(str(e.get("key", "")), str(e.get("operator", "")), frozenset(map(str, e.get("values") or ())))
                 for e in _l(t.get("matchExpressions"))]
        exprs += [(NAME_FIELD, str(f.get("operator", "")), frozenset(map(str, f.get("values") or ())))
                  for f in _l(t.get("matchFields")) if f.get("key") == "metadata.name"]
        if exprs:
            terms.append(exprs)
    if not sel and not terms:
        return None
    return NodeFilter(sel, terms)


def default_gpu_request(pod: Obj) -> GpuRequest:
    """What the default scheduler sees: extended resources only (sharing annotations mean nothing to it)."""
    reqs = pod_requests(pod)
    whole = int(reqs.get(GPU_RESOURCE, 0))
    if whole > 0:
        return GpuRequest("whole", whole, total=float(whole))
    for k, v in reqs.items():
        if k.startswith(MIG_PREFIX) and v >= 1:
            return GpuRequest("mig", int(v), mig_profile=k[len(MIG_PREFIX):])
    return NO_GPU


def pod_key(pod: Obj) -> str:
    """`ns/name`: how the allocation state names pods."""
    m = _d(pod.get("metadata"))
    return f"{m.get('namespace', '')}/{m.get('name', '')}"


def read_requests(pod: Obj, kai: bool) -> tuple[Mapping[str, float], GpuRequest, str | None]:
    """A pod's resource requests, its GPU request, and why that request is invalid (None when fine).

    KAI pods ask for GPUs through the sharing annotations (validated as KAI does); other pods only
    through `nvidia.com/gpu` limits.
    """
    err = None
    if kai:
        try:
            req = gpu_request(pod)
        except ValueError as e:
            req, err = NO_GPU, str(e)
    else:
        req = default_gpu_request(pod)
    return pod_requests(pod), req, err


def pod_record(pod: Obj, podgroup: Obj | None, priority: Callable[[str | None], int], created: str = "",
               requests: tuple[Mapping[str, float], GpuRequest, str | None] | None = None,
               gpu_memory_mib: int | None = None) -> tuple[PodRec, str | None]:
    """The record a pod schedules as, and why its GPU request is invalid (None when it is fine).

    KAI pods (scheduler `kai-scheduler` / `runai-scheduler`) take queue, priority class and
    preemptibility from their PodGroup, else from their own labels; other pods belong to no queue.
    `priority` maps a PriorityClass name to its value (the cluster's classes, then the global default).
    `requests` is a precomputed (`pod_requests`, GPU request, error) triple; `gpu_memory_mib` sizes a
    pending `gpu-memory` request for quota checks before a node is chosen.
    """
    m = _d(pod.get("metadata"))
    spec = _d(pod.get("spec"))
    ns, name = str(m.get("namespace", "")), str(m.get("name", ""))
    kai = spec.get("schedulerName") in KAI_SCHEDULERS
    if requests is None:
        requests = read_requests(pod, kai)
    reqs, req, err = requests
    labels = _d(m.get("labels"))
    if kai:
        pgname = _d(m.get("annotations")).get(POD_GROUP_ANNOTATION)
        if podgroup is not None:
            pspec = _d(podgroup.get("spec"))
            queue = str(pspec.get("queue") or DEFAULT_QUEUE)
            prio = priority(pspec.get("priorityClassName") or priority_class_of(pod) or "train")
            pre = is_preemptible(prio, labels, pspec.get("preemptibility"))
        else:
            queue = str(queue_of(pod) or DEFAULT_QUEUE)
            prio = priority(priority_class_of(pod) or "train")
            pre = is_preemptible(prio, labels)
        job = f"{ns}/{pgname}" if pgname else f"{ns}/\x00{name}"
    else:
        queue, job, pre = "", f"{ns}/\x00{name}", False
        try:
            prio = int(spec.get("priority") or 0)
        except (TypeError, ValueError):
            prio = 0
    if req.kind == "memory" and not req.portion:
        req = req.resolved(gpu_memory_mib)
    rec = PodRec(f"{ns}/{name}", job, queue, prio, pre, req, reqs.get("cpu", 0.0), reqs.get("memory", 0.0),
                 created, node_filter(pod))
    return rec, err


def min_member_of(podgroup: Obj | None) -> int:
    try:
        return max(1, int(_d(_d(podgroup).get("spec")).get("minMember") or 1))
    except (TypeError, ValueError):
        return 1


def priority_lookup(priority_classes: Iterable[Obj]) -> Callable[[str | None], int]:
    """PriorityClass name → value from the cluster's classes; missing → the globalDefault class → 50."""
    values: dict[str, int] = {}
    default: int | None = None
    for o in priority_classes:
        try:
            v = int(o.get("value", 0))
        except (TypeError, ValueError):
            continue
        values[str(_d(o.get("metadata")).get("name", ""))] = v
        if o.get("globalDefault"):
            default = v
    fallback = default if default is not None else 50
    return lambda name: values.get(name, fallback) if name else fallback


def state_from_objects(nodes: Iterable[Obj], pods: Iterable[Obj], queues: Iterable[Obj],
                       podgroups: Iterable[Obj], priority_classes: Iterable[Obj]) -> ClusterState:
    """The allocation state of a cluster from its raw objects: what a preview plans on.

    Bound, non-terminal pods hold resources; reservation pods are their GPU group's device, not work.
    A pod being deleted (deletionTimestamp) still holds its node but is Releasing, as KAI sees it.
    """
    state = ClusterState(QueueTree(queue_spec_from_obj(q) for q in queues))
    for n in nodes:
        state.set_node(node_info(n))
    pgs = {(str(_d(p.get("metadata")).get("namespace", "")), str(_d(p.get("metadata")).get("name", ""))): p
           for p in podgroups}
    priority = priority_lookup(priority_classes)
    for pod in pods:
        spec = _d(pod.get("spec"))
        node = spec.get("nodeName")
        if not node or is_reservation_pod(pod) or _d(pod.get("status")).get("phase") in TERMINAL_PHASES:
            continue
        m = _d(pod.get("metadata"))
        pg = pgs.get((str(m.get("namespace", "")), str(_d(m.get("annotations")).get(POD_GROUP_ANNOTATION, ""))))
        rec, _ = pod_record(pod, pg, priority, str(m.get("creationTimestamp", "")))
        rec.releasing = bool(m.get("deletionTimestamp"))
        n = state.nodes.get(node)
        groups = gpu_groups_of(pod) if rec.req.shared else ()
        portion = rec.req.portion_on(n.gpu_memory_mib if n else None) if rec.req.shared else 0.0
        state.add_pod(rec, node, groups, portion)
        if rec.job in state.jobs:
            state.jobs[rec.job].min_member = min_member_of(pg)
    return state
