"""Compact records projected from raw API objects: only what the views need, the raw dict is dropped.

A 60,000-pod cluster must fit in a console process of a few hundred MB, so each object is reduced at once
to a slots dataclass. Strings that repeat across objects (namespaces, node names, phases) are interned and
identical label sets are shared, so pods stamped from one template cost one labels dict between them.
Projection never raises on odd field values (they read as unknown); only an object without identity is
rejected, with `BadObject` saying what is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.telemetry.serving_endpoints import ScrapeHint, scrape_hint

from . import autoscaling, podspec
from .autoscaling import ScalingSpec
from .events import parse_time
from .podspec import NO_GPU, GpuRequest
from .quantity import parse_quantity

Obj = dict[str, Any]
PodKey = tuple[str, str]            # (namespace, name)
OwnerKey = tuple[str, str, str]     # (resource key, namespace, name)
WKey = tuple[str, str, str]         # workload: (namespace, kind, name)

GPU_GROUP_LABEL = "runai-gpu-group"
GPU_GROUP_PREFIX = "runai-gpu-group/"       # multi-device fractions: one label per device
RESERVE_ANNOTATION = "run.ai/reserve_for_gpu_index"
PODGROUP_ANNOTATION = "pod-group-name"
RESERVATION_NAMESPACES = frozenset({"kai-resource-reservation", "runai-reservation"})
WORKLOAD_KIND_LABEL = "workloadKind"        # Run:ai: TrainingWorkload, InferenceWorkload, ...
KNATIVE_SERVICE_LABEL = "serving.knative.dev/service"
GPU_QUOTA_KEYS = ("requests.nvidia.com/gpu", "nvidia.com/gpu")

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


class BadObject(ValueError):
    """A raw object the model cannot key (no name, wrong shape); the message says which and why."""


# ----------------------------------------------------------------------------- sharing
_LABEL_SETS: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
_LABEL_SETS_MAX = 200_000
_EMPTY: dict[str, str] = {}


def shared_labels(raw: Any, drop_prefix: str | None = None) -> dict[str, str]:
    """A read-only labels dict, the same object for every equal label set (never mutate it).

    Keys starting with `drop_prefix` are left out; entries that are not string to string are dropped.
    """
    if not isinstance(raw, dict) or not raw:
        return _EMPTY
    if drop_prefix is not None and any(k.startswith(drop_prefix) for k in raw if isinstance(k, str)):
        raw = {k: v for k, v in raw.items() if not (isinstance(k, str) and k.startswith(drop_prefix))}
        if not raw:
            return _EMPTY
    try:
        items = tuple(raw.items())
        hit = _LABEL_SETS.get(items)
    except TypeError:  # an unhashable value: keep only the well-formed entries
        items = tuple((k, v) for k, v in raw.items() if isinstance(k, str) and isinstance(v, str))
        hit = _LABEL_SETS.get(items)
    if hit is None:
        clean = {sys.intern(k): v for k, v in items if isinstance(k, str) and isinstance(v, str)}
        if len(clean) != len(items):
            items = tuple(clean.items())
            hit = _LABEL_SETS.get(items)
            if hit is not None:
                return hit
        if not clean:
            return _EMPTY
        if len(_LABEL_SETS) >= _LABEL_SETS_MAX:
            _LABEL_SETS.clear()  # sharing is an optimisation: start over rather than grow without bound
        hit = _LABEL_SETS[items] = clean
    return hit


def _s(v: Any) -> str:
    return sys.intern(v) if isinstance(v, str) else ""


def _meta(raw: Any, what: str, namespaced: bool) -> tuple[Obj, str, str]:
    if not isinstance(raw, dict):
        raise BadObject(f"{what}: expected an object, got {type(raw).__name__}")
    md = raw.get("metadata")
    if not isinstance(md, dict):
        raise BadObject(f"{what}: object has no metadata")
    name = md.get("name")
    if not isinstance(name, str) or not name:
        raise BadObject(f"{what}: object has no metadata.name")
    ns = md.get("namespace")
    if namespaced and (not isinstance(ns, str) or not ns):
        raise BadObject(f"{what} {name!r}: namespaced object has no metadata.namespace")
    return md, (_s(ns) if namespaced else ""), name


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return _qty(v)


def _qty(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return parse_quantity(v)
    except (ValueError, ZeroDivisionError):
        return None


def _condition(conds: list, ctype: str) -> dict | None:
    for c in conds:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


# ----------------------------------------------------------------------------- owner references
@dataclass(frozen=True, slots=True)
class Ref:
    """An ownerReference: the API group (not version) so references survive version upgrades."""

    kind: str
    group: str
    name: str
    uid: str


_REFS: dict[tuple[str, str, str, str], Ref] = {}


def _ref(r: Any) -> Ref | None:
    if not isinstance(r, dict):
        return None
    kind, name = r.get("kind"), r.get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        return None
    api = r.get("apiVersion") if isinstance(r.get("apiVersion"), str) else ""
    group = api.rpartition("/")[0]
    uid = r.get("uid") if isinstance(r.get("uid"), str) else ""
    key = (kind, group, name, uid)
    hit = _REFS.get(key)
    if hit is None:
        if len(_REFS) >= _LABEL_SETS_MAX:
            _REFS.clear()
        hit = _REFS[key] = Ref(sys.intern(kind), sys.intern(group), name, uid)
    return hit


def controller_ref(md: Obj) -> Ref | None:
    """The ownerReference marked controller, else the first one (what the pod-grouper follows)."""
    refs = _list(md.get("ownerReferences"))
    for r in refs:
        if isinstance(r, dict) and r.get("controller"):
            return _ref(r)
    return _ref(refs[0]) if refs else None


# ----------------------------------------------------------------------------- pods
_GPU_REQUESTS: dict[GpuRequest, GpuRequest] = {}


_GPU_ANNOTATIONS = (podspec.GPU_FRACTION, podspec.GPU_MEMORY, podspec.GPU_NUM_DEVICES, podspec.MPS,
                    podspec.GPU_CONTAINER)
_GPU_BY_SIGNATURE: dict[tuple, tuple[GpuRequest, str | None]] = {}


def _gpu_signature(ann: dict, spec: dict) -> tuple | None:
    """Everything `gpu_request` reads, or None when the pod asks for no GPU at all (the common case)."""
    sig: list = [tuple(ann.get(k) for k in _GPU_ANNOTATIONS)]
    gpu_ish = any(x is not None for x in sig[0])
    for group in ("containers", "initContainers"):
        for c in _list(spec.get(group)):
            c = _dict(c)
            res = _dict(c.get("resources"))
            items = tuple((part, k, v) for part in ("limits", "requests") for k, v in _dict(res.get(part)).items()
                          if isinstance(k, str) and k.startswith("nvidia.com/"))
            gpu_ish = gpu_ish or bool(items)
            sig.append((group, c.get("name"), items))
    return tuple(sig) if gpu_ish else None


def pod_gpu_request(raw: Obj, ann: dict, spec: dict) -> tuple[GpuRequest, str | None]:
    """The pod's GPU request and, when it is invalid, why (then it counts as no GPU)."""
    try:
        sig = _gpu_signature(ann, spec)
        hash(sig)
    except TypeError:  # unhashable junk in the fields: let the parser say what is wrong
        sig = ()
    if sig is None:
        return NO_GPU, None
    hit = _GPU_BY_SIGNATURE.get(sig) if sig else None
    if hit is not None:
        return hit
    try:
        out: tuple[GpuRequest, str | None] = (_shared_gpu(podspec.gpu_request(raw)), None)
    except Exception as e:  # any malformed request reads as "no GPU, and why", never a crash
        out = (NO_GPU, f"invalid GPU request: {e}")
    if sig:
        if len(_GPU_BY_SIGNATURE) >= 10_000:
            _GPU_BY_SIGNATURE.clear()
        _GPU_BY_SIGNATURE[sig] = out
    return out


def _shared_gpu(req: GpuRequest) -> GpuRequest:
    if req is NO_GPU:
        return req
    hit = _GPU_REQUESTS.get(req)
    if hit is None:
        if len(_GPU_REQUESTS) >= 10_000:
            _GPU_REQUESTS.clear()
        hit = _GPU_REQUESTS[req] = req
    return hit


@dataclass(slots=True)
class PodRec:
    """A pod as the views see it. Fields after `sched_message` are resolved by the store, not projected."""

    namespace: str
    name: str
    uid: str
    node: str                      # "" while unbound
    phase: str
    ready: bool
    deleting: bool                 # metadata.deletionTimestamp is set
    deleting_since: float | None   # when the delete was asked: deletionTimestamp less its grace period (epoch s)
    owner: Ref | None
    labels: dict[str, str]         # shared between equal label sets; GPU-group labels are kept apart
    gpu: GpuRequest
    gpu_error: str | None          # the request is invalid: why (counted as no GPU)
    gpu_groups: tuple[str, ...]    # `runai-gpu-group` (one) or `runai-gpu-group/<id>` (multi-device)
    reservation: bool              # lives in a GPU reservation namespace
    reserved_uuid: str | None      # reservation pods: `run.ai/reserve_for_gpu_index` (a GPU UUID)
    podgroup: str | None           # annotation `pod-group-name`
    scheduler: str
    priority_class: str | None     # spec.priorityClassName
    sched_message: str | None      # PodScheduled=False: message (or reason)
    scrape: ScrapeHint | None = None   # where its metrics pages are (inference servers, Knative's queue-proxy)
    # the GPU-group labels as written (label selectors match them; `gpu_groups` is what the views read)
    group_labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # resolved by the store from owners, PodGroups and Queues (not part of equality)
    workload: tuple[str, str, str] | None = field(default=None, compare=False)
    queue: str | None = field(default=None, compare=False)
    pclass: str | None = field(default=None, compare=False)
    preemptible: bool = field(default=True, compare=False)
    key: PodKey = field(init=False, compare=False, repr=False)  # one tuple shared by every index

    def __post_init__(self) -> None:
        self.key = (self.namespace, self.name)

    @property
    def all_labels(self) -> dict[str, str]:
        """Every label the pod carries, GPU-group ones included (what a label selector matches)."""
        return {**self.labels, **dict(self.group_labels)} if self.group_labels else self.labels

    @property
    def live(self) -> bool:
        """Not finished: it holds (or waits for) resources."""
        return self.phase not in TERMINAL_PHASES

    @property
    def terminating(self) -> bool:
        """Being deleted and not finished: it still runs and holds its node and GPU (kubectl: Terminating)."""
        return self.deleting and self.phase not in TERMINAL_PHASES

    @property
    def bound(self) -> bool:
        return bool(self.node) and self.phase not in TERMINAL_PHASES

    @property
    def waiting(self) -> bool:
        """Live and not yet placed on a node: what the scheduler still has to find room for."""
        return not self.node and self.phase not in TERMINAL_PHASES


def pod_record(raw: Any) -> PodRec:
    md, ns, name = _meta(raw, "Pod", namespaced=True)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    raw_labels = _dict(md.get("labels"))
    ann = _dict(md.get("annotations"))
    groups: list[str] = []
    g = raw_labels.get(GPU_GROUP_LABEL)
    if isinstance(g, str) and g:
        groups.append(g)
    for k, v in raw_labels.items():
        if isinstance(k, str) and k.startswith(GPU_GROUP_PREFIX):
            groups.append(v if isinstance(v, str) and v else k[len(GPU_GROUP_PREFIX):])
    gpu, gpu_error = pod_gpu_request(raw, ann, spec)
    ready = False
    sched_msg = None
    for c in _list(status.get("conditions")):
        if not isinstance(c, dict):
            continue
        t = c.get("type")
        if t == "Ready":
            ready = c.get("status") == "True"
        elif t == "PodScheduled" and c.get("status") == "False":
            sched_msg = str(c.get("message") or c.get("reason") or "not scheduled")
    reservation = ns in RESERVATION_NAMESPACES
    if reservation:
        del groups[1:]  # a reservation pod holds exactly one GPU group
    reserved = ann.get(RESERVE_ANNOTATION) if reservation else None
    pg = ann.get(PODGROUP_ANNOTATION)
    pc = spec.get("priorityClassName")
    uid = md.get("uid")
    deleting = bool(md.get("deletionTimestamp"))
    return PodRec(
        namespace=ns, name=name, uid=uid if isinstance(uid, str) else "",
        node=_s(spec.get("nodeName")), phase=_s(status.get("phase")) or "Pending",
        ready=ready,
        deleting=deleting, deleting_since=_deletion_start(md) if deleting else None,
        owner=controller_ref(md),
        labels=shared_labels(raw_labels, drop_prefix=GPU_GROUP_LABEL),
        gpu=gpu, gpu_error=gpu_error, gpu_groups=tuple(dict.fromkeys(groups)),
        reservation=reservation,
        reserved_uuid=reserved if isinstance(reserved, str) and reserved else None,
        podgroup=pg if isinstance(pg, str) and pg else None,
        scheduler=_s(spec.get("schedulerName")),
        priority_class=_s(pc) or None,
        sched_message=sched_msg,
        scrape=scrape_hint(raw) if raw.get("spec") else None,
        group_labels=tuple((k, v) for k, v in raw_labels.items() if isinstance(k, str) and isinstance(v, str)
                           and (k == GPU_GROUP_LABEL or k.startswith(GPU_GROUP_PREFIX))) if groups else (),
    )


def _deletion_start(md: dict) -> float | None:
    """When the delete was asked: the apiserver sets deletionTimestamp to that moment plus the grace period
    (staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go BeforeDelete)."""
    end = parse_time(md.get("deletionTimestamp"))
    if end is None:
        return None
    grace = _int(md.get("deletionGracePeriodSeconds"))
    return end - max(0, grace or 0)


# ----------------------------------------------------------------------------- owners (workload kinds)
@dataclass(frozen=True, slots=True)
class OwnerKind:
    """A resource that can own pods: where it is stored and how its desired replicas read."""

    key: str        # resource key, as informers name it: `deployments.apps`
    group: str
    kind: str


OWNER_KINDS: tuple[OwnerKind, ...] = tuple(OwnerKind(k, g, kd) for k, g, kd in (
    ("deployments.apps", "apps", "Deployment"),
    ("replicasets.apps", "apps", "ReplicaSet"),
    ("statefulsets.apps", "apps", "StatefulSet"),
    ("daemonsets.apps", "apps", "DaemonSet"),
    ("jobs.batch", "batch", "Job"),
    ("cronjobs.batch", "batch", "CronJob"),
    ("services.serving.knative.dev", "serving.knative.dev", "Service"),
    ("configurations.serving.knative.dev", "serving.knative.dev", "Configuration"),
    ("revisions.serving.knative.dev", "serving.knative.dev", "Revision"),
    ("inferenceworkloads.run.ai", "run.ai", "InferenceWorkload"),
    ("inferenceservices.serving.kserve.io", "serving.kserve.io", "InferenceService"),
    ("runaijobs.run.ai", "run.ai", "RunaiJob"),
    ("trainingworkloads.run.ai", "run.ai", "TrainingWorkload"),
    ("interactiveworkloads.run.ai", "run.ai", "InteractiveWorkload"),
    ("distributedworkloads.run.ai", "run.ai", "DistributedWorkload"),
    ("jobsets.jobset.x-k8s.io", "jobset.x-k8s.io", "JobSet"),
    ("pytorchjobs.kubeflow.org", "kubeflow.org", "PyTorchJob"),
    ("mpijobs.kubeflow.org", "kubeflow.org", "MPIJob"),
    ("notebooks.kubeflow.org", "kubeflow.org", "Notebook"),
    ("leaderworkersets.leaderworkerset.x-k8s.io", "leaderworkerset.x-k8s.io", "LeaderWorkerSet"),
))
OWNER_BY_KEY: dict[str, OwnerKind] = {o.key: o for o in OWNER_KINDS}
OWNER_BY_GROUP_KIND: dict[tuple[str, str], OwnerKind] = {(o.group, o.kind): o for o in OWNER_KINDS}


@dataclass(slots=True)
class OwnerRec:
    """A pod owner (Deployment, ReplicaSet, Job, Knative Service, Run:ai workload...)."""

    rkey: str                       # resource key
    kind: str
    group: str
    namespace: str
    name: str
    uid: str
    owner: Ref | None
    labels: dict[str, str]
    desired: int | None             # replicas it wants running now; None when the kind does not say
    finished: str | None            # "Completed" / "Failed" from its conditions
    template_gpu: GpuRequest | None  # what one replica asks, read from the pod template
    template_labels: dict[str, str]   # the pod template's labels (queue and priority before pods exist)
    template_pclass: str | None       # the pod template's spec.priorityClassName
    template_scheduler: str           # the pod template's spec.schedulerName
    created: str
    # serving (Knative, KServe, Run:ai inference): what its autoscaler is told and reports
    scaling: ScalingSpec | None = None
    scale_desired: int | None = None      # a Revision's status.desiredReplicas
    scale_actual: int | None = None       # a Revision's status.actualReplicas
    traffic: tuple[tuple[str, int], ...] = ()   # a Knative Service's (InferenceService's) revision → percent
    problems: tuple[str, ...] = ()        # what the object says is wrong (a predictor without a model, ...)
    slo: tuple[tuple[str, str], ...] = ()  # its `gpuconsole.io/slo-*` annotations (console.model.slo reads them)

    @property
    def key(self) -> OwnerKey:
        return (self.rkey, self.namespace, self.name)


def _replicas(v: Any, default: int = 1) -> int:
    n = _int(v)
    return default if n is None else max(0, n)


def _desired(kind: str, spec: dict, status: dict) -> int | None:
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return _replicas(spec.get("replicas"))
    if kind == "Job":
        par = _replicas(spec.get("parallelism"))
        comp = _int(spec.get("completions"))
        if comp is not None:
            succeeded = _int(status.get("succeeded")) or 0
            par = min(par, max(0, comp - succeeded))
        return par
    if kind in ("PyTorchJob", "MPIJob"):
        specs = _dict(spec.get("pytorchReplicaSpecs") or spec.get("mpiReplicaSpecs"))
        return sum(_replicas(_dict(s).get("replicas")) for s in specs.values()) if specs else None
    if kind == "JobSet":
        total = 0
        for rj in _list(spec.get("replicatedJobs")):
            rj = _dict(rj)
            par = _replicas(_dict(_dict(_dict(rj.get("template")).get("spec"))).get("parallelism"))
            total += _replicas(rj.get("replicas")) * par
        return total
    return None


def _finished(status: dict) -> str | None:
    for c in _list(status.get("conditions")):
        if not isinstance(c, dict) or c.get("status") != "True":
            continue
        t = c.get("type")
        if t in ("Complete", "Completed", "Succeeded"):
            return "Completed"
        if t == "Failed":
            return "Failed"
    return None


def _template_gpu(spec: dict) -> GpuRequest | None:
    tpl = spec.get("template")
    if not isinstance(tpl, dict) or not isinstance(tpl.get("spec"), dict):
        return None
    try:
        return _shared_gpu(podspec.gpu_request({"metadata": _dict(tpl.get("metadata")), "spec": tpl["spec"]}))
    except Exception:  # a template the parser cannot read: per-replica GPUs unknown
        return None


def _traffic(status: dict) -> tuple[tuple[str, int], ...]:
    out = []
    for t in _list(status.get("traffic")):
        t = _dict(t)
        pct = _int(t.get("percent"))
        if isinstance(t.get("revisionName"), str) and pct is not None:
            out.append((t["revisionName"], pct))
    return tuple(out)


def _serving(ok: OwnerKind, raw: dict, md: dict, spec: dict, status: dict
             ) -> tuple[ScalingSpec | None, int | None, int | None, tuple[tuple[str, int], ...], tuple[str, ...]]:
    """(scaling, revision desired, revision actual, traffic, problems) of a serving object."""
    problems: list[str] = []
    scaling = None
    if ok.kind == "Service" and ok.group == "serving.knative.dev":
        tann = _dict(_dict(_dict(spec.get("template")).get("metadata")).get("annotations"))
        scaling = autoscaling.knative(tann)
        return scaling, None, None, _traffic(status), scaling.problems
    if ok.kind == "Revision":
        scaling = autoscaling.knative(_dict(md.get("annotations")))
        return scaling, _int(status.get("desiredReplicas")), _int(status.get("actualReplicas")), (), ()
    if ok.kind == "InferenceService":
        scaling = autoscaling.kserve(raw)
        why = kserve_predictor_problem(spec)
        if why:
            problems.append(why)
        pred_status = _dict(_dict(status.get("components")).get("predictor"))
        return scaling, None, None, _traffic(pred_status), tuple(problems) + scaling.problems
    if ok.kind == "InferenceWorkload":
        scaling = autoscaling.runai(raw)
        return scaling, None, None, (), scaling.problems
    return None, None, None, (), ()


# KServe PredictorSpec's implementations (kserve/kserve pkg/apis/serving/v1beta1/predictor.go)
KSERVE_IMPLEMENTATIONS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
                          "lightgbm", "paddle", "model")


def kserve_predictor_problem(spec: dict) -> str | None:
    """Why an InferenceService's predictor names no model to serve, or None."""
    pred = spec.get("predictor")
    if not isinstance(pred, dict):
        return "spec.predictor is missing: the InferenceService serves nothing"
    found = [k for k in KSERVE_IMPLEMENTATIONS if isinstance(pred.get(k), dict)]
    if pred.get("containers"):
        found.append("containers")
    if not found:
        return "the predictor names no model (none of model, sklearn, tensorflow, pytorch, triton, ... or containers)"
    if len(found) > 1:
        return f"the predictor names several models ({', '.join(found)}); KServe takes exactly one"
    if found == ["model"] and not _dict(_dict(pred["model"]).get("modelFormat")).get("name"):
        return "the predictor's model has no modelFormat.name"
    return None


SLO_PREFIX = "gpuconsole.io/slo-"


def owner_record(rkey: str, raw: Any) -> OwnerRec:
    ok = OWNER_BY_KEY[rkey]
    md, ns, name = _meta(raw, ok.kind, namespaced=True)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    uid, created = md.get("uid"), md.get("creationTimestamp")
    tpl = _dict(spec.get("template"))
    tpl_spec = _dict(tpl.get("spec"))
    tpl_pc = tpl_spec.get("priorityClassName")
    scaling, s_desired, s_actual, traffic, problems = _serving(ok, raw, md, spec, status)
    return OwnerRec(
        rkey=ok.key, kind=ok.kind, group=ok.group, namespace=ns, name=name,
        uid=uid if isinstance(uid, str) else "", owner=controller_ref(md),
        labels=shared_labels(md.get("labels")), desired=_desired(ok.kind, spec, status),
        finished=_finished(status), template_gpu=_template_gpu(spec),
        template_labels=shared_labels(_dict(tpl.get("metadata")).get("labels")),
        template_pclass=_s(tpl_pc) or None, template_scheduler=_s(tpl_spec.get("schedulerName")),
        created=created if isinstance(created, str) else "",
        scaling=scaling, scale_desired=s_desired, scale_actual=s_actual, traffic=traffic, problems=problems,
        slo=tuple(sorted((k, str(v)) for k, v in _dict(md.get("annotations")).items()
                         if isinstance(k, str) and k.startswith(SLO_PREFIX))),
    )


# ----------------------------------------------------------------------------- horizontal pod autoscalers
@dataclass(slots=True)
class HpaRec:
    """An autoscaling/v2 HorizontalPodAutoscaler: its target, bounds and metric, and what it last decided."""

    namespace: str
    name: str
    target_kind: str
    target_group: str
    target_name: str
    scaling: ScalingSpec
    current: int | None             # status.currentReplicas
    desired: int | None             # status.desiredReplicas
    problems: tuple[str, ...]       # spec problems and False conditions (a missing target, no metrics)

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)

    @property
    def target(self) -> tuple[str, str, str]:
        return (self.namespace, self.target_kind, self.target_name)


def hpa_record(raw: Any) -> HpaRec:
    md, ns, name = _meta(raw, "HorizontalPodAutoscaler", namespaced=True)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    ref = _dict(spec.get("scaleTargetRef"))
    scaling = autoscaling.hpa(raw)
    problems = list(scaling.problems)
    if not ref.get("kind") or not ref.get("name"):
        problems.append("spec.scaleTargetRef names no kind and name")
    for c in _list(status.get("conditions")):
        c = _dict(c)
        if c.get("type") in ("AbleToScale", "ScalingActive") and c.get("status") == "False" \
                and c.get("reason") != "ScalingDisabled":
            problems.append(f"{c.get('reason')}: {c.get('message')}")
    api = ref.get("apiVersion") if isinstance(ref.get("apiVersion"), str) else ""
    return HpaRec(namespace=ns, name=name, target_kind=_s(ref.get("kind")), target_group=api.rpartition("/")[0],
                  target_name=str(ref.get("name") or ""), scaling=scaling,
                  current=_int(status.get("currentReplicas")), desired=_int(status.get("desiredReplicas")),
                  problems=tuple(problems))


# ----------------------------------------------------------------------------- queues
@dataclass(slots=True)
class QueueRec:
    """A KAI Queue: a project (leaf) or department (parent). GPU figures in devices; None = not set."""

    name: str
    parent: str | None
    display_name: str | None
    priority: int
    quota_gpu: float | None
    limit_gpu: float | None
    over_quota_weight: float | None
    allocated_gpu: float | None          # status.* as the queue controller reports them
    allocated_nonpreemptible_gpu: float | None
    requested_gpu: float | None
    status_reported: bool
    conditions: tuple[str, ...]          # condition types that are True: Orphan, OverQuota
    created: str = ""                    # metadata.creationTimestamp (KAI's last tie-break)


def _status_gpu(status: dict, field_name: str) -> float | None:
    rl = status.get(field_name)
    if not isinstance(rl, dict):
        return None
    v = rl.get(podspec.GPU_RESOURCE)
    return 0.0 if v is None else _qty(v)


def queue_record(raw: Any) -> QueueRec:
    md, _, name = _meta(raw, "Queue", namespaced=False)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    gpu = _dict(_dict(spec.get("resources")).get("gpu"))
    parent = spec.get("parentQueue")
    display = spec.get("displayName")
    prio = _int(spec.get("priority"))
    conds = tuple(sorted(str(c.get("type")) for c in _list(status.get("conditions"))
                         if isinstance(c, dict) and c.get("status") == "True" and c.get("type")))
    reported = any(isinstance(status.get(k), dict)
                   for k in ("allocated", "allocatedNonPreemptible", "requested"))
    return QueueRec(
        name=name, parent=parent if isinstance(parent, str) and parent else None,
        display_name=display if isinstance(display, str) and display else None,
        priority=100 if prio is None else prio,
        quota_gpu=_num(gpu.get("quota")), limit_gpu=_num(gpu.get("limit")),
        over_quota_weight=_num(gpu.get("overQuotaWeight")),
        allocated_gpu=_status_gpu(status, "allocated"),
        allocated_nonpreemptible_gpu=_status_gpu(status, "allocatedNonPreemptible"),
        requested_gpu=_status_gpu(status, "requested"),
        status_reported=reported, conditions=conds,
        created=md.get("creationTimestamp") if isinstance(md.get("creationTimestamp"), str) else "",
    )


# ----------------------------------------------------------------------------- podgroups
@dataclass(slots=True)
class PodGroupRec:
    """A KAI PodGroup: the gang, its preemptibility and the scheduler's reasons for keeping it pending."""

    namespace: str
    name: str
    queue: str | None
    priority_class: str | None
    preemptibility: str | None
    min_member: int
    reasons: tuple[str, ...]      # "Reason: message" from status.schedulingConditions[].reasons[]

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)


def podgroup_record(raw: Any) -> PodGroupRec:
    md, ns, name = _meta(raw, "PodGroup", namespaced=True)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    reasons: list[str] = []
    for sc in _list(status.get("schedulingConditions")):
        for r in _list(_dict(sc).get("reasons")):
            r = _dict(r)
            reason, message = r.get("reason"), r.get("message")
            text = ": ".join(str(x) for x in (reason, message) if x)
            if text and text not in reasons:
                reasons.append(text)
    pre = spec.get("preemptibility")
    q, pc = spec.get("queue"), spec.get("priorityClassName")
    return PodGroupRec(
        namespace=ns, name=name, queue=q if isinstance(q, str) and q else None,
        priority_class=pc if isinstance(pc, str) and pc else None,
        preemptibility=pre if pre in (podspec.PREEMPTIBLE, podspec.NON_PREEMPTIBLE) else None,
        min_member=_replicas(spec.get("minMember")), reasons=tuple(reasons),
    )


# ----------------------------------------------------------------------------- nodes
@dataclass(slots=True)
class NodeRec:
    """A node's GPU facts from GPU feature discovery labels and the device plugin's allocatable."""

    name: str
    gpu_product: str | None
    gpu_memory_mib: int | None
    gpu_count: int | None
    mig_capacity: int              # MIG devices allocatable (all profiles)
    ready: bool | None
    cordoned: bool


def node_record(raw: Any) -> NodeRec:
    md, _, name = _meta(raw, "Node", namespaced=False)
    spec, status = _dict(raw.get("spec")), _dict(raw.get("status"))
    labels = _dict(md.get("labels"))
    alloc = _dict(status.get("allocatable"))
    count = _int(labels.get("nvidia.com/gpu.count"))
    if count is None:
        q = _qty(alloc.get(podspec.GPU_RESOURCE))
        count = int(q) if q is not None else None
    mem = _int(labels.get(podspec.GPU_MEMORY_LABEL))
    mig = 0
    for k, v in alloc.items():
        if isinstance(k, str) and k.startswith(podspec.MIG_PREFIX):
            mig += int(_qty(v) or 0)
    rc = _condition(_list(status.get("conditions")), "Ready")
    product = labels.get("nvidia.com/gpu.product")
    return NodeRec(
        name=name, gpu_product=_s(product) or None,
        gpu_memory_mib=mem if mem and mem > 0 else None,
        gpu_count=max(0, count) if count is not None else None, mig_capacity=mig,
        ready=None if rc is None else rc.get("status") == "True",
        cordoned=spec.get("unschedulable") is True,
    )


# ----------------------------------------------------------------------------- services and quotas
@dataclass(slots=True)
class ServiceRec:
    """A core Service: the selector tells which pods it fronts."""

    namespace: str
    name: str
    selector: dict[str, str]        # empty: selects nothing (ExternalName, headless without selector)
    type: str
    ports: tuple[int, ...]

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)

    def selects(self, labels: Mapping[str, str]) -> bool:
        sel = self.selector
        return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def service_record(raw: Any) -> ServiceRec:
    md, ns, name = _meta(raw, "Service", namespaced=True)
    spec = _dict(raw.get("spec"))
    ports = tuple(p for p in (_int(_dict(x).get("port")) for x in _list(spec.get("ports"))) if p is not None)
    return ServiceRec(namespace=ns, name=name, selector=shared_labels(spec.get("selector")),
                      type=_s(spec.get("type")) or "ClusterIP", ports=ports)


@dataclass(slots=True)
class QuotaRec:
    """A ResourceQuota's GPU line: without KAI, a namespace with one is a project."""

    namespace: str
    name: str
    hard_gpu: float | None
    used_gpu: float | None

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)


def quota_record(raw: Any) -> QuotaRec:
    md, ns, name = _meta(raw, "ResourceQuota", namespaced=True)
    hard = _dict(_dict(raw.get("spec")).get("hard"))
    used = _dict(_dict(raw.get("status")).get("used"))
    h = u = None
    for k in GPU_QUOTA_KEYS:
        if k in hard:
            h, u = _qty(hard[k]), _qty(used.get(k)) if k in used else None
            break
    return QuotaRec(namespace=ns, name=name, hard_gpu=h, used_gpu=u)


def pending_shape(p: PodRec) -> tuple[str, float] | None:
    """What a waiting pod needs of one GPU, for the fragmentation check; None if it needs no GPU."""
    if not p.waiting or p.reservation:
        return None
    g = p.gpu
    if g.kind == "fraction":
        return ("fraction", g.portion)
    if g.kind == "memory":
        return ("memory", float(g.memory_mib))
    if g.kind == "whole":
        return ("whole", 1.0)
    return None
