"""KAI-correct manifests for the three workload types an operator submits: inference, training, build.

Inference with fixed replicas is a Deployment (plus a Service when a port is given). Autoscaled
inference is what the cluster supports: a Knative Service where Knative Serving is installed, as
Run:ai builds its inference workloads (min/max-scale, metric and target as Knative annotations; the
KPA scales on concurrency or rps), else a Deployment with an autoscaling/v2 HorizontalPodAutoscaler on a
per-pod custom metric. Training is a Job (its pods run in parallel), build an interactive single-replica
Deployment. Every pod template carries what KAI's
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
    metric: Any = None         # concurrency | throughput | latency (autoscaled inference)
    metric_threshold: Any = None


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
    engine: str | None = None          # knative | hpa for autoscaled inference; None for fixed replicas
    metric: str | None = None          # the autoscaler's own metric name (concurrency, rps, latency, cpu)
    threshold: float | None = None     # its target per replica


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


# Knative's annotation keys (knative/serving pkg/apis/autoscaling/register.go)
KN = "autoscaling.knative.dev"


def knative_service(v: Values, p: Placement) -> Obj:
    """A Knative Service serving on KAI: queue label, scheduler and GPU on the revision template."""
    tmpl = _template(v, p, "user-container")
    ann = dict(tmpl["metadata"].get("annotations") or {})
    ann.update({f"{KN}/class": "kpa.autoscaling.knative.dev" if v.metric in ("concurrency", "rps")
                else "hpa.autoscaling.knative.dev",
                f"{KN}/min-scale": str(v.min_replicas), f"{KN}/max-scale": str(v.max_replicas)})
    if v.metric:
        ann[f"{KN}/metric"] = v.metric
    if v.threshold is not None:
        ann[f"{KN}/target"] = f"{v.threshold:g}"
    tmpl["metadata"]["annotations"] = ann
    tmpl["metadata"]["labels"] = {k: val for k, val in tmpl["metadata"]["labels"].items() if k != "app"}
    for c in tmpl["spec"]["containers"]:  # Knative takes one unnamed (or http1/h2c) port
        if c.get("ports"):
            c["ports"] = [{"containerPort": c["ports"][0]["containerPort"]}]
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": _meta(v, p),
            "spec": {"template": tmpl}}


def hpa(v: Values, p: Placement) -> Obj:
    """An autoscaling/v2 HPA on the Deployment, on a per-pod custom metric (or CPU utilisation)."""
    if v.metric in (None, "cpu"):
        metric: Obj = {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": int(v.threshold or 80)}}}
    else:
        metric = {"type": "Pods", "pods": {"metric": {"name": v.metric},
                                           "target": {"type": "AverageValue", "averageValue": f"{v.threshold:g}"}}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": v.name, "namespace": p.namespace,
                         "labels": {"app": v.name, MANAGED_BY_LABEL: MANAGED_BY}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": v.name},
                     "minReplicas": max(1, v.min_replicas or 1), "maxReplicas": v.max_replicas,
                     "metrics": [metric]}}


def serving_pod_template(obj: Obj) -> Obj:
    """The pod template a KServe predictor or a Run:ai InferenceWorkload makes its replicas from (as their
    controllers build it), for the preview."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if obj.get("kind") == "InferenceWorkload":
        def val(key: str) -> Any:
            x = spec.get(key)
            return x.get("value") if isinstance(x, dict) else x
        ann: dict[str, str] = {}
        limits: dict[str, str] = {}
        try:
            g = float(str(val("gpu"))) if val("gpu") is not None else 0.0
        except ValueError:
            g = 0.0
        if 0 < g < 1:
            ann[GPU_FRACTION] = f"{g:g}"
        elif g >= 1:
            limits[GPU_RESOURCE] = str(int(g))
        labels = dict(md.get("labels") or {})
        labels.update({"workloadKind": "InferenceWorkload", "workloadName": str(md.get("name", ""))})
        return {"metadata": {"labels": labels, "annotations": ann},
                "spec": {"schedulerName": "runai-scheduler", "priorityClassName": "inference",
                         "containers": [{"name": "user-container", "image": str(val("image") or ""),
                                         **({"resources": {"limits": limits}} if limits else {})}]}}
    pred = spec.get("predictor") if isinstance(spec.get("predictor"), dict) else {}
    impl = next((pred[k] for k in ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
                                   "huggingface", "pmml", "lightgbm", "paddle") if isinstance(pred.get(k), dict)), {})
    containers = pred.get("containers") or [{"name": "kserve-container", "image": impl.get("image", ""),
                                             **({"resources": impl["resources"]} if impl.get("resources") else {})}]
    labels = {**(md.get("labels") or {}), **(pred.get("labels") or {})}
    return {"metadata": {"labels": labels, "annotations": dict(pred.get("annotations") or {})},
            "spec": {"schedulerName": pred.get("schedulerName", ""),
                     "priorityClassName": pred.get("priorityClassName", ""), "containers": containers}}


def build(v: Values, p: Placement) -> list[Obj]:
    """The manifests for one validated form, in creation order."""
    if v.type == "training":
        return [job(v, p)]
    if v.engine == "knative":
        return [knative_service(v, p)]
    out = [deployment(v, p)]
    if v.port:
        out.append(service(v, p))
    if v.engine == "hpa":
        out.append(hpa(v, p))
    return out
