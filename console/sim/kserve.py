"""KServe's InferenceService controller, simulated (serving.kserve.io/v1beta1, predictor only).

From kserve/kserve: the predictor is named `<isvc>-predictor` (pkg/constants/constants.go
`PredictorServiceName`). In Serverless (Knative) mode it is a Knative Service whose revision template
carries the InferenceService's labels and annotations plus `serving.kserve.io/inferenceservice` and
`component: predictor`, and the autoscaling annotations KServe derives from minReplicas, maxReplicas,
scaleMetric and scaleTarget (`SetAutoScalingAnnotations`). In RawDeployment (Standard) mode it is a
Deployment, a Service and an HPA of that name, labelled `app: isvc.<isvc>-predictor`. The mode comes
from the annotation `serving.kserve.io/deploymentMode` (Serverless / Knative, RawDeployment / Standard);
without it, Serverless where Knative is served, else RawDeployment. The user's predictor container is
`kserve-container`. The webhook's "exactly one of [...] must be specified in PredictorSpec" is checked
at admission (pkg/apis/serving/v1beta1/component.go `ExactlyOneErrorFor`).
"""

from __future__ import annotations

import copy
from typing import Any

from console.model import autoscaling as autoscale

from .cluster import SimCluster
from .errors import ApiError
from .knative import _ready, ensure, service_url
from .resources import DEPLOYMENTS, HPAS, ISVCS, KNATIVE_GROUP, KSVCS, SERVICES, ResourceType
from .store import Change, Obj
from .workloads import EventRecorder, _Base, controller_of, owner_ref, set_condition

GROUP = "serving.kserve.io"
ISVC_LABEL = f"{GROUP}/inferenceservice"
MODE_ANNOTATION = f"{GROUP}/deploymentMode"
COMPONENT_LABEL = "component"
CONTAINER = "kserve-container"
# PredictorSpec's implementations, in the order KServe's error message lists them (predictor.go).
IMPLEMENTATIONS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
                   "lightgbm", "paddle", "model")
IMPLEMENTATION_FIELDS = ("SKLearn", "XGBoost", "Tensorflow", "PyTorch", "Triton", "ONNX", "HuggingFace", "PMML",
                         "LightGBM", "Paddle", "Model", "StorageUris", "StorageContainerName", "WorkerSpec",
                         "PodSpec")
RUNTIME_IMAGES = {"sklearn": "kserve/sklearnserver:v0.15.0", "xgboost": "kserve/xgbserver:v0.15.0",
                  "tensorflow": "tensorflow/serving:2.6.2", "pytorch": "pytorch/torchserve-kfs:0.9.0",
                  "triton": "nvcr.io/nvidia/tritonserver:23.05-py3", "onnx": "mcr.microsoft.com/onnxruntime/server:v1.0.0",
                  "huggingface": "kserve/huggingfaceserver:v0.15.0", "pmml": "kserve/pmmlserver:v0.15.0",
                  "lightgbm": "kserve/lgbserver:v0.15.0", "paddle": "kserve/paddleserver:v0.15.0"}
SERVERLESS_MODES = ("Serverless", "Knative")
RAW_MODES = ("RawDeployment", "Standard")


def implementation(pred: Obj) -> tuple[str | None, Obj | None]:
    """(format, its spec) of the predictor's one implementation, ("containers", ...) for a custom one."""
    found = [(k, pred[k]) for k in IMPLEMENTATIONS if isinstance(pred.get(k), dict)]
    if len(found) == 1 and not pred.get("containers"):
        k, v = found[0]
        if k == "model":
            fmt = ((v.get("modelFormat") or {}).get("name")) if isinstance(v.get("modelFormat"), dict) else None
            return (str(fmt) if fmt else None), v
        return k, v
    if not found and isinstance(pred.get("containers"), list) and pred["containers"]:
        return "containers", {"containers": pred["containers"]}
    return None, None


def predictor_problem(isvc: Obj) -> str | None:
    pred = (isvc.get("spec") or {}).get("predictor")
    if not isinstance(pred, dict):
        return "spec.predictor is required"
    found = [k for k in IMPLEMENTATIONS if isinstance(pred.get(k), dict)]
    if len(found) + (1 if pred.get("containers") else 0) != 1:
        return f"exactly one of [{', '.join(IMPLEMENTATION_FIELDS)}] must be specified in PredictorSpec"
    if found == ["model"] and not ((pred["model"].get("modelFormat") or {}).get("name")
                                   if isinstance(pred["model"].get("modelFormat"), dict) else None):
        return "spec.predictor.model.modelFormat.name is required"
    return None


def admission(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
    if rt is not ISVCS or op == "DELETE":
        return
    why = predictor_problem(obj) or "; ".join(autoscale.kserve(obj).problems) or None
    if why:
        raise ApiError(400, f'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the '
                            f'request: {why}', "BadRequest", {"name": (obj.get("metadata") or {}).get("name", ""),
                                                             "group": GROUP, "kind": "InferenceService"})


def _pod_spec(isvc: Obj) -> tuple[Obj, dict[str, str], dict[str, str]]:
    """(pod spec, pod labels, pod annotations) of the predictor."""
    md = isvc["metadata"]
    pred = copy.deepcopy((isvc.get("spec") or {}).get("predictor") or {})
    fmt, impl = implementation(pred)
    skip = set(IMPLEMENTATIONS) | {"minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType",
                                   "autoScaling", "containerConcurrency", "timeout", "canaryTrafficPercent",
                                   "logger", "batcher", "labels", "annotations", "deploymentStrategy", "containers",
                                   "name", "storageUris", "storageContainerName", "workerSpec"}
    spec = {k: v for k, v in pred.items() if k not in skip}
    if fmt == "containers":
        containers = copy.deepcopy(pred["containers"])
        for c in containers:
            c.setdefault("name", CONTAINER)
    else:
        impl = impl or {}
        c: Obj = {"name": CONTAINER, "image": impl.get("image") or RUNTIME_IMAGES.get(str(fmt),
                                                                                    "kserve/custom-server:v0.15.0"),
                  "args": [f"--model_name={md['name']}", "--model_dir=/mnt/models", "--http_port=8080"]}
        if impl.get("resources"):
            c["resources"] = copy.deepcopy(impl["resources"])
        if impl.get("storageUri"):
            c["env"] = [{"name": "STORAGE_URI", "value": str(impl["storageUri"])}]
        c["ports"] = [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
        containers = [c]
    spec["containers"] = containers
    labels = {k: v for k, v in (md.get("labels") or {}).items()}
    labels.update(pred.get("labels") or {})
    labels.update({ISVC_LABEL: md["name"], COMPONENT_LABEL: "predictor"})
    ann = {k: str(v) for k, v in (md.get("annotations") or {}).items()
           if k != "kubectl.kubernetes.io/last-applied-configuration"}
    ann.update({k: str(v) for k, v in (pred.get("annotations") or {}).items()})
    return spec, labels, ann


def mode_of(isvc: Obj, knative_served: bool) -> str:
    m = ((isvc.get("metadata") or {}).get("annotations") or {}).get(MODE_ANNOTATION)
    if m in RAW_MODES:
        return "RawDeployment"
    if m in SERVERLESS_MODES:
        return "Serverless"
    return "Serverless" if knative_served else "RawDeployment"


class InferenceServiceController(_Base):
    name = "kserve-controller"
    rt = ISVCS
    owns_pods = False

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey in (KSVCS.key, DEPLOYMENTS.key, HPAS.key):
            for o in (ch.obj, ch.old):
                ref = controller_of(o) if o else None
                if ref and ref.get("kind") == "InferenceService":
                    self.dirty.add((o["metadata"]["namespace"], ref["name"]))

    def sync(self, isvc: Obj) -> bool:
        md = isvc["metadata"]
        ns, name = md["namespace"], md["name"]
        pname = f"{name}-predictor"
        now = self.store.clock()
        conds = list((isvc.get("status") or {}).get("conditions") or [])
        problem = predictor_problem(isvc)
        if problem:
            conds = set_condition(conds, "PredictorReady", "False", "InvalidPredictor", problem, now)
            conds = set_condition(conds, "Ready", "False", "InvalidPredictor", problem, now)
            return self.write_status(ISVCS, isvc, {"conditions": conds,
                                                   "observedGeneration": md.get("generation", 1)})
        mode = mode_of(isvc, KNATIVE_GROUP not in self.cluster.without)
        pred = (isvc.get("spec") or {}).get("predictor") or {}
        spec, labels, ann = _pod_spec(isvc)
        comp: Obj = {}
        ready = False
        if mode == "Serverless":
            if KNATIVE_GROUP in self.cluster.without:
                msg = "Knative Serving is not installed: use serving.kserve.io/deploymentMode: RawDeployment"
                conds = set_condition(conds, "Ready", "False", "ServerlessModeRejected", msg, now)
                return self.write_status(ISVCS, isvc, {"conditions": conds, "deploymentMode": mode})
            tann = {k: v for k, v in ann.items() if not k.startswith(autoscale.KNATIVE_GROUP)}
            tann.update(autoscale.kserve_annotations(isvc))
            tspec: Obj = dict(spec)
            if pred.get("containerConcurrency") is not None:
                tspec["containerConcurrency"] = pred["containerConcurrency"]
            ksvc = {"apiVersion": KSVCS.api_version, "kind": "Service",
                    "metadata": {"name": pname, "namespace": ns, "labels": dict(labels),
                                 "ownerReferences": [owner_ref(isvc)]},
                    "spec": {"template": {"metadata": {"labels": dict(labels), "annotations": tann},
                                          "spec": tspec}}}
            wrote = ensure(self.store, KSVCS, ksvc)
            if wrote:
                self.dirty.add((ns, name))
                return True
            k = self.store.try_get(KSVCS, ns, pname) or {}
            kst = k.get("status") or {}
            ready = _ready(k)
            comp = {"url": service_url(pname, ns)}
            for src, dst in (("latestCreatedRevisionName", "latestCreatedRevision"),
                             ("latestReadyRevisionName", "latestReadyRevision")):
                if kst.get(src):
                    comp[dst] = kst[src]
            if kst.get("traffic"):
                comp["traffic"] = copy.deepcopy(kst["traffic"])
                comp["latestRolledoutRevision"] = kst.get("latestReadyRevisionName", "")
        else:
            wrote = self._raw(isvc, pname, spec, labels, ann, pred)
            if wrote:
                self.dirty.add((ns, name))
                return True
            d = self.store.try_get(DEPLOYMENTS, ns, pname) or {}
            ready = int((d.get("status") or {}).get("readyReplicas", 0) or 0) > 0
            comp = {"url": f"http://{pname}.{ns}.svc.cluster.local"}
        reason = "" if ready else "PredictorNotReady"
        conds = set_condition(conds, "PredictorReady", "True" if ready else "False", reason,
                              "" if ready else "Predictor is not ready", now)
        conds = set_condition(conds, "Ready", "True" if ready else "False", reason,
                              "" if ready else "Predictor is not ready", now)
        status: Obj = {"observedGeneration": md.get("generation", 1), "conditions": conds,
                       "deploymentMode": mode, "components": {"predictor": comp},
                       "url": service_url(name, ns) if mode == "Serverless" else comp["url"],
                       "address": {"url": f"http://{pname}.{ns}.svc.cluster.local"}}
        return self.write_status(ISVCS, isvc, status)

    def _raw(self, isvc: Obj, pname: str, spec: Obj, labels: dict[str, str], ann: dict[str, str], pred: Obj) -> bool:
        md = isvc["metadata"]
        ns = md["namespace"]
        labels = {**labels, "app": f"isvc.{pname}"}
        cur = self.store.try_get(DEPLOYMENTS, ns, pname)
        scaling = autoscale.kserve(isvc)
        replicas = (cur.get("spec") or {}).get("replicas") if cur else max(1, scaling.min or 1)
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": pname, "namespace": ns, "labels": dict(labels),
                            **({"annotations": dict(ann)} if ann else {}), "ownerReferences": [owner_ref(isvc)]},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": f"isvc.{pname}"}},
                        "template": {"metadata": {"labels": dict(labels), **({"annotations": dict(ann)} if ann else {})},
                                     "spec": spec}}}
        wrote = ensure(self.store, DEPLOYMENTS, dep)
        if self.store.try_get(SERVICES, ns, pname) is None:
            try:
                self.store.create(SERVICES, {
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": pname, "namespace": ns, "labels": dict(labels),
                                 "ownerReferences": [owner_ref(isvc)]},
                    "spec": {"type": "ClusterIP", "selector": {"app": f"isvc.{pname}"},
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
                wrote = True
            except ApiError:
                pass
        metric = pred.get("scaleMetric") or "cpu"
        target = pred.get("scaleTarget") or 80
        if metric in ("cpu", "memory"):
            m: Obj = {"type": "Resource", "resource": {"name": metric, "target": {
                "type": "Utilization", "averageUtilization": int(target)}}}
        else:
            m = {"type": "Pods", "pods": {"metric": {"name": metric},
                                          "target": {"type": "AverageValue", "averageValue": str(target)}}}
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": pname, "namespace": ns, "labels": dict(labels),
                            "ownerReferences": [owner_ref(isvc)]},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": pname},
                        "minReplicas": max(1, scaling.min or 1),
                        "maxReplicas": max(scaling.max or 1, max(1, scaling.min or 1)),
                        "metrics": [m]}}
        return ensure(self.store, HPAS, hpa) or wrote


def install(cluster: SimCluster) -> InferenceServiceController:
    c = InferenceServiceController(cluster, EventRecorder(cluster.store, "kserve-controller"))
    cluster.add(c)
    cluster.extras[c.name] = c
    cluster.store.admission.append(admission)
    return c
