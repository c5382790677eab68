"""Object builders shared by every scenario: the cluster's fixed furniture, nodes, queues and workloads.

Each builder returns a plain manifest shaped as KAI / Run:ai / the GPU Operator write it (labels and
annotations exactly theirs, see kai-datamodel.md), so the demo, a YAML scenario and the large bulk
load all produce the objects a console meets on a real cluster.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .gpus import gfd_labels

Obj = dict[str, Any]

SCHEDULER = "kai-scheduler"
QUEUE_LABEL = "kai.scheduler/queue"
RUNAI_QUEUE_LABEL = "runai/queue"
RUN_SECONDS = "sim.gpuconsole.io/run-seconds"
UTIL_ANNOTATION = "run.ai/simulated-gpu-utilization"
AUTOSCALE_ANNOTATION = "sim.gpuconsole.io/autoscale"
EXPORTER_NS = "gpu-operator"
EXPORTER_NAME = "nvidia-dcgm-exporter"
EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.8-3.6.0-ubuntu22.04"
# KAI's scheduler as its operator deploys the default shard: Deployment `kai-scheduler-default`, pods
# labelled `app=kai-scheduler-default`, metrics on :8080 (pkg/operator/operands/scheduler/
# resources_for_shard.go, pkg/apis/kai/v1/scheduler/scheduler.go).
KAI_NS = "kai-scheduler"
KAI_SCHEDULER_APP = "kai-scheduler-default"
KAI_SCHEDULER_IMAGE = "ghcr.io/nvidia/kai-scheduler/scheduler:v0.9.3"
KAI_METRICS_PORT = 8080

BASE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "kai-resource-reservation",
                   "gpu-operator", "kai-scheduler")

# KAI's shipped classes, then the Run:ai >= 2.22 names (kai-datamodel.md section 4).
PRIORITY_CLASSES: tuple[tuple[str, int, str], ...] = (
    ("train", 50, "KAI: preemptible training workloads"),
    ("build-preemptible", 75, "KAI: preemptible interactive build workloads"),
    ("build", 100, "KAI: interactive build workloads, not preemptible"),
    ("inference", 125, "KAI: inference workloads, not preemptible"),
    ("very-low", 25, "Run:ai: very low priority (preemptible)"),
    ("low", 40, "Run:ai: low priority (preemptible)"),
    ("medium-low", 65, "Run:ai: medium-low priority (preemptible)"),
    ("medium", 80, "Run:ai: medium priority (preemptible)"),
    ("medium-high", 90, "Run:ai: medium-high priority (preemptible)"),
    ("high", 125, "Run:ai: high priority (non-preemptible)"),
    ("very-high", 150, "Run:ai: very high priority (non-preemptible)"),
)

# GPU product → (CPU cores, memory GiB) of the host it usually ships in.
HOSTS: dict[str, tuple[int, int]] = {
    "NVIDIA-H100-80GB-HBM3": (224, 2048),
    "NVIDIA-A100-SXM4-40GB": (256, 1024),
    "NVIDIA-A100-SXM4-80GB": (256, 2048),
    "NVIDIA-L40S": (64, 512),
    "Tesla-T4": (32, 128),
}


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def priority_class(name: str, value: int, description: str) -> Obj:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority",
            "description": description}


def crd(plural: str, kind: str, scope: str, versions: list[str], short: list[str], columns: list[Obj],
        group: str = "scheduling.run.ai", categories: list[str] | None = None) -> Obj:
    names: Obj = {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
                  **({"shortNames": short} if short else {}), **({"categories": categories} if categories else {})}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "annotations": {"controller-gen.kubebuilder.io/version": "v0.16.5"}},
        "spec": {
            "group": group, "scope": scope, "names": names,
            "versions": [{"name": v, "served": True, "storage": i == 0,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}},
                          "subresources": {"status": {}},
                          **({"additionalPrinterColumns": columns} if columns and i == 0 else {})}
                         for i, v in enumerate(versions)],
        },
        "status": {"acceptedNames": dict(names),
                   "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                   "message": "no conflicts found"},
                                  {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                   "message": "the initial names have been accepted"}],
                   "storedVersions": [versions[0]]},
    }


def kai_crds() -> list[Obj]:
    return [
        crd("queues", "Queue", "Cluster", ["v2"], ["q"], [
            {"name": "Priority", "type": "integer", "jsonPath": ".spec.priority"},
            {"name": "Parent", "type": "string", "jsonPath": ".spec.parentQueue"},
            {"name": "Children", "type": "string", "jsonPath": ".status.childQueues"},
            {"name": "DisplayName", "type": "string", "jsonPath": ".spec.displayName"}]),
        crd("podgroups", "PodGroup", "Namespaced", ["v2alpha2"], ["pg"], []),
        crd("bindrequests", "BindRequest", "Namespaced", ["v1alpha2"], [], []),
    ]


_READY = ".status.conditions[?(@.type=='Ready')]"
_KN_CATEGORIES = ["all", "knative", "serving"]


def knative_crds() -> list[Obj]:
    """Knative Serving's CRDs as knative/serving config/core/300-resources/*.yaml declares them."""
    g = "serving.knative.dev"
    ready = [{"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
             {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason"}]
    latest = [{"name": "LatestCreated", "type": "string", "jsonPath": ".status.latestCreatedRevisionName"},
              {"name": "LatestReady", "type": "string", "jsonPath": ".status.latestReadyRevisionName"}]
    url = [{"name": "URL", "type": "string", "jsonPath": ".status.url"}]
    return [
        crd("services", "Service", "Namespaced", ["v1"], ["kservice", "ksvc"], url + latest + ready, g,
            _KN_CATEGORIES),
        crd("configurations", "Configuration", "Namespaced", ["v1"], ["config", "cfg"], latest + ready, g,
            _KN_CATEGORIES),
        crd("revisions", "Revision", "Namespaced", ["v1"], ["rev"], [
            {"name": "Config Name", "type": "string",
             "jsonPath": ".metadata.labels['serving\\.knative\\.dev/configuration']"},
            {"name": "Generation", "type": "string",
             "jsonPath": ".metadata.labels['serving\\.knative\\.dev/configurationGeneration']"},
            *ready,
            {"name": "Actual Replicas", "type": "integer", "jsonPath": ".status.actualReplicas"},
            {"name": "Desired Replicas", "type": "integer", "jsonPath": ".status.desiredReplicas"}], g,
            _KN_CATEGORIES),
        crd("routes", "Route", "Namespaced", ["v1"], ["rt"], url + ready, g, _KN_CATEGORIES),
    ]


def kserve_crds() -> list[Obj]:
    """KServe's InferenceService CRD (kserve/kserve config/crd/full/serving.kserve.io_inferenceservices.yaml)."""
    tr = ".status.components.predictor.traffic"
    return [crd("inferenceservices", "InferenceService", "Namespaced", ["v1beta1"], ["isvc"], [
        {"name": "URL", "type": "string", "jsonPath": ".status.url"},
        {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
        {"name": "Prev", "type": "integer", "jsonPath": f"{tr}[?(@.tag=='prev')].percent"},
        {"name": "Latest", "type": "integer", "jsonPath": f"{tr}[?(@.latestRevision==true)].percent"},
        {"name": "PrevRolledoutRevision", "type": "string", "jsonPath": f"{tr}[?(@.tag=='prev')].revisionName"},
        {"name": "LatestReadyRevision", "type": "string",
         "jsonPath": f"{tr}[?(@.latestRevision==true)].revisionName"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}], "serving.kserve.io")]


def runai_crds() -> list[Obj]:
    """Run:ai's InferenceWorkload (run.ai/v2alpha1; run-ai/docs docs/developer/cluster-api/reference/inference.md)."""
    return [crd("inferenceworkloads", "InferenceWorkload", "Namespaced", ["v2alpha1"], [], [], "run.ai")]


def queue(name: str, parent: str | None, gpu_quota: float, gpu_limit: float = -1, weight: float = 1,
          priority: int | None = None, display: str | None = None) -> Obj:
    spec: Obj = {"resources": {
        "gpu": {"quota": gpu_quota, "limit": gpu_limit, "overQuotaWeight": weight},
        "cpu": {"quota": -1, "limit": -1, "overQuotaWeight": weight},
        "memory": {"quota": -1, "limit": -1, "overQuotaWeight": weight},
    }}
    if parent:
        spec["parentQueue"] = parent
    if priority is not None:
        spec["priority"] = priority
    if display:
        spec["displayName"] = display
    return {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": name}, "spec": spec}


def default_queues() -> list[Obj]:
    """`default-parent-queue` / `default-queue`, as KAI's quickstart installs them."""
    zero = {"quota": 0, "limit": -1, "overQuotaWeight": 1}
    res = {"cpu": dict(zero), "gpu": dict(zero), "memory": dict(zero)}
    return [{"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": "default-parent-queue"},
             "spec": {"resources": res}},
            {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": "default-queue"},
             "spec": {"parentQueue": "default-parent-queue",
                      "resources": {k: dict(v) for k, v in res.items()}}}]


def _hex(*parts: Any, n: int = 32) -> str:
    return hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()[:n]


def node(name: str, product: str, gpus: int, index: int, pool: str | None = None,
         cpu: int | None = None, memory_gi: int | None = None) -> Obj:
    """A GPU worker as kubelet, GPU feature discovery and the device plugin leave it."""
    host_cpu, host_mem = HOSTS.get(product, (64, 512))
    cpu = cpu or host_cpu
    mem_ki = (memory_gi or host_mem) * 1024 * 1024
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
              "node-role.kubernetes.io/gpu-worker": "", **gfd_labels(product, gpus)}
    if pool:
        labels["run.ai/simulated-gpu-node-pool"] = pool
    third, fourth = divmod(index, 250)
    capacity = {"cpu": str(cpu), "memory": f"{mem_ki}Ki", "pods": "110", "nvidia.com/gpu": str(gpus),
                "ephemeral-storage": "1843200000Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    allocatable = dict(capacity, cpu=f"{cpu * 1000 - 500}m", memory=f"{mem_ki - 4 * 1024 * 1024}Ki")
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": f"10.{128 + third}.{fourth}.0/24", "podCIDRs": [f"10.{128 + third}.{fourth}.0/24"]},
        "status": {
            "capacity": capacity, "allocatable": allocatable,
            "conditions": [
                _node_cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available"),
                _node_cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                _node_cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                _node_cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": f"10.0.{third}.{fourth + 2}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": _uuidish(name, "boot"),
                         "containerRuntimeVersion": "containerd://1.7.22", "kernelVersion": "5.15.0-122-generic",
                         "kubeProxyVersion": "v1.30.5", "kubeletVersion": "v1.30.5",
                         "machineID": _hex(name, "machine"), "operatingSystem": "linux",
                         "osImage": "Ubuntu 22.04.5 LTS", "systemUUID": _uuidish(name, "system")},
        },
    }


_NODE_COND_TIME = "2026-01-01T00:00:00Z"


def _node_cond(t: str, status: str, reason: str, message: str) -> Obj:
    return {"type": t, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": _NODE_COND_TIME, "lastTransitionTime": _NODE_COND_TIME}


def _uuidish(*parts: Any) -> str:
    h = _hex(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def exporter_daemonset() -> Obj:
    labels = {"app": EXPORTER_NAME}
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": EXPORTER_NAME, "namespace": EXPORTER_NS,
                     "labels": {"app": EXPORTER_NAME, "app.kubernetes.io/managed-by": "gpu-operator"}},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": dict(labels)}, "spec": exporter_pod_spec()}},
    }


def exporter_pod_spec() -> Obj:
    return {
        "nodeSelector": {"nvidia.com/gpu.deploy.dcgm-exporter": "true"},
        "serviceAccountName": EXPORTER_NAME, "priorityClassName": "system-node-critical",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{
            "name": EXPORTER_NAME, "image": EXPORTER_IMAGE,
            "env": [{"name": "DCGM_EXPORTER_LISTEN", "value": ":9400"},
                    # 5 s collect interval (the default is 30 s) so the demo's history moves visibly.
                    {"name": "DCGM_EXPORTER_INTERVAL", "value": "5000"},
                    {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                    {"name": "DCGM_EXPORTER_COLLECTORS", "value": "/etc/dcgm-exporter/dcp-metrics-included.csv"}],
            "ports": [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}],
        }],
    }


def exporter_service() -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": EXPORTER_NAME, "namespace": EXPORTER_NS, "labels": {"app": EXPORTER_NAME},
                         "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"type": "ClusterIP", "selector": {"app": EXPORTER_NAME},
                     "ports": [{"name": "gpu-metrics", "port": 9400, "targetPort": 9400, "protocol": "TCP"}]}}


def kai_scheduler_deployment() -> Obj:
    labels = {"app": KAI_SCHEDULER_APP}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": KAI_SCHEDULER_APP, "namespace": KAI_NS, "labels": dict(labels)},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)}, "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"name": KAI_SCHEDULER_APP, "labels": dict(labels)}, "spec": {
                     "serviceAccountName": SCHEDULER,
                     "containers": [{
                         "name": KAI_SCHEDULER_APP, "image": KAI_SCHEDULER_IMAGE, "imagePullPolicy": "IfNotPresent",
                         "args": ["--scheduler-conf=/etc/config/config.yaml", f"--scheduler-name={SCHEDULER}",
                                  f"--namespace={KAI_NS}", "--queue-label-key=kai.scheduler/queue",
                                  f"--listen-address=:{KAI_METRICS_PORT}"],
                         "env": [{"name": "GOGC", "value": "400"},
                                 {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                         "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                     }]}}},
    }


def kai_scheduler_service() -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": KAI_SCHEDULER_APP, "namespace": KAI_NS, "labels": {"app": KAI_SCHEDULER_APP},
                         "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"clusterIP": "None", "selector": {"app": KAI_SCHEDULER_APP},
                     "ports": [{"name": "http-metrics", "port": KAI_METRICS_PORT, "targetPort": KAI_METRICS_PORT,
                                "protocol": "TCP"}]}}


# ---------------------------------------------------------------- workloads
def queue_labels(queue_name: str, runai_style: bool) -> dict[str, str]:
    """The queue label a workload carries: KAI's, or the Run:ai generation's (`runai/queue` + `project`)."""
    if runai_style:
        return {RUNAI_QUEUE_LABEL: queue_name, "project": queue_name}
    return {QUEUE_LABEL: queue_name}


def _gpu_bits(gpu: float | None, gpu_memory: int | None) -> tuple[dict[str, str], dict[str, str]]:
    """(pod annotations, container limits) for a GPU request: fraction / memory by annotation, whole by limit."""
    ann: dict[str, str] = {}
    limits: dict[str, str] = {}
    if gpu_memory:
        ann["gpu-memory"] = str(int(gpu_memory))
    elif gpu:
        if gpu < 1:
            ann["gpu-fraction"] = f"{gpu:g}"
        else:
            limits["nvidia.com/gpu"] = str(int(gpu))
    return ann, limits


VLLM_IMAGE = "vllm/vllm-openai:v0.10.1"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.12-py3"
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.4"


def server_container(image: str, model: str | None, name: str = "server", knative: bool = False) -> Obj:
    """An inference server's container as its docs run it: vLLM on 8000; Triton's HTTP 8000, gRPC 8001 and
    metrics 8002 with its latency histogram on (`--metrics-config=histogram_latencies=true`); TGI on its
    image's port 80. A Knative container declares one port (the one requests go to)."""
    low = image.lower()
    model = model or "meta-llama/Llama-3.1-8B-Instruct"
    if "tritonserver" in low:
        ports = [{"name": "http", "containerPort": 8000, "protocol": "TCP"},
                 {"name": "grpc", "containerPort": 8001, "protocol": "TCP"},
                 {"name": "metrics", "containerPort": 8002, "protocol": "TCP"}]
        c: Obj = {"name": name, "image": image, "command": ["tritonserver"],
                  "args": ["--model-repository=/models", f"--load-model={model.rsplit('/', 1)[-1]}",
                           "--model-control-mode=explicit", "--metrics-config=histogram_latencies=true"],
                  "ports": ports, "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8000},
                                                     "periodSeconds": 10}}
    elif "text-generation-inference" in low:
        c = {"name": name, "image": image, "args": ["--model-id", model],
             "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
             "readinessProbe": {"httpGet": {"path": "/health", "port": 80}, "periodSeconds": 10}}
    else:
        c = {"name": name, "image": image, "args": ["--model", model, "--port", "8000"],
             "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
             "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10}}
    if knative:
        c.pop("name", None)
        c.pop("readinessProbe", None)
        c["ports"] = [{"containerPort": c["ports"][0]["containerPort"]}]
    return c


def inference_deployment(name: str, ns: str, queue_name: str, replicas: int = 1, gpu: float | None = 1,
                         gpu_memory: int | None = None, priority: str = "inference", image: str | None = None,
                         utilization: str | None = None, autoscale: tuple[int, int] | None = None,
                         runai_style: bool = False, model: str | None = None) -> Obj:
    ann, limits = _gpu_bits(gpu, gpu_memory)
    if utilization:
        ann[UTIL_ANNOTATION] = utilization
    qlabels = queue_labels(queue_name, runai_style)
    dep_ann = {AUTOSCALE_ANNOTATION: f"{autoscale[0]}-{autoscale[1]}"} if autoscale else {}
    container = server_container(image or VLLM_IMAGE, model)
    container["resources"] = {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"memory": "32Gi", **limits}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"app": name, **qlabels, "priorityClassName": priority},
                     **({"annotations": dep_ann} if dep_ann else {})},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name, **qlabels}, **({"annotations": ann} if ann else {})},
                "spec": {"schedulerName": SCHEDULER, "priorityClassName": priority, "containers": [container],
                         "terminationGracePeriodSeconds": 30},
            },
        },
    }


def service_for(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"type": "ClusterIP", "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}}


def training_job(name: str, ns: str, queue_name: str, gpus: float = 1, parallelism: int = 1,
                 completions: int | None = None, run_seconds: int | None = None, priority: str = "train",
                 gpu_memory: int | None = None, image: str | None = None, utilization: str | None = None,
                 runai_style: bool = False, backoff_limit: int = 3) -> Obj:
    ann, limits = _gpu_bits(gpus, gpu_memory)
    if run_seconds:
        ann[RUN_SECONDS] = str(int(run_seconds))
    if utilization:
        ann[UTIL_ANNOTATION] = utilization
    qlabels = queue_labels(queue_name, runai_style)
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"app": name, **qlabels, "priorityClassName": priority}},
        "spec": {
            "parallelism": parallelism, "completions": completions if completions is not None else parallelism,
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": {"app": name, **qlabels}, **({"annotations": ann} if ann else {})},
                "spec": {"schedulerName": SCHEDULER, "priorityClassName": priority, "restartPolicy": "Never",
                         "containers": [{
                             "name": "trainer", "image": image or "nvcr.io/nvidia/pytorch:24.08-py3",
                             "command": ["torchrun", "--nproc-per-node=auto", "train.py"],
                             "resources": {"requests": {"cpu": "8", "memory": "64Gi"},
                                           "limits": {"memory": "64Gi", **limits}}}]},
            },
        },
    }


def interactive_deployment(name: str, ns: str, queue_name: str, gpu: float = 1, priority: str = "build",
                           utilization: str | None = "0-2", runai_style: bool = False) -> Obj:
    """A notebook: one replica at `build` priority, mostly idle (the classic allocated-but-unused GPU)."""
    d = inference_deployment(name, ns, queue_name, 1, gpu, None, priority, "jupyter/pytorch-notebook:2024-10-07",
                             utilization, None, runai_style)
    c = d["spec"]["template"]["spec"]["containers"][0]
    c.update({"name": "notebook", "args": ["start-notebook.py", "--NotebookApp.token=''"],
              "ports": [{"name": "http", "containerPort": 8888, "protocol": "TCP"}]})
    c.pop("readinessProbe", None)
    d["metadata"]["labels"]["workloadKind"] = "InteractiveWorkload"
    return d


# ---------------------------------------------------------------- serving (autoscaled inference)
PEAK_RPS = "sim.gpuconsole.io/peak-rps"
LATENCY_MS = "sim.gpuconsole.io/latency-ms"
REPLICA_RPS = "sim.gpuconsole.io/replica-rps"
SERVINGS = ("deployment", "hpa", "knative", "kserve", "kserve-raw", "runai")


IDLE_BELOW = "sim.gpuconsole.io/idle-below"


def _load_annotations(peak_rps: float | None, latency_ms: float | None = None,
                      replica_rps: float | None = None, idle_below: float | None = None) -> dict[str, str]:
    """The load model's parameters for a demo service (console.sim.serving_load)."""
    out = {}
    for k, v in ((PEAK_RPS, peak_rps), (LATENCY_MS, latency_ms), (REPLICA_RPS, replica_rps),
                 (IDLE_BELOW, idle_below)):
        if v is not None:
            out[k] = f"{v:g}"
    return out


def _knative_scaling(auto: dict[str, Any]) -> dict[str, str]:
    ann = {"autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
           "autoscaling.knative.dev/metric": str(auto.get("metric") or "concurrency")}
    for key, field in (("min-scale", "min"), ("max-scale", "max"), ("target", "target")):
        if auto.get(field) is not None:
            ann[f"autoscaling.knative.dev/{key}"] = f"{auto[field]:g}" if isinstance(auto[field], float) \
                else str(auto[field])
    return ann


def knative_service(name: str, ns: str, queue_name: str, gpu: float | None = 1, gpu_memory: int | None = None,
                    priority: str = "inference", image: str | None = None, model: str | None = None,
                    autoscale: dict[str, Any] | None = None, runai_style: bool = False,
                    load: dict[str, str] | None = None) -> Obj:
    """A Knative Service serving a model on KAI, its scaling in the revision template's annotations."""
    ann, limits = _gpu_bits(gpu, gpu_memory)
    ann.update(_knative_scaling(autoscale or {}))
    ann.update(load or {})
    qlabels = queue_labels(queue_name, runai_style)
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {**qlabels, "priorityClassName": priority}},
            "spec": {"template": {
                "metadata": {"labels": dict(qlabels), "annotations": ann},
                "spec": {"schedulerName": SCHEDULER, "priorityClassName": priority,
                         "containers": [{**server_container(image or VLLM_IMAGE, model, knative=True),
                                         "resources": {"requests": {"cpu": "4", "memory": "32Gi"},
                                                       "limits": {"memory": "32Gi", **limits}}}]}}}}


def inference_service(name: str, ns: str, queue_name: str, gpu: float | None = 1, priority: str = "inference",
                      model_format: str = "huggingface", storage_uri: str | None = None,
                      autoscale: dict[str, Any] | None = None, raw: bool = False, runai_style: bool = False,
                      load: dict[str, str] | None = None) -> Obj:
    """A KServe InferenceService whose predictor runs on KAI (scheduler and queue label on the predictor)."""
    auto = autoscale or {}
    ann, limits = _gpu_bits(gpu, None)
    qlabels = queue_labels(queue_name, runai_style)
    pred: Obj = {"schedulerName": SCHEDULER, "priorityClassName": priority,
                 "model": {"modelFormat": {"name": model_format},
                           "storageUri": storage_uri or f"hf://{name}",
                           "resources": {"requests": {"cpu": "2", "memory": "16Gi"},
                                         "limits": {"memory": "16Gi", **limits}}}}
    for k, f in (("minReplicas", "min"), ("maxReplicas", "max"), ("scaleTarget", "target"),
                 ("scaleMetric", "metric")):
        if auto.get(f) is not None:
            pred[k] = auto[f]
    if ann:
        pred["annotations"] = ann
    md_ann = {"serving.kserve.io/deploymentMode": "RawDeployment" if raw else "Serverless", **(load or {})}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": ns, "labels": {**qlabels, "priorityClassName": priority},
                         "annotations": md_ann},
            "spec": {"predictor": pred}}


def inference_workload(name: str, ns: str, gpu: float | None = 1, image: str | None = None,
                       autoscale: dict[str, Any] | None = None, port: int = 8000,
                       load: dict[str, str] | None = None) -> Obj:
    """A Run:ai InferenceWorkload (run.ai/v2alpha1, values wrapped in `value`)."""
    auto = autoscale or {}
    spec: Obj = {"name": {"value": name}, "image": {"value": image or VLLM_IMAGE},
                 "ports": {"items": {"port1": {"value": {"container": port}}}}}
    if gpu is not None:
        spec["gpu"] = {"value": f"{gpu:g}"}
    for k, f in (("minScale", "min"), ("maxScale", "max"), ("metric", "metric"), ("target", "target")):
        if auto.get(f) is not None:
            spec[k] = {"value": auto[f]}
    md: Obj = {"name": name, "namespace": ns}
    if load:
        md["annotations"] = dict(load)
    return {"apiVersion": "run.ai/v2alpha1", "kind": "InferenceWorkload", "metadata": md, "spec": spec}


def hpa_for(name: str, ns: str, lo: int, hi: int, metric: str = "cpu", target: float = 70) -> Obj:
    """An autoscaling/v2 HPA on a Deployment: cpu utilisation, or a per-pod custom metric."""
    if metric in ("cpu", "memory"):
        m: Obj = {"type": "Resource", "resource": {"name": metric, "target": {
            "type": "Utilization", "averageUtilization": int(target)}}}
    else:
        m = {"type": "Pods", "pods": {"metric": {"name": metric},
                                      "target": {"type": "AverageValue", "averageValue": f"{target:g}"}}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": lo, "maxReplicas": hi, "metrics": [m]}}
