"""The objects the simulated KAI scheduler writes, shaped exactly as KAI writes them.

PodGroups (pod-grouper), BindRequests and GPU reservation pods (binder), Queue and PodGroup status,
pod conditions. Builders only: no store access, so they are easy to check against kai-datamodel.md.
"""

from __future__ import annotations

from typing import Any

import orjson

from console.model.kai_read import GPU_GROUP_LABEL, POD_GROUP_ANNOTATION, RESERVATION_NAMESPACES
from console.model.quantity import format_bytes, format_gpu, format_quantity

Obj = dict[str, Any]
__all__ = ["GPU_GROUP_LABEL", "POD_GROUP_ANNOTATION", "RESERVATION_NAMESPACES"]  # re-exported for the binder

SCHEDULER = "kai-scheduler"
PODGROUP_API = "scheduling.run.ai/v2alpha2"
BINDREQUEST_API = "scheduling.run.ai/v1alpha2"
RESERVATION_NS = "kai-resource-reservation"
RESERVATION_APP = "kai-resource-reservation"
RESERVE_ANNOTATION = "run.ai/reserve_for_gpu_index"
TOP_OWNER_ANNOTATION = "kai.scheduler/top-owner-metadata"
RECEIVED_TYPE_ANNOTATION = "received-resource-type"
SELECTED_NODE_LABEL = "selected-node"


def owner_ref(api_version: str, kind: str, name: str, uid: str, controller: bool = False) -> Obj:
    ref: Obj = {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def podgroup(name: str, namespace: str, owner: Obj, labels: dict[str, str], annotations: dict[str, str],
             min_member: int, queue: str, priority_class: str, preemptibility: str | None) -> Obj:
    """A PodGroup as the pod-grouper creates it; `owner` is the top owner's ownerReference (or the pod's)."""
    top = {"name": owner.get("name"), "uid": owner.get("uid"), "kind": owner.get("kind"),
           "apiVersion": owner.get("apiVersion")}
    spec: Obj = {"minMember": min_member, "queue": queue, "priorityClassName": priority_class,
                 "markUnschedulable": True}
    if preemptibility:
        spec["preemptibility"] = preemptibility
    return {
        "apiVersion": PODGROUP_API, "kind": "PodGroup",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                     "annotations": {**annotations, TOP_OWNER_ANNOTATION: orjson.dumps(top).decode()},
                     "ownerReferences": [owner_ref(owner["apiVersion"], owner["kind"], owner["name"],
                                                   owner["uid"])]},
        "spec": spec,
    }


def bind_request(pod: Obj, node: str, groups: tuple[str, ...], portion: float, count: int) -> Obj:
    """The scheduler's BindRequest for a fractional pod: name = pod name, owned by the pod."""
    md = pod["metadata"]
    return {
        "apiVersion": BINDREQUEST_API, "kind": "BindRequest",
        "metadata": {"name": md["name"], "namespace": md["namespace"], "labels": {SELECTED_NODE_LABEL: node},
                     "ownerReferences": [owner_ref("v1", "Pod", md["name"], md["uid"], controller=True)]},
        "spec": {"podName": md["name"], "selectedNode": node, "receivedResourceType": "Fraction",
                 "receivedGPU": {"count": count, "portion": f"{portion:.2f}"},
                 "selectedGPUGroups": list(groups)},
        "status": {"phase": "Pending"},
    }


def reservation_pod(name: str, node: str, group: str) -> Obj:
    """The binder's placeholder that holds one physical GPU for a shared group."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": RESERVATION_NS,
                     "labels": {"app": RESERVATION_APP, GPU_GROUP_LABEL: group}},
        "spec": {
            "nodeName": node,
            "schedulerName": SCHEDULER,
            "runtimeClassName": "nvidia",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "resource-reservation",
                "image": "ghcr.io/nvidia/kai-scheduler/resource-reservation:latest",
                "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
            }],
        },
        "status": {"phase": "Pending"},
    }


def resource_list(gpu: float, cpu: float = 0.0, memory: float = 0.0, gpu_memory_mib: float = 0.0) -> dict[str, str]:
    """A v1.ResourceList as KAI writes it in Queue and PodGroup status (`nvidia.com/gpu: "1500m"`)."""
    out: dict[str, str] = {}
    if cpu > 1e-9:
        out["cpu"] = format_quantity(cpu, "cpu")
    if memory > 0.5:
        out["memory"] = format_bytes(memory)
    out["nvidia.com/gpu"] = format_gpu(max(0.0, gpu))
    if gpu_memory_mib > 0:
        out["run.ai/gpu.memory"] = str(int(round(gpu_memory_mib)))
    return out


def set_condition(conds: list[Obj] | None, ctype: str, status: str, reason: str, message: str,
                  now: str) -> list[Obj]:
    """Conditions with one type set; `lastTransitionTime` moves only when the status does."""
    conds = conds or []
    old = next((c for c in conds if c.get("type") == ctype), None)
    new: Obj = {"type": ctype, "status": status}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    new["lastProbeTime"] = None
    new["lastTransitionTime"] = old.get("lastTransitionTime", now) if old and old.get("status") == status else now
    out = [dict(c) for c in conds]
    for i, c in enumerate(out):
        if c.get("type") == ctype:
            out[i] = new
            return out
    out.append(new)
    return out


def same_condition(conds: list[Obj] | None, ctype: str, status: str, reason: str, message: str) -> bool:
    for c in conds or []:
        if c.get("type") == ctype:
            return c.get("status") == status and c.get("reason", "") == reason and c.get("message", "") == message
    return False


def scheduling_conditions(reason: str, message: str, now: str, old: list[Obj] | None) -> list[Obj]:
    """PodGroup `status.schedulingConditions` for one unschedulable explanation on the default pool."""
    prev = next((c for c in old or [] if c.get("type") == "UnschedulableOnNodePool"), None)
    reasons = [{"reason": reason, "message": message}]
    same = prev is not None and prev.get("reasons") == reasons
    try:
        tid = int((prev or {}).get("transitionID", -1))
    except (TypeError, ValueError):
        tid = -1
    return [{
        "type": "UnschedulableOnNodePool", "nodePool": "default", "status": "True",
        "transitionID": str(tid if same else tid + 1),
        "lastTransitionTime": (prev or {}).get("lastTransitionTime", now) if same else now,
        "reasons": reasons,
    }]
