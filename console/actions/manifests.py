"""KAI-correct manifests for the three workload types an operator submits: inference, training, build.

Inference is a Deployment (plus a Service when a port is given), training a Job (its pods run in
parallel), build an interactive single-replica Deployment. Every pod template carries what KAI's
pod-grouper and GPU-sharing webhook read: `schedulerName: kai-scheduler`, the queue label key the cluster
uses, the `priorityClassName` label (which wins over the spec field) and field, and the GPU request as
`gpu-fraction` / `gpu-memory` annotations or an `nvidia.com/gpu` limit (kai-datamodel.md sections 2, 5, 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from console.model.podspec import (
    GPU_FRACTION, GPU_MEMORY, GPU_RESOURCE, PRIORITY_LABEL, PROJECT_LABEL, RUNAI_QUEUE_LABEL,
)

Obj = dict[str, Any]

SCHEDULER = "kai-scheduler"
WORKLOAD_TYPES = ("inference", "training", "build")
DEFAULT_PRIORITY = {"inference": "inference", "training": "train", "build": "build"}
# min/max replicas of an inference service: "min-max", read by the simulated cluster's autoscaler.
AUTOSCALE_ANNOTATION = "sim.gpuconsole.io/autoscale"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gpuconsole"


@dataclass
class SubmitForm:
    """What the submit form (or the CLI's flags) holds, as typed: validation turns it into values."""

    type: str = "inference"
    name: Any = ""
    project: Any = ""
    image: Any = ""
    gpu: Any = None            # "2" whole, "0.5" fraction, "20000Mi" memory
    replicas: Any = None       # inference/build replicas, training parallelism
    min_replicas: Any = None   # inference only
    max_replicas: Any = None
    port: Any = None
    priority: Any = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuAsk:
    """A validated GPU request: whole devices, a fraction of one, or an amount of one GPU's memory."""

    kind: Literal["none", "whole", "fraction", "memory"] = "none"
    count: int = 0
    fraction: float = 0.0
    memory_mib: int = 0

    def describe(self) -> str:
        return {"none": "no GPU", "whole": f"{self.count} GPU", "fraction": f"{self.fraction:g} of a GPU",
                "memory": f"{self.memory_mib} MiB of GPU memory"}[self.kind]


@dataclass(frozen=True)
class Placement:
    """Where the workload goes: its project's queue, namespace and the queue label key to write."""

    project: str
    namespace: str
    label_key: str


@dataclass(frozen=True)
class Values:
    """A submit form after validation: every field has its final type."""

    type: str
    name: str
    image: str
    gpu: GpuAsk
    replicas: int
    min_replicas: int | None
    max_replicas: int | None
    port: int | None
    priority: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: tuple[tuple[str, str], ...] = ()


def queue_labels(p: Placement) -> dict[str, str]:
    """The queue label; the Run:ai generation also carries `project`, as its workloads do."""
    if p.label_key == RUNAI_QUEUE_LABEL:
        return {RUNAI_QUEUE_LABEL: p.project, PROJECT_LABEL: p.project}
    return {p.label_key: p.project}


def _gpu(ask: GpuAsk) -> tuple[dict[str, str], dict[str, str]]:
    """(pod annotations, container limits) for a GPU request."""
    if ask.kind == "fraction":
        return {GPU_FRACTION: f"{ask.fraction:g}"}, {}
    if ask.kind == "memory":
        return {GPU_MEMORY: str(ask.memory_mib)}, {}
    if ask.kind == "whole":
        return {}, {GPU_RESOURCE: str(ask.count)}
    return {}, {}


def _container(v: Values, name: str) -> Obj:
    _, limits = _gpu(v.gpu)
    c: Obj = {"name": name, "image": v.image}
    if v.command:
        c["command"] = list(v.command)
    if v.args:
        c["args"] = list(v.args)
    if v.env:
        c["env"] = [{"name": k, "value": val} for k, val in v.env]
    if v.port:
        c["ports"] = [{"name": "http", "containerPort": v.port, "protocol": "TCP"}]
    if limits:
        c["resources"] = {"limits": dict(limits)}
    return c


def _template(v: Values, p: Placement, container: str, restart: str | None = None) -> Obj:
    ann, _ = _gpu(v.gpu)
    meta: Obj = {"labels": {"app": v.name, **queue_labels(p)}}
    if ann:
        meta["annotations"] = ann
    spec: Obj = {"schedulerName": SCHEDULER, "priorityClassName": v.priority,
                 "containers": [_container(v, container)]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": meta, "spec": spec}


def _meta(v: Values, p: Placement, extra: dict[str, str] | None = None) -> Obj:
    return {"name": v.name, "namespace": p.namespace,
            "labels": {"app": v.name, **queue_labels(p), PRIORITY_LABEL: v.priority,
                       MANAGED_BY_LABEL: MANAGED_BY, **(extra or {})}}


def deployment(v: Values, p: Placement) -> Obj:
    meta = _meta(v, p)
    if v.min_replicas is not None and v.max_replicas is not None:
        meta["annotations"] = {AUTOSCALE_ANNOTATION: f"{v.min_replicas}-{v.max_replicas}"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": v.replicas, "selector": {"matchLabels": {"app": v.name}},
                     "template": _template(v, p, "server" if v.type == "inference" else "main")}}


def service(v: Values, p: Placement) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": v.name, "namespace": p.namespace,
                         "labels": {"app": v.name, MANAGED_BY_LABEL: MANAGED_BY}},
            "spec": {"type": "ClusterIP", "selector": {"app": v.name},
                     "ports": [{"name": "http", "port": v.port, "targetPort": v.port, "protocol": "TCP"}]}}


def job(v: Values, p: Placement) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(v, p),
            "spec": {"parallelism": v.replicas, "completions": v.replicas, "backoffLimit": 3,
                     "template": _template(v, p, "trainer", restart="Never")}}


def build(v: Values, p: Placement) -> list[Obj]:
    """The manifests for one validated form, in creation order."""
    if v.type == "training":
        return [job(v, p)]
    out = [deployment(v, p)]
    if v.port:
        out.append(service(v, p))
    return out
