"""How the simulated KAI scheduler reads Nodes and Pods: capacity, readiness, node constraints, GPU groups.

Kept apart from the controller so the reading rules (which node is schedulable, which labels name a GPU
group, what the default scheduler sees of a pod) can be checked on their own.
"""

from __future__ import annotations

from typing import Any

from console.model.kai_state import NAME_FIELD, NodeFilter, NodeInfo
from console.model.podspec import GPU_RESOURCE, MIG_PREFIX, NO_GPU, GpuRequest, node_gpu_memory, pod_requests
from console.model.quantity import parse_quantity

from . import kai_objects as ko
from .store import Key, Obj


def md(obj: Obj) -> Obj:
    """An object's metadata, or {}."""
    return obj.get("metadata") or {}


def skey(key: Key) -> str:
    """`ns/name`: how the allocation state names pods."""
    return f"{key[0]}/{key[1]}"


def is_reservation_pod(pod: Obj) -> bool:
    m = md(pod)
    return m.get("namespace") in ko.RESERVATION_NAMESPACES and bool((m.get("labels") or {}).get(ko.GPU_GROUP_LABEL))


def gpu_groups_of(pod: Obj) -> tuple[str, ...]:
    """`runai-gpu-group: <id>`, or one `runai-gpu-group/<id>: <id>` label per device."""
    labels = md(pod).get("labels") or {}
    out = []
    for k, v in labels.items():
        if k == ko.GPU_GROUP_LABEL and v:
            out.append(v)
        elif k.startswith(ko.GPU_GROUP_LABEL + "/"):
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


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


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
