"""Workload controllers: Deployment → ReplicaSet → Pods, Job → Pods, StatefulSet and DaemonSet → Pods.

They behave like kube-controller-manager's, simplified: the console reads the objects they write
(owner chains, `pod-template-hash`, Job labels, status counters and conditions), so those follow
Kubernetes exactly, while timing details (minReadySeconds, backoff delays) are left out.

Each controller keeps a dirty set fed by `store.subscribe`, so a round costs what changed, not the
cluster's size; `resync()` after a bulk `store.load` marks nothing dirty (loaded state is consistent).
"""

from __future__ import annotations

import copy
import math
import random
import zlib
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson

from .cluster import SimCluster
from .errors import ApiError
from .resources import (DAEMONSETS, DEPLOYMENTS, EVENTS, JOBS, NODES, PODS, REPLICASETS, STATEFULSETS,
                        ResourceType)
from .selectors import selector_from_match
from .store import ADDED, DELETED, Change, Key, Obj, Store, rand_suffix

HASH_LABEL = "pod-template-hash"
REVISION_ANN = "deployment.kubernetes.io/revision"
DESIRED_ANN = "deployment.kubernetes.io/desired-replicas"
MAX_ANN = "deployment.kubernetes.io/max-replicas"
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
STS_POD_NAME = "statefulset.kubernetes.io/pod-name"
STS_POD_INDEX = "apps.kubernetes.io/pod-index"
REVISION_HASH = "controller-revision-hash"
TERMINAL = ("Succeeded", "Failed")
RETRY_S = 5.0  # after a failed pod create, the owner is retried this much sim time later


# ---------------------------------------------------------------- shared helpers
def controller_of(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_ref(owner: Obj) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def is_active(pod: Obj) -> bool:
    """Counted toward replicas: not finished and not being deleted (pkg/controller/controller_utils.go
    IsPodActive / FilterActivePods), so owners replace a terminating pod at once."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL and \
        not pod["metadata"].get("deletionTimestamp")


def is_terminating(pod: Obj) -> bool:
    """Being deleted and not finished: it still runs (pkg/controller/controller_utils.go, as CountTerminatingPods
    counts them)."""
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        (pod.get("status") or {}).get("phase") not in TERMINAL


def template_hash(template: Obj) -> str:
    """A stable short hash of a pod template, spelled with the alphabet Kubernetes uses for names."""
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    h = zlib.crc32(orjson.dumps(t, option=orjson.OPT_SORT_KEYS)) ^ 0x5BD1E995
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    out = []
    for _ in range(10):
        h, r = divmod(h, len(alphabet))
        out.append(alphabet[r])
        if h == 0 and len(out) >= 8:
            break
    return "".join(out)


def set_condition(conds: list[Obj], ctype: str, status: str, reason: str, message: str, now: str,
                  update_field: str | None = None) -> list[Obj]:
    """Conditions with one type set; transition times move only when the status does."""
    out = [dict(c) for c in conds if c.get("type") != ctype]
    old = next((c for c in conds if c.get("type") == ctype), None)
    new: Obj = {"type": ctype, "status": status, "reason": reason, "message": message}
    same = old is not None and old.get("status") == status
    new["lastTransitionTime"] = old.get("lastTransitionTime", now) if same else now
    if update_field:
        unchanged = same and old.get("reason") == reason and old.get("message") == message
        new[update_field] = old.get(update_field, now) if unchanged else now
    # Keep the original order of types so an unchanged status compares equal.
    order = [c.get("type") for c in conds]
    if ctype in order:
        out.insert(order.index(ctype), new)
    else:
        out.append(new)
    return out


def pod_from_template(template: Obj, namespace: str, name: str, owner: Obj, labels: dict[str, str] | None = None,
                      annotations: dict[str, str] | None = None, hostname: str | None = None) -> Obj:
    tmd = (template or {}).get("metadata") or {}
    md: Obj = {"name": name, "namespace": namespace,
               "labels": {**(tmd.get("labels") or {}), **(labels or {})},
               "ownerReferences": [owner_ref(owner)]}
    ann = {**(tmd.get("annotations") or {}), **(annotations or {})}
    if ann:
        md["annotations"] = ann
    spec = copy.deepcopy((template or {}).get("spec") or {})
    if hostname:
        spec.setdefault("hostname", hostname)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": {"phase": "Pending"}}


class EventRecorder:
    """Writes core/v1 Events as controllers do, keeping only the newest `cap` it wrote."""

    def __init__(self, store: Store, component: str, cap: int = 500) -> None:
        self.store = store
        self.component = component
        self.cap = cap
        self._mine: deque[Key] = deque()
        self.rng = random.Random(hash(component) & 0xFFFF)

    def record(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or "default"
        now = self.store.clock()
        ev = {
            "metadata": {"name": f"{md.get('name')}.{self.rng.getrandbits(64):016x}", "namespace": ns},
            "involvedObject": {"kind": obj.get("kind"), "namespace": md.get("namespace"), "name": md.get("name"),
                               "uid": md.get("uid"), "apiVersion": obj.get("apiVersion"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": self.component}, "reportingComponent": self.component,
            "reportingInstance": self.component, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.store.create(EVENTS, ev)
        except ApiError:
            return
        self._mine.append((ns, ev["metadata"]["name"]))
        while len(self._mine) > self.cap:
            ons, oname = self._mine.popleft()
            if self.store.try_get(EVENTS, ons, oname) is not None:
                self.store.delete(EVENTS, ons, oname)


class _Base:
    """Dirty-set bookkeeping shared by the workload controllers."""

    name = "base"
    rt: ResourceType = DEPLOYMENTS
    owns_pods = True

    def __init__(self, cluster: SimCluster, events: EventRecorder) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.events = events
        self.rng = random.Random(f"{cluster.seed}/{self.name}")
        self.dirty: set[Key] = set()
        self._retry: dict[Key, float] = {}
        self.store.subscribe(self._on_change)

    # Subclasses extend what marks an owner dirty.
    def _on_change(self, ch: Change) -> None:
        if ch.rkey == self.rt.key:
            md = ch.obj["metadata"]
            self.dirty.add((md.get("namespace", ""), md["name"]))
        elif ch.rkey == "pods" and self.owns_pods:
            for obj in (ch.obj, ch.old):
                ref = controller_of(obj) if obj else None
                if ref and ref.get("kind") == self.rt.kind:
                    self.dirty.add((obj["metadata"].get("namespace", ""), ref["name"]))

    def resync(self) -> None:
        """After a bulk load: nothing to catch up (loaded objects are consistent)."""

    def mark_all(self) -> None:
        for o in self.store.items(self.rt):
            self.dirty.add((o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def reconcile(self) -> bool:
        now = self.cluster.clock.now()
        for key, at in list(self._retry.items()):
            if at <= now:
                del self._retry[key]
                self.dirty.add(key)
        if not self.dirty:
            return False
        batch, self.dirty = self.dirty, set()
        wrote = False
        for ns, name in sorted(batch):
            obj = self.store.try_get(self.rt, ns, name)
            if obj is None:
                continue
            try:
                if self.sync(obj):
                    wrote = True
            except ApiError as e:  # a conflicting write by someone else: try again next round
                if e.code == 409 or e.code == 404:
                    self.dirty.add((ns, name))
                else:
                    raise
        return wrote

    def sync(self, obj: Obj) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers for subclasses
    def children(self, owner: Obj, rt: ResourceType = PODS) -> list[Obj]:
        out = []
        uid = owner["metadata"]["uid"]
        for rkey, ns, name in self.store.children_of(uid):
            if rkey != rt.key:
                continue
            o = self.store.try_get(rt, ns, name)
            if o is not None and any(r.get("uid") == uid and r.get("controller")
                                     for r in o["metadata"].get("ownerReferences") or ()):
                out.append(o)
        return out

    def create_pod(self, owner: Obj, pod: Obj) -> bool:
        """Create one pod; a refusal becomes a FailedCreate event and a later retry, never an exception."""
        md = owner["metadata"]
        try:
            created = self.store.create(PODS, pod)
        except ApiError as e:
            self.events.record(owner, "FailedCreate", f"Error creating: {e.message}", "Warning")
            self._retry[(md.get("namespace", ""), md["name"])] = self.cluster.clock.now() + RETRY_S
            return False
        self.events.record(owner, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return True

    def delete_pod(self, owner: Obj, pod: Obj, event: bool = True) -> bool:
        """Delete one pod (gracefully: it terminates for its grace period); one already being deleted
        is left to finish."""
        pmd = pod["metadata"]
        cur = self.store.try_get(PODS, pmd["namespace"], pmd["name"])
        if cur is None or cur["metadata"].get("deletionTimestamp"):
            return False
        self.store.delete(PODS, pmd["namespace"], pmd["name"])
        if event:
            self.events.record(owner, "SuccessfulDelete", f"Deleted pod: {pmd['name']}")
        return True

    def unique_name(self, rt: ResourceType, ns: str, prefix: str) -> str:
        for _ in range(20):
            name = f"{prefix}-{rand_suffix(5, self.rng)}"
            if self.store.try_get(rt, ns, name) is None:
                return name
        return f"{prefix}-{rand_suffix(8, self.rng)}"

    def write_status(self, rt: ResourceType, obj: Obj, status: Obj) -> bool:
        if obj.get("status") == status:
            return False
        md = obj["metadata"]

        def put(o: Obj) -> None:
            o["status"] = status
        new = self.store.mutate(rt, md.get("namespace"), md["name"], put, subresource="status")
        return new is not obj


# ---------------------------------------------------------------- ReplicaSet
def _deletion_rank(pod: Obj) -> tuple:
    """Which pods a scale-down removes first: unbound, pending, not ready, then the newest."""
    st = pod.get("status") or {}
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        {"Pending": 0, "Unknown": 1, "Running": 2}.get(st.get("phase", "Pending"), 0),
        1 if pod_ready(pod) else 0,
        _neg(pod["metadata"].get("creationTimestamp", "")),
        _neg(pod["metadata"]["name"]),
    )


def _neg(s: str) -> tuple:
    return tuple(-ord(c) for c in s)


def replicas_of(obj: Obj, default: int = 1) -> int:
    v = (obj.get("spec") or {}).get("replicas", default)
    try:
        return max(0, int(v if v is not None else default))
    except (TypeError, ValueError):
        return default


class ReplicaSetController(_Base):
    name = "replicaset-controller"
    rt = REPLICASETS

    def sync(self, rs: Obj) -> bool:
        md = rs["metadata"]
        want = replicas_of(rs)
        pods = self.children(rs)
        wrote = False
        # Finished pods of a ReplicaSet are replaced; drop them so they do not pile up.
        for p in pods:
            if (p.get("status") or {}).get("phase") in TERMINAL:
                wrote |= self.delete_pod(rs, p, event=False)
        active = [p for p in pods if is_active(p)]
        if md.get("deletionTimestamp"):
            pass  # replica_set.go syncReplicaSet: no pods are managed for a ReplicaSet being deleted
        elif len(active) < want:
            template = (rs.get("spec") or {}).get("template") or {}
            for _ in range(want - len(active)):
                name = self.unique_name(PODS, md["namespace"], md["name"])
                if not self.create_pod(rs, pod_from_template(template, md["namespace"], name, rs)):
                    break
                wrote = True
        elif len(active) > want:
            for p in sorted(active, key=_deletion_rank)[: len(active) - want]:
                wrote |= self.delete_pod(rs, p)
        if wrote:
            self.dirty.add((md["namespace"], md["name"]))  # recount once the writes are in
            return True
        ready = sum(1 for p in active if pod_ready(p))
        sel = selector_from_match((rs.get("spec") or {}).get("selector"))
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if sel.matches(p["metadata"].get("labels"))),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": md.get("generation", 1),
        }
        return self.write_status(REPLICASETS, rs, status)


# ---------------------------------------------------------------- Deployment
def _int_or_percent(v: Any, total: int, default: str, round_up: bool) -> int:
    v = default if v is None else v
    if isinstance(v, str) and v.endswith("%"):
        try:
            pct = float(v[:-1]) / 100.0
        except ValueError:
            pct = float(default[:-1]) / 100.0
        x = total * pct
        return int(math.ceil(x) if round_up else math.floor(x))
    try:
        return max(0, int(v))
    except (TypeError, ValueError):
        return 0


class DeploymentController(_Base):
    name = "deployment-controller"
    rt = DEPLOYMENTS
    owns_pods = False

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey == REPLICASETS.key:
            for obj in (ch.obj, ch.old):
                ref = controller_of(obj) if obj else None
                if ref and ref.get("kind") == "Deployment":
                    self.dirty.add((obj["metadata"]["namespace"], ref["name"]))

    def sync(self, d: Obj) -> bool:
        md = d["metadata"]
        ns = md["namespace"]
        spec = d.get("spec") or {}
        want = replicas_of(d)
        template = spec.get("template") or {}
        h = template_hash(template)
        all_rs = self.children(d, REPLICASETS)
        new_rs = next((r for r in all_rs if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
        olds = [r for r in all_rs if r is not new_rs]
        revision = 1 + max((int((r["metadata"].get("annotations") or {}).get(REVISION_ANN, "0") or 0)
                            for r in all_rs), default=0)
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("type", "RollingUpdate") != "Recreate"
        ru = strategy.get("rollingUpdate") or {}
        surge = _int_or_percent(ru.get("maxSurge"), want, "25%", True) if rolling else 0
        unavail = _int_or_percent(ru.get("maxUnavailable"), want, "25%", False) if rolling else want
        if rolling and surge == 0 and unavail == 0:
            unavail = 1

        if md.get("deletionTimestamp"):
            # deployment_controller.go syncDeployment: a Deployment being deleted only has its status synced
            return self._status(d, new_rs, olds, want, unavail)
        if new_rs is None:
            if spec.get("paused"):
                return self._status(d, None, olds, want, unavail)
            old_total = sum(replicas_of(r, 0) for r in olds)
            if not old_total:
                initial = want
            else:
                initial = min(want, max(0, want + surge - old_total)) if rolling else 0
            self._create_rs(d, template, h, initial, revision, surge)
            self.dirty.add((ns, md["name"]))
            return True

        wrote = False
        # The new ReplicaSet carries the newest revision.
        cur_rev = (new_rs["metadata"].get("annotations") or {}).get(REVISION_ANN)
        if olds and cur_rev is not None and int(cur_rev or 0) < revision - 1:
            wrote |= self._annotate_rs(new_rs, revision, want, surge)
        if not spec.get("paused"):
            if not any(replicas_of(r, 0) or (r.get("status") or {}).get("replicas") for r in olds):
                wrote |= self._scale(d, new_rs, want, surge)
            elif not rolling:
                for r in olds:
                    if replicas_of(r, 0):
                        wrote |= self._scale(d, r, 0, surge)
                if not any((r.get("status") or {}).get("replicas") for r in olds):
                    wrote |= self._scale(d, new_rs, want, surge)
            else:
                wrote |= self._roll(d, new_rs, olds, want, surge, unavail)
        if wrote:
            self.dirty.add((ns, md["name"]))
            return True
        wrote |= self._prune(d, olds)
        if (d["metadata"].get("annotations") or {}).get(REVISION_ANN) != \
                (new_rs["metadata"].get("annotations") or {}).get(REVISION_ANN):
            rev = (new_rs["metadata"].get("annotations") or {}).get(REVISION_ANN, "1")

            def ann(o: Obj) -> None:
                o["metadata"].setdefault("annotations", {})[REVISION_ANN] = rev
            self.store.mutate(DEPLOYMENTS, ns, md["name"], ann)
            return True
        return self._status(d, new_rs, olds, want, unavail) or wrote

    def _roll(self, d: Obj, new_rs: Obj, olds: list[Obj], want: int, surge: int, unavail: int) -> bool:
        total = replicas_of(new_rs, 0) + sum(replicas_of(r, 0) for r in olds)
        wrote = False
        new_target = min(want, replicas_of(new_rs, 0) + max(0, want + surge - total))
        if new_target != replicas_of(new_rs, 0):
            wrote |= self._scale(d, new_rs, new_target, surge)
        # A ReplicaSet's status may lag a scale-down just written: never count more than its spec.
        def avail(r: Obj) -> int:
            return min(replicas_of(r, 0), (r.get("status") or {}).get("availableReplicas", 0))
        removable = sum(avail(r) for r in [new_rs, *olds]) - (want - unavail)
        # Old pods that are not available can always go: they serve nothing.
        for r in sorted(olds, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            cur = replicas_of(r, 0)
            if not cur:
                continue
            unavailable_here = max(0, cur - avail(r))
            cut = min(cur, max(0, removable) + unavailable_here)
            if cut:
                wrote |= self._scale(d, r, cur - cut, surge)
                removable -= max(0, cut - unavailable_here)
        return wrote

    def _create_rs(self, d: Obj, template: Obj, h: str, replicas: int, revision: int, surge: int) -> None:
        md = d["metadata"]
        tpl = copy.deepcopy(template)
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        sel = copy.deepcopy((d.get("spec") or {}).get("selector") or {"matchLabels": {}})
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{h}", "namespace": md["namespace"],
                         "labels": dict(tpl["metadata"]["labels"]),
                         "annotations": {REVISION_ANN: str(revision), DESIRED_ANN: str(replicas_of(d)),
                                         MAX_ANN: str(replicas_of(d) + surge)},
                         "ownerReferences": [owner_ref(d)]},
            "spec": {"replicas": replicas, "selector": sel, "template": tpl,
                     **({"minReadySeconds": d["spec"]["minReadySeconds"]} if d["spec"].get("minReadySeconds")
                        else {})},
        }
        try:
            created = self.store.create(REPLICASETS, rs)
        except ApiError as e:
            self.events.record(d, "FailedCreate", f"Failed to create new replica set: {e.message}", "Warning")
            self._retry[(md["namespace"], md["name"])] = self.cluster.clock.now() + RETRY_S
            return
        self.events.record(d, "ScalingReplicaSet",
                           f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}")

    def _annotate_rs(self, rs: Obj, revision: int, want: int, surge: int) -> bool:
        def ann(o: Obj) -> None:
            a = o["metadata"].setdefault("annotations", {})
            a[REVISION_ANN] = str(revision)
            a[DESIRED_ANN] = str(want)
            a[MAX_ANN] = str(want + surge)
        new = self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], ann)
        return new is not rs

    def _scale(self, d: Obj, rs: Obj, n: int, surge: int) -> bool:
        cur = replicas_of(rs, 0)
        want = replicas_of(d)
        a = rs["metadata"].get("annotations") or {}
        if cur == n and a.get(DESIRED_ANN) == str(want):
            return False

        def put(o: Obj) -> None:
            o["spec"]["replicas"] = n
            ann = o["metadata"].setdefault("annotations", {})
            ann[DESIRED_ANN] = str(want)
            ann[MAX_ANN] = str(want + surge)
        self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], put)
        if cur != n:
            verb = "up" if n > cur else "down"
            self.events.record(d, "ScalingReplicaSet",
                               f"Scaled {verb} replica set {rs['metadata']['name']} from {cur} to {n}")
        return True

    def _prune(self, d: Obj, olds: list[Obj]) -> bool:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = [r for r in olds if not replicas_of(r, 0) and not (r.get("status") or {}).get("replicas")]
        idle.sort(key=lambda r: int((r["metadata"].get("annotations") or {}).get(REVISION_ANN, "0") or 0))
        wrote = False
        for r in idle[: max(0, len(idle) - int(limit or 0))]:
            self.store.delete(REPLICASETS, r["metadata"]["namespace"], r["metadata"]["name"])
            wrote = True
        return wrote

    def _status(self, d: Obj, new_rs: Obj | None, olds: list[Obj], want: int, unavail: int) -> bool:
        md = d["metadata"]
        rss = [r for r in [new_rs, *olds] if r is not None]
        sts = [(r.get("status") or {}) for r in rss]
        replicas = sum(s.get("replicas", 0) for s in sts)
        ready = sum(s.get("readyReplicas", 0) for s in sts)
        available = sum(s.get("availableReplicas", 0) for s in sts)
        updated = ((new_rs or {}).get("status") or {}).get("replicas", 0) if new_rs else 0
        now = self.store.clock()
        conds = list((d.get("status") or {}).get("conditions") or [])
        if available >= want - unavail:
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.", now, "lastUpdateTime")
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.", now, "lastUpdateTime")
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = new_rs is not None and updated == want and replicas == want and available == want
        if (d.get("spec") or {}).get("paused"):
            conds = set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now,
                                  "lastUpdateTime")
        elif complete:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{rs_name}" has successfully progressed.', now, "lastUpdateTime")
        else:
            conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                  f'ReplicaSet "{rs_name}" is progressing.', now, "lastUpdateTime")
        status: Obj = {"observedGeneration": md.get("generation", 1), "replicas": replicas,
                       "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available}
        if want - available > 0:
            status["unavailableReplicas"] = want - available
        status["conditions"] = conds
        return self.write_status(DEPLOYMENTS, d, status)


# ---------------------------------------------------------------- Job
class JobController(_Base):
    name = "job-controller"
    rt = JOBS

    def sync(self, job: Obj) -> bool:
        md = job["metadata"]
        ns = md["namespace"]
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        pods = self.children(job)
        active = [p for p in pods if is_active(p)]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        # Counters never go back: finished pods may be deleted later, their outcome stays counted.
        succeeded = max(succeeded, int(status.get("succeeded", 0) or 0))
        failed = max(len(failed_pods), int(status.get("failed", 0) or 0))
        parallelism = _nonneg(spec.get("parallelism"), 1)
        completions = spec.get("completions")
        completions = _nonneg(completions, 1) if completions is not None else None
        backoff = _nonneg(spec.get("backoffLimit"), 6)
        conds = list(status.get("conditions") or [])
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)
        now = self.store.clock()
        wrote = False
        if not status.get("startTime") and not spec.get("suspend"):
            status["startTime"] = now

        if finished:
            for p in active:
                wrote |= self.delete_pod(job, p)
        elif failed > backoff:
            for p in active:
                wrote |= self.delete_pod(job, p)
            active = []
            conds = set_condition(conds, "FailureTarget", "True", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit", now, "lastProbeTime")
            conds = set_condition(conds, "Failed", "True", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit", now, "lastProbeTime")
            self.events.record(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                               "Warning")
        elif (completions is not None and succeeded >= completions) or \
                (completions is None and succeeded > 0 and not active):
            conds = set_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods", now, "lastProbeTime")
            conds = set_condition(conds, "Complete", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods", now, "lastProbeTime")
            status["completionTime"] = now
            self.events.record(job, "Completed", "Job completed")
        elif spec.get("suspend"):
            for p in active:
                wrote |= self.delete_pod(job, p)
            active = []
            conds = set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", now, "lastProbeTime")
        else:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                conds = set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now,
                                      "lastProbeTime")
            if completions is not None:
                want = min(parallelism, completions - succeeded)
            else:
                want = parallelism if succeeded == 0 else 0
            if len(active) < want and not md.get("deletionTimestamp"):  # none for a Job being deleted
                template = spec.get("template") or {}
                uid = md["uid"]
                labels = {JOB_UID_LABELS[0]: uid, JOB_NAME_LABELS[0]: md["name"],
                          JOB_UID_LABELS[1]: uid, JOB_NAME_LABELS[1]: md["name"]}
                for _ in range(want - len(active)):
                    name = self.unique_name(PODS, ns, md["name"])
                    if not self.create_pod(job, pod_from_template(template, ns, name, job, labels)):
                        break
                    wrote = True
            elif len(active) > want:
                for p in sorted(active, key=_deletion_rank)[: len(active) - want]:
                    wrote |= self.delete_pod(job, p)
        if wrote:
            self.dirty.add((ns, md["name"]))
            return True
        still = [p for p in active if is_active(p)]
        status.update({
            "active": len(still),
            "ready": sum(1 for p in still if pod_ready(p)),
            "succeeded": succeeded,
            "failed": failed,
            # pkg/controller/job/job_controller.go: jobCtx.terminating = controller.CountTerminatingPods(pods)
            "terminating": sum(1 for p in pods if is_terminating(p)),
        })
        if conds:
            status["conditions"] = conds
        status.setdefault("uncountedTerminatedPods", {})
        return self.write_status(JOBS, job, status)


def _nonneg(v: Any, default: int) -> int:
    try:
        return max(0, int(v if v is not None else default))
    except (TypeError, ValueError):
        return default


# ---------------------------------------------------------------- StatefulSet
class StatefulSetController(_Base):
    name = "statefulset-controller"
    rt = STATEFULSETS

    def sync(self, sts: Obj) -> bool:
        md = sts["metadata"]
        ns = md["namespace"]
        spec = sts.get("spec") or {}
        want = replicas_of(sts)
        template = spec.get("template") or {}
        rev = f"{md['name']}-{template_hash(template)}"
        pods = {p["metadata"]["name"]: p for p in self.children(sts)}
        wrote = False
        # stateful_set_control.go updateStatefulSet: a StatefulSet being deleted only has its status updated
        for i in range(0 if md.get("deletionTimestamp") else want):
            pname = f"{md['name']}-{i}"
            p = pods.get(pname)
            if p is not None and p["metadata"].get("deletionTimestamp"):
                continue  # the same name comes back only once the terminating pod is gone
            if p is not None and not is_active(p):
                wrote |= self.delete_pod(sts, p)
                p = self.store.try_get(PODS, ns, pname)
                if p is not None:
                    continue
            if p is None:
                labels = {STS_POD_NAME: pname, STS_POD_INDEX: str(i), REVISION_HASH: rev}
                pod = pod_from_template(template, ns, pname, sts, labels, hostname=pname)
                if spec.get("serviceName"):
                    pod["spec"].setdefault("subdomain", spec["serviceName"])
                if not self.create_pod(sts, pod):
                    break
                wrote = True
        for pname, p in pods.items():
            idx = pname.rsplit("-", 1)[-1]
            if (not idx.isdigit() or int(idx) >= want) and not md.get("deletionTimestamp"):
                wrote |= self.delete_pod(sts, p)
        if wrote:
            self.dirty.add((ns, md["name"]))
            return True
        active = [p for p in pods.values() if is_active(p)]
        ready = sum(1 for p in active if pod_ready(p))
        current = sum(1 for p in active if (p["metadata"].get("labels") or {}).get(REVISION_HASH) == rev)
        status = {"observedGeneration": md.get("generation", 1), "replicas": len(active), "readyReplicas": ready,
                  "currentReplicas": current, "updatedReplicas": current, "availableReplicas": ready,
                  "currentRevision": rev, "updateRevision": rev, "collisionCount": 0}
        return self.write_status(STATEFULSETS, sts, status)


# ---------------------------------------------------------------- DaemonSet
def _node_matches(ds: Obj, node: Obj) -> bool:
    sel = ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in sel.items())


class DaemonSetController(_Base):
    """One pod per matching node, bound directly (as the DaemonSet controller's node affinity makes it)."""

    name = "daemonset-controller"
    rt = DAEMONSETS

    def _on_change(self, ch: Change) -> None:
        super()._on_change(ch)
        if ch.rkey != NODES.key:
            return
        old_labels = ((ch.old or {}).get("metadata") or {}).get("labels")
        if ch.type in (ADDED, DELETED) or old_labels != ch.obj["metadata"].get("labels"):
            self.mark_all()

    def sync(self, ds: Obj) -> bool:
        md = ds["metadata"]
        ns = md["namespace"]
        template = (ds.get("spec") or {}).get("template") or {}
        rev = template_hash(template)
        pods = self.children(ds)
        by_node: dict[str, Obj] = {}
        wrote = False
        if md.get("deletionTimestamp"):
            return False  # daemon_controller.go syncDaemonSet: a DaemonSet being deleted is not synced
        for p in pods:
            node = (p.get("spec") or {}).get("nodeName", "")
            if node in by_node or not is_active(p):
                wrote |= self.delete_pod(ds, p)
            else:
                by_node[node] = p
        nodes = {n["metadata"]["name"]: n for n in self.store.items(NODES) if _node_matches(ds, n)}
        for node_name in sorted(nodes):
            if node_name in by_node:
                continue
            name = self.unique_name(PODS, ns, md["name"])
            pod = pod_from_template(template, ns, name, ds, {REVISION_HASH: rev, "pod-template-generation":
                                                              str(md.get("generation", 1))})
            pod["spec"]["nodeName"] = node_name
            if not self.create_pod(ds, pod):
                break
            wrote = True
        for node_name, p in by_node.items():
            if node_name not in nodes:
                wrote |= self.delete_pod(ds, p)
        if wrote:
            self.dirty.add((ns, md["name"]))
            return True
        active = [p for p in by_node.values() if p["spec"].get("nodeName") in nodes]
        ready = sum(1 for p in active if pod_ready(p))
        status = {"currentNumberScheduled": len(active), "desiredNumberScheduled": len(nodes),
                  "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(active), "observedGeneration": md.get("generation", 1)}
        if len(nodes) - ready > 0:
            status["numberUnavailable"] = len(nodes) - ready
        return self.write_status(DAEMONSETS, ds, status)


def install(cluster: SimCluster) -> list[_Base]:
    """Add the workload controllers in the order a round should run them."""
    events = EventRecorder(cluster.store, "controller-manager")
    ctrls: list[_Base] = [DeploymentController(cluster, events), ReplicaSetController(cluster, events),
                          JobController(cluster, events), StatefulSetController(cluster, events),
                          DaemonSetController(cluster, events)]
    for c in ctrls:
        cluster.add(c)
        cluster.extras[c.name] = c
    return ctrls


def all_of(cluster: SimCluster) -> Iterable[Any]:
    names = ("deployment-controller", "replicaset-controller", "job-controller", "statefulset-controller",
             "daemonset-controller")
    return [cluster.extras[n] for n in names if n in cluster.extras]

