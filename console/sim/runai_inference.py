"""Run:ai's InferenceWorkload controller, simulated (run.ai/v2alpha1).

Run:ai builds inference on Knative: the workload becomes a Knative Service of the same name, then a
Revision `<name>-00001` and its Deployment `<name>-00001-deployment`, whose pods run `user-container`
and carry `workloadKind: InferenceWorkload`, `workloadName` and `project` (kai-datamodel.md section 6;
run-ai/fake-gpu-operator README; runai-professional-services log-collector `workload.sh`). Its fields
wrap each value (`spec.gpu.value`, `spec.minScale.value`, ...; run-ai/docs
docs/developer/cluster-api/reference/inference.md). Metrics map onto Knative as Run:ai describes
(docs/admin/workloads/inference-overview.md): concurrency → the KPA on concurrency, throughput → the
KPA on rps (both may scale to zero); latency, cpu-utilization and gpu-utilization need an HPA-class
autoscaler, so they go to Knative's HPA class with the metric named as the simulated custom metrics
API serves it.
"""

from __future__ import annotations

from console.model import autoscaling as autoscale

from .cluster import SimCluster
from .knative import _ready, ensure
from .resources import INFERENCEWORKLOADS, KSVCS, NAMESPACES
from .store import Change, Obj
from .workloads import EventRecorder, _Base, controller_of, owner_ref, set_condition

SCHEDULER = "runai-scheduler"
KIND_LABEL = "workloadKind"
NAME_LABEL = "workloadName"
HPA_METRICS = {"latency": "latency", "cpu-utilization": "cpu", "gpu-utilization": "cpu", "custom": "rps"}


def knative_annotations(spec: Obj) -> dict[str, str]:
    v = autoscale.runai_value
    out: dict[str, str] = {}
    metric = v(spec, "metric") or "concurrency"
    if metric in autoscale.RUNAI_TO_KNATIVE:
        out[autoscale.CLASS[0]] = "kpa.autoscaling.knative.dev"
        out[autoscale.METRIC[0]] = autoscale.RUNAI_TO_KNATIVE[metric]
    else:
        out[autoscale.CLASS[0]] = "hpa.autoscaling.knative.dev"
        out[autoscale.METRIC[0]] = HPA_METRICS.get(str(metric), "cpu")
    for key, field in ((autoscale.MIN_SCALE[0], "minScale"), (autoscale.MAX_SCALE[0], "maxScale"),
                       (autoscale.TARGET[0], "target")):
        if v(spec, field) is not None:
            out[key] = str(v(spec, field))
    return out


class InferenceWorkloadController(_Base):
    name = "runai-inference-controller"
    rt = INFERENCEWORKLOADS
    owns_pods = False

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey == KSVCS.key:
            for o in (ch.obj, ch.old):
                ref = controller_of(o) if o else None
                if ref and ref.get("kind") == "InferenceWorkload":
                    self.dirty.add((o["metadata"]["namespace"], ref["name"]))

    def _project(self, ns: str) -> str | None:
        n = self.store.try_get(NAMESPACES, None, ns)
        return ((n or {}).get("metadata", {}).get("labels") or {}).get("runai/queue")

    def sync(self, iw: Obj) -> bool:
        md = iw["metadata"]
        ns, name = md["namespace"], md["name"]
        spec = iw.get("spec") or {}
        v = autoscale.runai_value
        now = self.store.clock()
        problems = list(autoscale.runai(iw).problems)
        if not v(spec, "image"):
            problems.append("spec.image.value is required")
        conds = list((iw.get("status") or {}).get("conditions") or [])
        if problems:
            conds = set_condition(conds, "Ready", "False", "InvalidSpec", "; ".join(problems), now)
            return self.write_status(INFERENCEWORKLOADS, iw, {"conditions": conds, "phase": "Failed"})
        project = self._project(ns)
        labels = {KIND_LABEL: "InferenceWorkload", NAME_LABEL: name, **(md.get("labels") or {})}
        if project:
            labels.update({"project": project, "runai/queue": project})
        ann: dict[str, str] = {}
        gpu = v(spec, "gpu")
        limits: dict[str, str] = {}
        if gpu is not None:
            try:
                g = float(str(gpu))
            except ValueError:
                g = 0.0
            if 0 < g < 1:
                ann["gpu-fraction"] = f"{g:g}"
            elif g >= 1:
                limits["nvidia.com/gpu"] = str(int(g))
        if v(spec, "gpuMemory"):
            ann["gpu-memory"] = str(v(spec, "gpuMemory"))
        ann.update(knative_annotations(spec))
        ann.update({k: str(x) for k, x in (iw["metadata"].get("annotations") or {}).items()
                    if k.startswith("sim.gpuconsole.io/")})
        container: Obj = {"image": str(v(spec, "image"))}
        ports = ((spec.get("ports") or {}).get("items") or {}) if isinstance(spec.get("ports"), dict) else {}
        port = next((((p or {}).get("value") or {}).get("container") for p in ports.values()), None)
        if port:
            container["ports"] = [{"containerPort": int(port), "protocol": "TCP"}]
        if limits:
            container["resources"] = {"limits": limits}
        if v(spec, "arguments"):
            container["args"] = str(v(spec, "arguments")).split()
        ksvc = {"apiVersion": KSVCS.api_version, "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": dict(labels),
                             "ownerReferences": [owner_ref(iw)]},
                "spec": {"template": {"metadata": {"labels": dict(labels), "annotations": ann},
                                      "spec": {"schedulerName": SCHEDULER, "priorityClassName": "inference",
                                               "containers": [container]}}}}
        if ensure(self.store, KSVCS, ksvc):
            self.dirty.add((ns, name))
            return True
        k = self.store.try_get(KSVCS, ns, name) or {}
        ready = _ready(k)
        conds = set_condition(conds, "Ready", "True" if ready else "False", "" if ready else "Initializing",
                              "" if ready else "the Knative Service is not ready yet", now)
        status: Obj = {"conditions": conds, "phase": "Running" if ready else "Initializing"}
        if (k.get("status") or {}).get("url"):
            status["url"] = k["status"]["url"]
        return self.write_status(INFERENCEWORKLOADS, iw, status)


def install(cluster: SimCluster) -> InferenceWorkloadController:
    c = InferenceWorkloadController(cluster, EventRecorder(cluster.store, "runai-inference-controller"))
    cluster.add(c)
    cluster.extras[c.name] = c
    return c
