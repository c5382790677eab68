"""The API resources the simulated apiserver serves, with the discovery facts kubectl relies on."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    list_kind: str = ""
    extra_versions: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """Storage key: `pods`, `deployments.apps`, `queues.scheduling.run.ai`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool, **kw) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, **kw)


RUNAI_GROUP = "scheduling.run.ai"
KNATIVE_GROUP = "serving.knative.dev"
KSERVE_GROUP = "serving.kserve.io"
RUNAI_WORKLOAD_GROUP = "run.ai"
# Groups served by CustomResourceDefinitions: no strategic merge patch, as the apiserver says for CRs.
CUSTOM_GROUPS = frozenset({RUNAI_GROUP, KNATIVE_GROUP, KSERVE_GROUP, RUNAI_WORKLOAD_GROUP})
# Optional add-ons a cluster may be built without (`make_cluster(without=...)`): then not discovered.
OPTIONAL_GROUPS = frozenset({KNATIVE_GROUP, KSERVE_GROUP, RUNAI_WORKLOAD_GROUP})

RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    _rt("", "v1", "namespaces", "Namespace", False, short_names=("ns",), subresources=("status",)),
    _rt("", "v1", "nodes", "Node", False, short_names=("no",), subresources=("status", "proxy")),
    _rt("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",),
        subresources=("status", "eviction", "log", "binding", "proxy")),
    _rt("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",),
        subresources=("status", "proxy")),
    _rt("", "v1", "endpoints", "Endpoints", True, short_names=("ep",), singular="endpoints"),
    _rt("", "v1", "events", "Event", True, short_names=("ev",)),
    _rt("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    _rt("", "v1", "resourcequotas", "ResourceQuota", True, short_names=("quota",), subresources=("status",)),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    # apps/v1
    _rt("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",), categories=("all",),
        subresources=("status", "scale")),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",), categories=("all",),
        subresources=("status", "scale")),
    _rt("apps", "v1", "statefulsets", "StatefulSet", True, short_names=("sts",), categories=("all",),
        subresources=("status", "scale")),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=("all",),
        subresources=("status",)),
    # batch/v1
    _rt("batch", "v1", "jobs", "Job", True, categories=("all",), subresources=("status",)),
    # discovery.k8s.io/v1
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    # scheduling.k8s.io/v1
    _rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
    # policy/v1
    _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, short_names=("pdb",),
        subresources=("status",)),
    # autoscaling/v2 (the HorizontalPodAutoscaler)
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, short_names=("hpa",),
        categories=("all",), subresources=("status",)),
    # Knative Serving (config/core/300-resources/*.yaml in knative/serving: names, short names, categories)
    _rt(KNATIVE_GROUP, "v1", "services", "Service", True, short_names=("kservice", "ksvc"),
        categories=("all", "knative", "serving"), subresources=("status",)),
    _rt(KNATIVE_GROUP, "v1", "configurations", "Configuration", True, short_names=("config", "cfg"),
        categories=("all", "knative", "serving"), subresources=("status",)),
    _rt(KNATIVE_GROUP, "v1", "revisions", "Revision", True, short_names=("rev",),
        categories=("all", "knative", "serving"), subresources=("status",)),
    _rt(KNATIVE_GROUP, "v1", "routes", "Route", True, short_names=("rt",),
        categories=("all", "knative", "serving"), subresources=("status",)),
    # KServe (config/crd/full/serving.kserve.io_inferenceservices.yaml in kserve/kserve)
    _rt(KSERVE_GROUP, "v1beta1", "inferenceservices", "InferenceService", True, short_names=("isvc",),
        subresources=("status",)),
    # Run:ai's inference workload (run-ai/docs docs/developer/cluster-api/reference/inference.md)
    _rt(RUNAI_WORKLOAD_GROUP, "v2alpha1", "inferenceworkloads", "InferenceWorkload", True,
        subresources=("status",)),
    # KAI Scheduler / Run:ai
    _rt(RUNAI_GROUP, "v2", "queues", "Queue", False, short_names=("q",), subresources=("status",)),
    _rt(RUNAI_GROUP, "v2alpha2", "podgroups", "PodGroup", True, short_names=("pg",), subresources=("status",)),
    _rt(RUNAI_GROUP, "v1alpha2", "bindrequests", "BindRequest", True, subresources=("status",)),
    # authorization.k8s.io/v1
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
        verbs=CREATE_ONLY),
    _rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
        verbs=CREATE_ONLY),
    # authentication.k8s.io/v1 (`kubectl auth whoami`)
    _rt("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=CREATE_ONLY),
    # apiextensions.k8s.io/v1
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
        short_names=("crd", "crds"), subresources=("status",)),
)

# Virtual resources: reviews are answered, never stored.
VIRTUAL = frozenset({"selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io",
                     "selfsubjectreviews.authentication.k8s.io"})

def is_custom(rt: ResourceType) -> bool:
    return rt.group in CUSTOM_GROUPS


BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCES}
BY_GVR: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return BY_GVR.get((group, version, plural))


def for_kind(api_version: str, kind: str) -> ResourceType | None:
    return BY_KIND.get((api_version, kind))


def for_key(key: str) -> ResourceType:
    return BY_KEY[key]


def groups(hidden: frozenset[str] | set[str] = frozenset()) -> dict[str, list[str]]:
    """Group name → versions served, preferred version first (core group and `hidden` groups excluded)."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if not r.group or r.group in hidden:
            continue
        vs = out.setdefault(r.group, [])
        if r.version not in vs:
            vs.append(r.version)
    return out


# Shorthands used throughout the simulator and its tests.
NAMESPACES = BY_KEY["namespaces"]
NODES = BY_KEY["nodes"]
PODS = BY_KEY["pods"]
SERVICES = BY_KEY["services"]
ENDPOINTS = BY_KEY["endpoints"]
EVENTS = BY_KEY["events"]
CONFIGMAPS = BY_KEY["configmaps"]
RESOURCEQUOTAS = BY_KEY["resourcequotas"]
DEPLOYMENTS = BY_KEY["deployments.apps"]
REPLICASETS = BY_KEY["replicasets.apps"]
STATEFULSETS = BY_KEY["statefulsets.apps"]
DAEMONSETS = BY_KEY["daemonsets.apps"]
JOBS = BY_KEY["jobs.batch"]
ENDPOINTSLICES = BY_KEY["endpointslices.discovery.k8s.io"]
PRIORITYCLASSES = BY_KEY["priorityclasses.scheduling.k8s.io"]
PDBS = BY_KEY["poddisruptionbudgets.policy"]
QUEUES = BY_KEY["queues.scheduling.run.ai"]
PODGROUPS = BY_KEY["podgroups.scheduling.run.ai"]
BINDREQUESTS = BY_KEY["bindrequests.scheduling.run.ai"]
CRDS = BY_KEY["customresourcedefinitions.apiextensions.k8s.io"]
HPAS = BY_KEY["horizontalpodautoscalers.autoscaling"]
KSVCS = BY_KEY["services.serving.knative.dev"]
KCONFIGS = BY_KEY["configurations.serving.knative.dev"]
KREVISIONS = BY_KEY["revisions.serving.knative.dev"]
KROUTES = BY_KEY["routes.serving.knative.dev"]
ISVCS = BY_KEY["inferenceservices.serving.kserve.io"]
INFERENCEWORKLOADS = BY_KEY["inferenceworkloads.run.ai"]
