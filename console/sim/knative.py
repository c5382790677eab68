"""Knative Serving, simulated: Service → Configuration + Route, Configuration → Revision, Revision →
Deployment and its Kubernetes Services, with the names, labels and status Knative writes.

From knative/serving: a Revision is `<configuration>-<generation, 5 digits>`
(pkg/reconciler/configuration/resources/revision.go), its Deployment `<revision>-deployment`
(pkg/reconciler/revision/resources/names/names.go); the Deployment and its pods carry the revision's
labels plus `serving.knative.dev/revision`, `serving.knative.dev/revisionUID` and `app: <revision>`
(resources/meta.go `makeLabels`), and no `autoscaling.knative.dev/*` annotations (`deploymentAnnotations`);
the user's container is `user-container` when unnamed and a `queue-proxy` sidecar runs beside it. The
Route puts a Kubernetes Service `<service>` in front; the revision gets `<revision>` and
`<revision>-private` (here owned by the Revision; Knative routes them through a ServerlessService).

The Knative webhook's annotation checks (pkg/apis/autoscaling/annotation_validation.go) run at admission,
so `kubectl apply` of a Service with `min-scale: "-1"` is refused with Knative's own wording. Scaling
belongs to the autoscaler (`console.sim.kpa`), which writes the Deployment's replicas and the Revision's
actual/desired replicas.
"""

from __future__ import annotations

import copy
from typing import Any

from console.model import autoscaling as autoscale

from .cluster import SimCluster
from .errors import ApiError
from .resources import DEPLOYMENTS, KCONFIGS, KREVISIONS, KROUTES, KSVCS, SERVICES, ResourceType
from .store import Change, Obj
from .workloads import EventRecorder, _Base, controller_of, owner_ref, set_condition

GROUP = "serving.knative.dev"
SERVICE_LABEL = f"{GROUP}/service"
SERVICE_UID_LABEL = f"{GROUP}/serviceUID"
CONFIG_LABEL = f"{GROUP}/configuration"
CONFIG_UID_LABEL = f"{GROUP}/configurationUID"
CONFIG_GEN_LABEL = f"{GROUP}/configurationGeneration"
REVISION_LABEL = f"{GROUP}/revision"
REVISION_UID_LABEL = f"{GROUP}/revisionUID"
ROUTE_LABEL = f"{GROUP}/route"
ROUTING_STATE_LABEL = f"{GROUP}/routingState"
USER_CONTAINER = "user-container"
QUEUE_CONTAINER = "queue-proxy"
QUEUE_IMAGE = "gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.16.0"
DOMAIN = "example.com"  # Knative's default domain when none is configured (config-domain)


def service_url(name: str, ns: str) -> str:
    return f"http://{name}.{ns}.{DOMAIN}"


# ---------------------------------------------------------------- admission (the Knative webhook)
def _field_errors(ann: dict[str, Any]) -> list[str]:
    spec = autoscale.knative(ann)
    return list(spec.problems)


def admission(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
    """Refuse autoscaling annotations Knative's webhook refuses, saying which and why."""
    if op == "DELETE" or rt not in (KSVCS, KCONFIGS, KREVISIONS):
        return
    if rt is KREVISIONS:
        ann = (obj.get("metadata") or {}).get("annotations") or {}
    else:
        ann = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    errs = _field_errors(ann) if isinstance(ann, dict) else ["annotations must be a map"]
    if errs:
        name = (obj.get("metadata") or {}).get("name", "")
        where = "metadata.annotations" if rt is KREVISIONS else "spec.template.metadata.annotations"
        raise ApiError(400, f'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
                            f'validation failed: {"; ".join(errs)}: {where}', "BadRequest",
                       {"name": name, "group": GROUP, "kind": rt.kind})


# ---------------------------------------------------------------- helpers
def ensure(store: Any, rt: ResourceType, want: Obj) -> bool:
    """Create `want`, or bring the existing object's spec, labels and annotations to it; True if written."""
    md = want["metadata"]
    cur = store.try_get(rt, md.get("namespace"), md["name"])
    if cur is None:
        store.create(rt, want)
        return True
    cmd = cur["metadata"]
    keys = [k for k in want if k not in ("metadata", "status", "apiVersion", "kind")]
    # Admission defaults fields we never set (container ports' protocol, pod-spec defaults): what we
    # want must be contained in what is stored, not equal to it.
    if all(_within(want[k], cur.get(k)) for k in keys) and (cmd.get("labels") or {}) == (md.get("labels") or {}) \
            and _within(md.get("annotations") or {}, cmd.get("annotations") or {}):
        return False

    def put(o: Obj) -> None:
        for k in keys:
            o[k] = copy.deepcopy(want[k])
        o["metadata"]["labels"] = dict(md.get("labels") or {})
        if md.get("annotations"):
            o["metadata"]["annotations"] = dict(md["annotations"])
        else:
            o["metadata"].pop("annotations", None)
    store.mutate(rt, md.get("namespace"), md["name"], put)
    return True


def _within(want: Any, have: Any) -> bool:
    """`want` is contained in `have`: every key of a mapping present and within, lists element by element."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_within(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(_within(a, b) for a, b in zip(want, have))
    return want == have


def _ready(obj: Obj | None) -> bool:
    for c in ((obj or {}).get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _cond(conds: list[Obj], ctype: str, ok: bool | None, reason: str, message: str, now: str) -> list[Obj]:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return set_condition(conds, ctype, status, reason if not ok else "", message if not ok else "", now)


def _children(store: Any, owner: Obj, rt: ResourceType) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    out = []
    for rkey, ns, name in store.children_of(uid):
        if rkey == rt.key:
            o = store.try_get(rt, ns, name)
            if o is not None:
                out.append(o)
    return out


def _owned_by(obj: Obj | None, kind: str) -> str | None:
    ref = controller_of(obj) if obj else None
    return ref["name"] if ref and ref.get("kind") == kind and str(ref.get("apiVersion", "")).startswith(GROUP) \
        else None


class _KBase(_Base):
    owns_pods = False
    children_rt: ResourceType | None = None
    child_kind = ""

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if self.children_rt is not None and ch.rkey == self.children_rt.key:
            for o in (ch.obj, ch.old):
                ref = controller_of(o) if o else None
                if ref and ref.get("kind") == self.rt.kind and str(ref.get("apiVersion", "")).startswith(
                        self.rt.group):
                    self.dirty.add((o["metadata"].get("namespace", ""), ref["name"]))


# ---------------------------------------------------------------- Service
class ServiceController(_KBase):
    name = "knative-service-controller"
    rt = KSVCS
    children_rt = KCONFIGS

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey == KROUTES.key:
            for o in (ch.obj, ch.old):
                n = _owned_by(o, "Service")
                if n:
                    self.dirty.add((o["metadata"]["namespace"], n))

    def sync(self, svc: Obj) -> bool:
        md = svc["metadata"]
        ns, name = md["namespace"], md["name"]
        spec = svc.get("spec") or {}
        labels = {**(md.get("labels") or {}), SERVICE_LABEL: name, SERVICE_UID_LABEL: md["uid"]}
        template = copy.deepcopy(spec.get("template") or {})
        cfg = {"apiVersion": KCONFIGS.api_version, "kind": "Configuration",
               "metadata": {"name": name, "namespace": ns, "labels": labels,
                            "annotations": dict(md.get("annotations") or {}), "ownerReferences": [owner_ref(svc)]},
               "spec": {"template": template}}
        traffic = copy.deepcopy(spec.get("traffic") or [{"latestRevision": True, "percent": 100}])
        for t in traffic:
            if t.get("latestRevision") is None and not t.get("revisionName"):
                t["latestRevision"] = True
        route = {"apiVersion": KROUTES.api_version, "kind": "Route",
                 "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(svc)]},
                 "spec": {"traffic": traffic}}
        if not cfg["metadata"]["annotations"]:
            del cfg["metadata"]["annotations"]
        wrote = ensure(self.store, KCONFIGS, cfg)
        wrote |= ensure(self.store, KROUTES, route)
        if wrote:
            self.dirty.add((ns, name))
            return True
        c = self.store.try_get(KCONFIGS, ns, name) or {}
        r = self.store.try_get(KROUTES, ns, name) or {}
        cst, rst = c.get("status") or {}, r.get("status") or {}
        now = self.store.clock()
        conds = list((svc.get("status") or {}).get("conditions") or [])
        conds = _cond(conds, "ConfigurationsReady", _ready(c), "RevisionMissing",
                      f"Configuration {name!r} does not have any ready Revision.", now)
        conds = _cond(conds, "RoutesReady", _ready(r), "RevisionMissing",
                      f"Route {name!r} is not ready.", now)
        ready = _ready(c) and _ready(r)
        conds = _cond(conds, "Ready", ready, "RevisionMissing",
                      f"Configuration {name!r} does not have any ready Revision.", now)
        status: Obj = {"observedGeneration": md.get("generation", 1), "conditions": conds}
        for k in ("latestCreatedRevisionName", "latestReadyRevisionName"):
            if cst.get(k):
                status[k] = cst[k]
        for k in ("url", "address", "traffic"):
            if rst.get(k):
                status[k] = rst[k]
        return self.write_status(KSVCS, svc, status)


# ---------------------------------------------------------------- Configuration
def revision_name(cfg: Obj) -> str:
    tname = (((cfg.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("name")
    return tname or f"{cfg['metadata']['name']}-{int(cfg['metadata'].get('generation', 1)):05d}"


class ConfigurationController(_KBase):
    name = "knative-configuration-controller"
    rt = KCONFIGS
    children_rt = KREVISIONS

    def sync(self, cfg: Obj) -> bool:
        md = cfg["metadata"]
        ns = md["namespace"]
        template = copy.deepcopy(((cfg.get("spec") or {}).get("template")) or {})
        tmd = template.get("metadata") or {}
        rname = revision_name(cfg)
        wrote = False
        if self.store.try_get(KREVISIONS, ns, rname) is None:
            labels = {**(tmd.get("labels") or {}), CONFIG_LABEL: md["name"], CONFIG_UID_LABEL: md["uid"],
                      CONFIG_GEN_LABEL: str(md.get("generation", 1)), ROUTING_STATE_LABEL: "active"}
            for k in (SERVICE_LABEL, SERVICE_UID_LABEL):
                if (md.get("labels") or {}).get(k):
                    labels[k] = md["labels"][k]
            rev = {"apiVersion": KREVISIONS.api_version, "kind": "Revision",
                   "metadata": {"name": rname, "namespace": ns, "labels": labels,
                                "annotations": dict(tmd.get("annotations") or {}),
                                "ownerReferences": [owner_ref(cfg)]},
                   "spec": template.get("spec") or {}}
            if not rev["metadata"]["annotations"]:
                del rev["metadata"]["annotations"]
            try:
                self.store.create(KREVISIONS, rev)
            except ApiError as e:
                self.events.record(cfg, "CreationFailed", f"Failed to create Revision: {e.message}", "Warning")
                return False
            self.events.record(cfg, "Created", f"Created Revision {rname!r}")
            wrote = True
        revs = sorted(_children(self.store, cfg, KREVISIONS),
                      key=lambda r: int((r["metadata"].get("labels") or {}).get(CONFIG_GEN_LABEL, "0") or 0))
        latest_ready = next((r["metadata"]["name"] for r in reversed(revs) if _ready(r)), None)
        now = self.store.clock()
        conds = _cond(list((cfg.get("status") or {}).get("conditions") or []), "Ready",
                      latest_ready == rname if latest_ready else None, "RevisionMissing",
                      f"Configuration {md['name']!r} is waiting for a Revision to become ready.", now)
        status: Obj = {"observedGeneration": md.get("generation", 1), "latestCreatedRevisionName": rname,
                       "conditions": conds}
        if latest_ready:
            status["latestReadyRevisionName"] = latest_ready
        return self.write_status(KCONFIGS, cfg, status) or wrote


# ---------------------------------------------------------------- Revision
def _user_containers(spec: Obj) -> list[Obj]:
    cs = copy.deepcopy(spec.get("containers") or [])
    for i, c in enumerate(cs):
        if not c.get("name"):
            c["name"] = USER_CONTAINER if len(cs) == 1 else f"{USER_CONTAINER}-{i}"
    return cs


def _queue_proxy(port: int | None) -> Obj:
    return {"name": QUEUE_CONTAINER, "image": QUEUE_IMAGE,
            "ports": [{"name": "http-queueadm", "containerPort": 8022, "protocol": "TCP"},
                      {"name": "http-autometric", "containerPort": 9090, "protocol": "TCP"},
                      {"name": "http-usermetric", "containerPort": 9091, "protocol": "TCP"},
                      {"name": "queue-port", "containerPort": 8012, "protocol": "TCP"}],
            "env": [{"name": "USER_PORT", "value": str(port or 8080)}],
            "resources": {"requests": {"cpu": "25m"}}}


def initial_scale(rev: Obj) -> int:
    spec = autoscale.knative((rev.get("metadata") or {}).get("annotations") or {})
    init = spec.initial if spec.initial is not None else 1
    return max(init, spec.min or 0)


class RevisionController(_KBase):
    name = "knative-revision-controller"
    rt = KREVISIONS
    children_rt = DEPLOYMENTS

    def sync(self, rev: Obj) -> bool:
        md = rev["metadata"]
        ns, name = md["namespace"], md["name"]
        spec = rev.get("spec") or {}
        labels = {k: v for k, v in (md.get("labels") or {}).items() if k not in (ROUTE_LABEL, ROUTING_STATE_LABEL)}
        labels.update({REVISION_LABEL: name, REVISION_UID_LABEL: md["uid"]})
        labels.setdefault("app", name)
        ann = {k: v for k, v in (md.get("annotations") or {}).items() if not k.startswith(autoscale.KNATIVE_GROUP)}
        containers = _user_containers(spec)
        if containers:  # resources/meta.go DefaultContainerAnnotationName: what `kubectl logs` picks
            ann["kubectl.kubernetes.io/default-container"] = containers[0]["name"]
        port = next((p.get("containerPort") for c in containers for p in c.get("ports") or []), None)
        pod_spec = {k: copy.deepcopy(v) for k, v in spec.items()
                    if k not in ("containers", "containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
                                 "idleTimeoutSeconds")}
        pod_spec["containers"] = containers + [_queue_proxy(port)]
        pod_spec.setdefault("terminationGracePeriodSeconds", int(spec.get("timeoutSeconds") or 300))
        dname = f"{name}-deployment"
        cur = self.store.try_get(DEPLOYMENTS, ns, dname)
        replicas = (cur.get("spec") or {}).get("replicas") if cur else initial_scale(rev)
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": dname, "namespace": ns, "labels": labels,
                            **({"annotations": dict(ann)} if ann else {}), "ownerReferences": [owner_ref(rev)]},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {REVISION_UID_LABEL: md["uid"]}},
                        "progressDeadlineSeconds": 600,
                        "strategy": {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                        "template": {"metadata": {"labels": dict(labels), **({"annotations": dict(ann)} if ann else {})},
                                     "spec": pod_spec}}}
        wrote = ensure(self.store, DEPLOYMENTS, dep)
        for sname, selector in ((name, None), (f"{name}-private", {REVISION_UID_LABEL: md["uid"]})):
            svc: Obj = {"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": sname, "namespace": ns,
                                     "labels": {k: labels[k] for k in labels if k.startswith(GROUP)},
                                     "ownerReferences": [owner_ref(rev)]},
                        "spec": {"type": "ClusterIP",
                                 "ports": [{"name": "http", "port": 80, "targetPort": 8012, "protocol": "TCP"}]}}
            if selector:
                svc["spec"]["selector"] = selector
            if self.store.try_get(SERVICES, ns, sname) is None:
                try:
                    self.store.create(SERVICES, svc)
                    wrote = True
                except ApiError:
                    pass
        if wrote:
            self.dirty.add((ns, name))
            return True
        d = self.store.try_get(DEPLOYMENTS, ns, dname) or {}
        dst = d.get("status") or {}
        want = (d.get("spec") or {}).get("replicas", 0)
        ready_n = int(dst.get("readyReplicas", 0) or 0)
        now = self.store.clock()
        old = rev.get("status") or {}
        conds = list(old.get("conditions") or [])
        # Ready once the revision has served (or may serve from zero); Active while replicas run.
        became_ready = _ready(rev) or ready_n > 0
        conds = _cond(conds, "ResourcesAvailable", became_ready or None, "Deploying", "", now)
        conds = _cond(conds, "ContainerHealthy", became_ready or None, "Deploying", "", now)
        conds = _cond(conds, "Ready", became_ready or None, "Deploying", "", now)
        active = want > 0
        conds = _cond(conds, "Active", active if (active or became_ready) else None, "NoTraffic",
                      "The target is not receiving traffic.", now)
        status: Obj = {"observedGeneration": md.get("generation", 1), "conditions": conds,
                       "actualReplicas": ready_n,
                       "desiredReplicas": old.get("desiredReplicas", want),
                       "containerStatuses": [{"name": c["name"], "imageDigest": c.get("image", "")}
                                             for c in containers]}
        return self.write_status(KREVISIONS, rev, status)


# ---------------------------------------------------------------- Route
class RouteController(_KBase):
    name = "knative-route-controller"
    rt = KROUTES

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey in (KREVISIONS.key, KCONFIGS.key):
            labels = (ch.obj.get("metadata") or {}).get("labels") or {}
            name = labels.get(CONFIG_LABEL) if ch.rkey == KREVISIONS.key else ch.obj["metadata"]["name"]
            if name:
                self.dirty.add((ch.obj["metadata"].get("namespace", ""), name))

    def sync(self, route: Obj) -> bool:
        md = route["metadata"]
        ns, name = md["namespace"], md["name"]
        cfg = self.store.try_get(KCONFIGS, ns, name) or {}
        latest = (cfg.get("status") or {}).get("latestReadyRevisionName")
        traffic_out: list[Obj] = []
        ok = True
        for t in (route.get("spec") or {}).get("traffic") or []:
            rname = t.get("revisionName") or (latest if t.get("latestRevision", True) else None)
            if not rname or not _ready(self.store.try_get(KREVISIONS, ns, rname)):
                ok = False
                continue
            entry = {"revisionName": rname, "latestRevision": bool(t.get("latestRevision", not t.get("revisionName"))),
                     "percent": int(t.get("percent", 100) or 0)}
            if t.get("tag"):
                entry["tag"] = t["tag"]
                entry["url"] = f"http://{t['tag']}-{name}.{ns}.{DOMAIN}"
            traffic_out.append(entry)
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": ns, "labels": {ROUTE_LABEL: name},
                            "ownerReferences": [owner_ref(route)]},
               "spec": {"type": "ExternalName", "externalName": "kourier-internal.kourier-system.svc.cluster.local",
                        "ports": [{"name": "http2", "port": 80, "targetPort": 80, "protocol": "TCP"}],
                        "sessionAffinity": "None"}}
        wrote = False
        if self.store.try_get(SERVICES, ns, name) is None:
            try:
                self.store.create(SERVICES, svc)
                wrote = True
            except ApiError:
                pass
        now = self.store.clock()
        conds = _cond(list((route.get("status") or {}).get("conditions") or []), "Ready", ok and bool(traffic_out),
                      "RevisionMissing", f"Configuration {name!r} does not have any ready Revision.", now)
        status: Obj = {"observedGeneration": md.get("generation", 1), "conditions": conds,
                       "url": service_url(name, ns),
                       "address": {"url": f"http://{name}.{ns}.svc.cluster.local"}}
        if traffic_out:
            status["traffic"] = traffic_out
        return self.write_status(KROUTES, route, status) or wrote


def traffic_share(store: Any, rev: Obj) -> float:
    """The fraction of its Knative Service's traffic the Route sends to this revision."""
    md = rev["metadata"]
    cfg = (md.get("labels") or {}).get(CONFIG_LABEL)
    route = store.try_get(KROUTES, md["namespace"], cfg) if cfg else None
    for t in ((route or {}).get("status") or {}).get("traffic") or []:
        if t.get("revisionName") == md["name"]:
            return float(t.get("percent", 0) or 0) / 100.0
    if route is None or not ((route.get("status") or {}).get("traffic")):
        # No route has settled yet: a configuration's newest revision takes the traffic.
        c = store.try_get(KCONFIGS, md["namespace"], cfg) if cfg else None
        return 1.0 if c is not None and revision_name(c) == md["name"] else 0.0
    return 0.0


def install(cluster: SimCluster) -> list[_Base]:
    events = EventRecorder(cluster.store, "knative-serving-controller")
    ctrls: list[_Base] = [ServiceController(cluster, events), ConfigurationController(cluster, events),
                          RevisionController(cluster, events), RouteController(cluster, events)]
    for c in ctrls:
        cluster.add(c)
        cluster.extras[c.name] = c
    cluster.store.admission.append(admission)
    return ctrls
