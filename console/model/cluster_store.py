"""The console's one live model of the cluster: records by kind and key, indexes, and dirty keys per view.

Informers feed raw objects as watch events (`apply`) and whole re-lists (`replace`, or page by page with
`begin_replace`, so a 60,000-pod list never sits in memory as raw dicts all at once). Each event updates
records and indexes and marks the view rows it can affect as dirty: O(1)-ish work, no view is rebuilt.
The UI calls `drain()` a few times a second; it recomputes only the dirty rows and returns what changed
since the previous drain. `refresh()` does the same without consuming the change set (snapshots).

A stored record is never changed in place: a change stores a new record under its key, so a reader on
another thread that gets one record by key sees it whole (see `console.ui.session` for the hand-over).

Per-pod facts that depend on other objects (top owner, queue, priority class, preemptibility) are
resolved here and re-resolved when an owner, PodGroup or Queue they depend on changes.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import fair_share, podspec, views_gpus, views_nodes, views_projects, views_workloads
from .records import (
    KNATIVE_SERVICE_LABEL, OWNER_BY_GROUP_KIND, OWNER_BY_KEY, OWNER_KINDS, BadObject, HpaRec, NodeRec, Obj,
    OwnerKey, OwnerRec, PodGroupRec, PodKey, PodRec, QueueRec, QuotaRec, Ref, ServiceRec, hpa_record, node_record,
    WKey, owner_record, pending_shape, pod_record, podgroup_record, queue_record, quota_record, service_record,
)


ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

PODS = "pods"
NODES = "nodes"
QUEUES = "queues.scheduling.run.ai"
PODGROUPS = "podgroups.scheduling.run.ai"
SERVICES = "services"
RESOURCEQUOTAS = "resourcequotas"
HPAS = "horizontalpodautoscalers.autoscaling"
HPA_KIND = "HorizontalPodAutoscaler"
# The service a serving object belongs to, by label, in the order the load model and the views agree on:
# KServe's InferenceService, Run:ai's workload, the Knative Service.
SERVICE_LABELS = ("serving.kserve.io/inferenceservice", "workloadName", KNATIVE_SERVICE_LABEL)

# Kind names accepted as well as resource keys, so a caller may say "Pod" or "pods".
ALIASES: dict[str, str] = {
    "Pod": PODS, "Node": NODES, "Queue": QUEUES, "PodGroup": PODGROUPS, "Service": SERVICES,
    "ResourceQuota": RESOURCEQUOTAS, HPA_KIND: HPAS,
    **{o.kind: o.key for o in OWNER_KINDS if o.kind != "Service"},
    "KnativeService": "services.serving.knative.dev",
}
KNOWN_KINDS = frozenset({PODS, NODES, QUEUES, PODGROUPS, SERVICES, RESOURCEQUOTAS, HPAS, *OWNER_BY_KEY})
KEYS_BY_KIND: dict[str, tuple[str, ...]] = {}
for _o in OWNER_KINDS:
    KEYS_BY_KIND[_o.kind] = KEYS_BY_KIND.get(_o.kind, ()) + (_o.key,)

_RESOLVE_CACHE_MAX = 50_000


def canonical_kind(kind: str) -> str | None:
    k = ALIASES.get(kind, kind)
    return k if k in KNOWN_KINDS else None


@dataclass(slots=True)
class KindHealth:
    """What the UI shows per resource; informers set it, the views never read it."""

    state: str = "unknown"          # unknown | syncing | synced | reconnecting | forbidden | absent | error
    message: str = ""
    hidden_namespaces: tuple[str, ...] = ()
    objects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "message": self.message,
                "hidden_namespaces": list(self.hidden_namespaces), "objects": self.objects}


@dataclass(slots=True)
class ViewDelta:
    """Rows to insert or replace, and keys to remove, for one view."""

    upserts: dict[Any, Any] = field(default_factory=dict)
    removed: set[Any] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.removed)

    def merge(self, changed: dict[Any, Any], removed: Iterable[Any]) -> None:
        for k in removed:
            self.upserts.pop(k, None)
            self.removed.add(k)
        for k, row in changed.items():
            self.removed.discard(k)
            self.upserts[k] = row


@dataclass(slots=True)
class Delta:
    """What changed since the last drain; the UI applies it as keyed row diffs."""

    projects: ViewDelta = field(default_factory=ViewDelta)
    gpus: ViewDelta = field(default_factory=ViewDelta)
    workloads: ViewDelta = field(default_factory=ViewDelta)
    nodes: ViewDelta = field(default_factory=ViewDelta)
    health: bool = False

    def __bool__(self) -> bool:
        return bool(self.projects or self.gpus or self.workloads or self.nodes or self.health)


@contextlib.contextmanager
def _gc_paused():
    """Bulk loads allocate millions of short-lived acyclic dicts; the cycle collector would rescan every
    record many times over (seconds for a 60,000-pod list). Reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# Views, as bits: which a pod change must mark dirty.
WORKLOADS, PROJECTS, GPUS, NODES_VIEW = 1, 2, 4, 8
ALL_VIEWS = WORKLOADS | PROJECTS | GPUS | NODES_VIEW


def _what_changed(old: PodRec, new: PodRec) -> int:
    """The views whose inputs differ between two versions of a pod (a readiness flip touches one view).

    Workload rows read nearly every field (readiness, phase, messages), so they are always marked.
    """
    what = WORKLOADS
    old_live, new_live = old.live, new.live
    if (old.node, old_live, old.gpu, old.deleting) != (new.node, new_live, new.gpu, new.deleting):
        what |= NODES_VIEW | PROJECTS | GPUS
    else:
        if (old.queue, old.preemptible) != (new.queue, new.preemptible):
            what |= PROJECTS
        if (old.gpu_groups, old.reserved_uuid, old.workload, old.reservation, old.deleting_since) != \
                (new.gpu_groups, new.reserved_uuid, new.workload, new.reservation, new.deleting_since):
            what |= GPUS  # (a holder that starts terminating is marked on its GPU's row)
    return what


class Relist:
    """One re-list in progress: `add()` pages of raw objects, then `commit()` (see `begin_replace`)."""

    def __init__(self, store: ClusterStore, kind: str, namespace: str | None) -> None:
        self.store = store
        self.kind = kind
        self.rkey = canonical_kind(kind)
        self.namespace = namespace
        self.fresh: dict[Any, Any] = {}
        self.bad: list[str] = []
        if self.rkey is None:
            self.bad.append(f"{kind}: not a kind the console models; list ignored")

    def add(self, raws: Iterable[Obj]) -> None:
        if self.rkey is None:
            return
        store, rkey, ns = self.store, self.rkey, self.namespace
        with _gc_paused():
            for raw in raws:
                try:
                    rec = store._project(rkey, raw)
                except BadObject as e:
                    self.bad.append(f"{self.kind} list: {e}; object skipped")
                    continue
                key = store._key_of(rkey, rec)
                if ns is not None and getattr(rec, "namespace", ns) != ns:
                    self.bad.append(f"{self.kind} list for namespace {ns!r}: {key} is outside it; object skipped")
                    continue
                self.fresh[key] = rec

    def commit(self) -> list[str]:
        """Apply the re-list; returns what was skipped and why (also kept in the store's `problems`)."""
        if self.rkey is not None:
            with _gc_paused():
                self.store._commit_relist(self.rkey, self.fresh, self.namespace)
        for m in self.bad:
            self.store._problem(m)
        self.fresh = {}
        return self.bad


# Index values are a 1-tuple while they hold one member (most PodGroups, GPU groups and owners have one
# pod) and a set from two on: iteration, `len` and truth work the same, at a quarter of the memory.
def _add(index: dict, key: Any, value: Any) -> None:
    s = index.get(key)
    if s is None:
        index[key] = (value,)
    elif type(s) is tuple:
        if s[0] != value:
            index[key] = {s[0], value}
    else:
        s.add(value)


def _discard(index: dict, key: Any, value: Any) -> None:
    s = index.get(key)
    if s is None:
        return
    if type(s) is tuple:
        if s[0] == value:
            del index[key]
        return
    s.discard(value)
    if len(s) == 1:
        index[key] = (next(iter(s)),)
    elif not s:
        del index[key]


def _service_of(rec: OwnerRec) -> str | None:
    if rec.kind != "Revision":
        return None
    for k in SERVICE_LABELS:
        v = rec.labels.get(k)
        if v:
            return v
    return None


BATCH = 16   # dirty rows recomputed between looks at the clock in a budgeted refresh


def _batch(dirty: set, deadline: float | None, first: bool = False) -> tuple[set, set]:
    """(to recompute now, to leave dirty): all of it without a deadline; else a batch while time is left
    (the `first` batch of a view in any case, so every refresh makes progress)."""
    if not dirty or deadline is None:
        return dirty, set()
    if not first and time.perf_counter() >= deadline:
        return set(), dirty
    if len(dirty) <= BATCH:
        return dirty, set()
    now = {dirty.pop() for _ in range(BATCH)}
    return now, dirty


class ClusterStore:
    """Records, indexes and the four derived views (projects, GPUs, workloads, nodes)."""

    def __init__(self) -> None:
        self.pods: dict[PodKey, PodRec] = {}
        self.owners: dict[OwnerKey, OwnerRec] = {}
        self.queues: dict[str, QueueRec] = {}
        self.podgroups: dict[PodKey, PodGroupRec] = {}
        self.nodes: dict[str, NodeRec] = {}
        self.services: dict[PodKey, ServiceRec] = {}
        self.quotas: dict[PodKey, QuotaRec] = {}
        self.hpas: dict[PodKey, HpaRec] = {}
        self.health: dict[str, KindHealth] = {}
        self.problems: deque[str] = deque(maxlen=200)  # bad input, newest last

        # indexes
        self._owners_by_uid: dict[str, OwnerRec] = {}
        self._owner_counts: Counter[str] = Counter()
        self.owner_roots: set[WKey] = set()                 # owner records with no owner: workloads
        self.pods_by_node: dict[str, set[PodKey]] = {}
        self.pods_by_queue: dict[str, set[PodKey]] = {}
        self.pods_by_ns: dict[str, set[PodKey]] = {}
        self.pods_by_workload: dict[WKey, set[PodKey]] = {}
        self.pods_by_owner_uid: dict[str, set[PodKey]] = {}
        self.owners_by_owner_uid: dict[str, set[OwnerKey]] = {}
        self.fractions_by_group: dict[str, set[PodKey]] = {}   # non-reservation pods per GPU group
        self.reservations_by_group: dict[str, set[PodKey]] = {}
        self.pods_by_podgroup: dict[PodKey, set[PodKey]] = {}
        self.queue_children: dict[str, set[str]] = {}
        self.services_by_ns: dict[str, set[PodKey]] = {}
        self.services_by_pair: dict[tuple[str, str, str], set[PodKey]] = {}  # (ns, one selector key, value)
        self.quotas_by_ns: dict[str, set[PodKey]] = {}
        self.hpas_by_target: dict[tuple[str, str, str], set[PodKey]] = {}     # (ns, kind, name) -> HPAs
        self.revisions_by_service: dict[tuple[str, str], set[OwnerKey]] = {}  # (ns, service) -> Revisions
        # Knative Services are reached by name (label), not uid: who names each one
        self.knative_pods: dict[tuple[str, str], set[PodKey]] = {}
        self.knative_owners: dict[tuple[str, str], set[str]] = {}
        self.pending_shapes: Counter[tuple[str, float]] = Counter()

        # dirty keys per view
        self.dirty_workloads: set[WKey] = set()
        self.dirty_projects: set[str] = set()
        self.dirty_gpu_nodes: set[str] = set()
        self.dirty_nodes: set[str] = set()
        self._health_dirty = False
        self._resolve_cache: dict[tuple, tuple] = {}
        self._wkeys: dict[WKey, WKey] = {}

        self.projects = views_projects.ProjectsView()
        self.gpus = views_gpus.GpusView()
        self.workloads = views_workloads.WorkloadsView()
        self.nodes_view = views_nodes.NodesView()
        self.fair_share = fair_share.FairShareView()
        self._delta = Delta()
        self._kai_mode_seen: bool | None = None

    # ------------------------------------------------------------------ input
    def apply(self, kind: str, event_type: str, raw: Obj) -> bool:
        """One watch event. Returns False (and records why in `problems`) when the input was unusable.

        A bad object is skipped whole: nothing of it is applied.
        """
        rkey = canonical_kind(kind)
        if rkey is None:
            self._problem(f"{kind}: not a kind the console models; event ignored")
            return False
        if event_type not in (ADDED, MODIFIED, DELETED):
            self._problem(f"{kind}: unknown event type {event_type!r}; event ignored")
            return False
        try:
            rec = self._project(rkey, raw)
        except BadObject as e:
            self._problem(f"{kind} {event_type}: {e}; event ignored")
            return False
        if event_type == DELETED:
            self._remove(rkey, self._key_of(rkey, rec))
        else:
            self._put(rkey, rec)
        self._count(rkey)
        return True

    def replace(self, kind: str, raws: Iterable[Obj], namespace: str | None = None) -> list[str]:
        """A full re-list: afterwards the kind (in `namespace`, if given) holds exactly `raws`.

        Unchanged objects mark nothing dirty. Unusable objects are skipped and reported in the result
        (and in `problems`); the rest is applied. `raws` may be a generator (page by page).
        """
        relist = self.begin_replace(kind, namespace)
        relist.add(raws)
        return relist.commit()

    def begin_replace(self, kind: str, namespace: str | None = None) -> Relist:
        """A re-list fed page by page: each page is projected at once, so its raw dicts can be dropped
        before the next page arrives; nothing changes in the store until `commit()`."""
        return Relist(self, kind, namespace)

    def _commit_relist(self, rkey: str, fresh: dict[Any, Any], namespace: str | None) -> None:
        table = self._table(rkey)
        for key in [k for k in table if self._in_scope(rkey, k, namespace) and k not in fresh]:
            self._remove(rkey, key)
        for key, rec in fresh.items():
            if table.get(key) != rec:
                self._put(rkey, rec)
        self._count(rkey)

    def set_health(self, kind: str, state: str, message: str = "",
                   hidden_namespaces: Iterable[str] = ()) -> None:
        """Informers report a resource's state (synced, forbidden, hidden namespaces) for the UI."""
        rkey = canonical_kind(kind) or kind
        h = self.health.setdefault(rkey, KindHealth())
        hidden = tuple(sorted(hidden_namespaces))
        if (h.state, h.message, h.hidden_namespaces) != (state, message, hidden):
            h.state, h.message, h.hidden_namespaces = state, message, hidden
            self._health_dirty = True

    def _count(self, rkey: str) -> None:
        h = self.health.setdefault(rkey, KindHealth())
        h.objects = self._owner_counts[rkey] if rkey in OWNER_BY_KEY else len(self._table(rkey))

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)

    # ------------------------------------------------------------------ dispatch
    def _project(self, rkey: str, raw: Obj) -> Any:
        if rkey == PODS:
            return pod_record(raw)
        if rkey == NODES:
            return node_record(raw)
        if rkey == QUEUES:
            return queue_record(raw)
        if rkey == PODGROUPS:
            return podgroup_record(raw)
        if rkey == SERVICES:
            return service_record(raw)
        if rkey == RESOURCEQUOTAS:
            return quota_record(raw)
        if rkey == HPAS:
            return hpa_record(raw)
        return owner_record(rkey, raw)

    @staticmethod
    def _key_of(rkey: str, rec: Any) -> Any:
        if rkey in (NODES, QUEUES):
            return rec.name
        return rec.key

    def _table(self, rkey: str) -> dict:
        return {PODS: self.pods, NODES: self.nodes, QUEUES: self.queues, PODGROUPS: self.podgroups,
                SERVICES: self.services, RESOURCEQUOTAS: self.quotas, HPAS: self.hpas}.get(rkey, self.owners)

    @staticmethod
    def _in_scope(rkey: str, key: Any, namespace: str | None) -> bool:
        if rkey in OWNER_BY_KEY:
            return key[0] == rkey and (namespace is None or key[1] == namespace)
        if namespace is None or rkey in (NODES, QUEUES):
            return True
        return key[0] == namespace

    def _put(self, rkey: str, rec: Any) -> None:
        if rkey == PODS:
            self._put_pod(rec)
        elif rkey == NODES:
            self._put_node(rec)
        elif rkey == QUEUES:
            self._put_queue(rec)
        elif rkey == PODGROUPS:
            self._put_podgroup(rec)
        elif rkey == SERVICES:
            self._put_service(rec)
        elif rkey == RESOURCEQUOTAS:
            self._put_quota(rec)
        elif rkey == HPAS:
            self._put_hpa(rec)
        else:
            self._put_owner(rec)

    def _remove(self, rkey: str, key: Any) -> None:
        if rkey == PODS:
            self._del_pod(key)
        elif rkey == NODES:
            self._del_node(key)
        elif rkey == QUEUES:
            self._del_queue(key)
        elif rkey == PODGROUPS:
            self._del_podgroup(key)
        elif rkey == SERVICES:
            self._del_service(key)
        elif rkey == RESOURCEQUOTAS:
            self._del_quota(key)
        elif rkey == HPAS:
            self._del_hpa(key)
        else:
            self._del_owner(key)

    # ------------------------------------------------------------------ pods
    def _put_pod(self, new: PodRec) -> None:
        key = new.key
        old = self.pods.get(key)
        if old is not None:
            self._unindex_pod(old)
        self.resolve_into(new)
        self.pods[key] = new
        self._index_pod(new)
        what = ALL_VIEWS if old is None else _what_changed(old, new)
        self._touch_pod(old, what)
        self._touch_pod(new, what)

    def _del_pod(self, key: PodKey) -> None:
        old = self.pods.pop(key, None)
        if old is None:
            return
        self._unindex_pod(old)
        self._touch_pod(old)

    def _index_pod(self, p: PodRec) -> None:
        key = p.key
        if p.node:
            _add(self.pods_by_node, p.node, key)
        if p.queue is not None:
            _add(self.pods_by_queue, p.queue, key)
        _add(self.pods_by_ns, p.namespace, key)
        if p.workload is not None:
            _add(self.pods_by_workload, p.workload, key)
        if p.owner is not None and p.owner.uid:
            _add(self.pods_by_owner_uid, p.owner.uid, key)
        for g in p.gpu_groups:
            _add(self.reservations_by_group if p.reservation else self.fractions_by_group, g, key)
        if p.podgroup:
            _add(self.pods_by_podgroup, (p.namespace, p.podgroup), key)
        ksvc = p.labels.get(KNATIVE_SERVICE_LABEL)
        if ksvc:
            _add(self.knative_pods, (p.namespace, ksvc), key)
        shape = pending_shape(p)
        if shape is not None:
            self.pending_shapes[shape] += 1

    def _unindex_pod(self, p: PodRec) -> None:
        key = p.key
        if p.node:
            _discard(self.pods_by_node, p.node, key)
        if p.queue is not None:
            _discard(self.pods_by_queue, p.queue, key)
        _discard(self.pods_by_ns, p.namespace, key)
        if p.workload is not None:
            _discard(self.pods_by_workload, p.workload, key)
        if p.owner is not None and p.owner.uid:
            _discard(self.pods_by_owner_uid, p.owner.uid, key)
        for g in p.gpu_groups:
            _discard(self.reservations_by_group if p.reservation else self.fractions_by_group, g, key)
        if p.podgroup:
            _discard(self.pods_by_podgroup, (p.namespace, p.podgroup), key)
        ksvc = p.labels.get(KNATIVE_SERVICE_LABEL)
        if ksvc:
            _discard(self.knative_pods, (p.namespace, ksvc), key)
        shape = pending_shape(p)
        if shape is not None:
            self.pending_shapes[shape] -= 1
            if self.pending_shapes[shape] <= 0:
                del self.pending_shapes[shape]

    def _touch_pod(self, p: PodRec | None, what: int = ALL_VIEWS) -> None:
        """Mark the view rows this pod's state feeds (`what`: the views whose inputs changed)."""
        if p is None:
            return
        if p.workload is not None and what & WORKLOADS:
            self.dirty_workloads.add(p.workload)
        if what & PROJECTS:
            if p.queue is not None:
                self.dirty_projects.add(p.queue)
            self.dirty_projects.add(p.namespace)
        if p.node and what & NODES_VIEW:
            self.dirty_nodes.add(p.node)
        if not what & GPUS:
            return
        if p.node:
            self.dirty_gpu_nodes.add(p.node)
        for g in p.gpu_groups:
            for rk in self.reservations_by_group.get(g, ()):
                r = self.pods.get(rk)
                if r is not None and r.node:
                    self.dirty_gpu_nodes.add(r.node)
            if p.reservation:  # holders of this group may sit on another node's row list
                for fk in self.fractions_by_group.get(g, ()):
                    f = self.pods.get(fk)
                    if f is not None and f.node:
                        self.dirty_gpu_nodes.add(f.node)

    def _reresolve(self, keys: Iterable[PodKey]) -> None:
        """Resolve pods again after something they depend on changed; re-index and mark what moved."""
        for key in list(keys):
            p = self.pods.get(key)
            if p is None:
                continue
            new = copy.copy(p)  # a stored record is never changed in place (see `ClusterStore`)
            self.resolve_into(new)
            self._unindex_pod(p)
            self.pods[key] = new
            self._index_pod(new)
            what = _what_changed(p, new)
            self._touch_pod(p, what)
            self._touch_pod(new, what)

    # ------------------------------------------------------------------ resolution
    def owner_for_ref(self, namespace: str, ref: Ref, by_uid: dict[str, OwnerRec] | None = None
                      ) -> OwnerRec | None:
        if ref.uid:
            rec = (self._owners_by_uid if by_uid is None else by_uid).get(ref.uid)
            return rec if rec is not None and rec.namespace == namespace else None
        ok = OWNER_BY_GROUP_KIND.get((ref.group, ref.kind))
        return self.owners.get((ok.key, namespace, ref.name)) if ok else None

    def top_owner(self, namespace: str, ref: Ref | None, labels: dict[str, str], name: str,
                  by_uid: dict[str, OwnerRec] | None = None) -> tuple[WKey, str, OwnerRec | None]:
        """Walk controller references through the owners held here: (workload key, API group, record).

        An owner not held here ends the walk: it is the top owner as far as the console can see. Knative
        Revisions and Configurations, when not watched, lead to the Knative Service named by the pod's
        `serving.knative.dev/service` label.
        """
        if ref is None:
            return (namespace, "Pod", name), "", None
        cur = ref
        for _ in range(16):
            rec = self.owner_for_ref(namespace, cur, by_uid)
            if rec is None:
                if cur.group == "serving.knative.dev" and cur.kind in ("Revision", "Configuration"):
                    svc = labels.get(KNATIVE_SERVICE_LABEL)
                    if svc:
                        cur = Ref("Service", "serving.knative.dev", svc, "")
                        continue
                return (namespace, cur.kind, cur.name), cur.group, None
            if KNATIVE_SERVICE_LABEL in rec.labels:
                labels = rec.labels
            if rec.owner is None:
                return (namespace, rec.kind, rec.name), rec.group, rec
            cur = rec.owner
        return (namespace, cur.kind, cur.name), cur.group, None  # a reference cycle: stop where we are

    def owner_of_workload(self, wkey: WKey) -> OwnerRec | None:
        """The record a workload's row reads replicas from: an owner record with no owner of its own."""
        ns, kind, name = wkey
        for rkey in KEYS_BY_KIND.get(kind, ()):
            rec = self.owners.get((rkey, ns, name))
            if rec is not None and rec.owner is None:
                return rec
        return None

    def resolve_into(self, p: PodRec, by_uid: dict[str, OwnerRec] | None = None) -> None:
        """Fill the pod's workload, queue, priority class and preemptibility from what the store holds."""
        if p.reservation:
            p.workload, p.queue, p.pclass, p.preemptible = None, None, None, True
            return
        wkey, _, top = self.top_owner(p.namespace, p.owner, p.labels, p.name, by_uid)
        shared = self._wkeys.get(wkey)
        if shared is None:
            if len(self._wkeys) >= _RESOLVE_CACHE_MAX * 4:
                self._wkeys.clear()
            self._wkeys[wkey] = shared = wkey
        wkey = shared  # one key tuple for all pods of a workload
        pg = self.podgroups.get((p.namespace, p.podgroup)) if p.podgroup else None
        p.workload = wkey
        p.queue, p.pclass, p.preemptible = self._rules(p, top.labels if top else None, wkey[1], pg)

    def _rules(self, p: PodRec, owner_labels: dict[str, str] | None, top_kind: str,
               pg: PodGroupRec | None) -> tuple[str | None, str | None, bool]:
        ckey = (id(p.labels), p.priority_class, p.scheduler, id(owner_labels), top_kind,
                pg.queue if pg else None, pg.priority_class if pg else None, pg.preemptibility if pg else None)
        hit = self._resolve_cache.get(ckey)
        if hit is not None and hit[0] is p.labels and hit[1] is owner_labels:
            return hit[2]
        pod_d = {"metadata": {"labels": p.labels}, "spec": {"priorityClassName": p.priority_class}}
        owner_d = {"metadata": {"labels": owner_labels}} if owner_labels is not None else None
        queue = pg.queue if pg and pg.queue else podspec.queue_of(pod_d, owner_d)
        if queue is None and p.scheduler in podspec.KAI_SCHEDULERS:
            queue = podspec.DEFAULT_QUEUE
        pclass = (pg.priority_class if pg and pg.priority_class else None) \
            or podspec.priority_class_of(pod_d, owner_d) or podspec.default_priority_class(top_kind)
        label = podspec.preemptibility_of(pod_d, owner_d)
        preemptible = podspec.is_preemptible(
            podspec.priority_value(pclass),
            {podspec.PREEMPTIBILITY_LABEL: label} if label else None,
            pg.preemptibility if pg else None)
        result = (queue, pclass, preemptible)
        if len(self._resolve_cache) >= _RESOLVE_CACHE_MAX:
            self._resolve_cache.clear()
        self._resolve_cache[ckey] = (p.labels, owner_labels, result)
        return result

    def resolved_copy(self, p: PodRec, by_uid: dict[str, OwnerRec] | None = None) -> PodRec:
        """The pod resolved afresh, ignoring its cached fields; `by_uid` replaces the owner index (oracle)."""
        q = copy.copy(p)
        self.resolve_into(q, by_uid)
        return q

    # ------------------------------------------------------------------ owners
    def _descendant_pods(self, uid: str) -> set[PodKey]:
        out: set[PodKey] = set()
        stack, seen = [uid], {uid}
        while stack:
            u = stack.pop()
            out.update(self.pods_by_owner_uid.get(u, ()))
            for ok in self.owners_by_owner_uid.get(u, ()):
                rec = self.owners.get(ok)
                if rec is not None and rec.uid and rec.uid not in seen:
                    seen.add(rec.uid)
                    stack.append(rec.uid)
        return out

    def _affected_by_owner(self, rec: OwnerRec) -> set[PodKey]:
        pods = self._descendant_pods(rec.uid) if rec.uid else set()
        pods.update(self.pods_by_workload.get((rec.namespace, rec.kind, rec.name), ()))
        if rec.group == "serving.knative.dev" and rec.kind == "Service":
            ref = (rec.namespace, rec.name)
            pods.update(self.knative_pods.get(ref, ()))
            for uid in self.knative_owners.get(ref, ()):
                pods |= self._descendant_pods(uid)
        return pods

    def _index_owner(self, rec: OwnerRec) -> None:
        if rec.uid:
            self._owners_by_uid[rec.uid] = rec
        if rec.owner is not None and rec.owner.uid:
            _add(self.owners_by_owner_uid, rec.owner.uid, rec.key)
        if rec.owner is None:
            self.owner_roots.add((rec.namespace, rec.kind, rec.name))
        ksvc = rec.labels.get(KNATIVE_SERVICE_LABEL)
        if ksvc and rec.uid:
            _add(self.knative_owners, (rec.namespace, ksvc), rec.uid)
        svc = _service_of(rec)
        if svc:
            _add(self.revisions_by_service, (rec.namespace, svc), rec.key)

    def _unindex_owner(self, rec: OwnerRec) -> None:
        if rec.uid and self._owners_by_uid.get(rec.uid) is rec:
            del self._owners_by_uid[rec.uid]
        if rec.owner is not None and rec.owner.uid:
            _discard(self.owners_by_owner_uid, rec.owner.uid, rec.key)
        ksvc = rec.labels.get(KNATIVE_SERVICE_LABEL)
        if ksvc and rec.uid:
            _discard(self.knative_owners, (rec.namespace, ksvc), rec.uid)
        svc = _service_of(rec)
        if svc:
            _discard(self.revisions_by_service, (rec.namespace, svc), rec.key)
        if rec.owner is None:
            wk = (rec.namespace, rec.kind, rec.name)
            if not any(r is not rec and r.owner is None and (r.namespace, r.kind, r.name) == wk
                       for r in self._same_name(rec)):
                self.owner_roots.discard(wk)

    def _same_name(self, rec: OwnerRec) -> list[OwnerRec]:
        return [r for rkey in KEYS_BY_KIND.get(rec.kind, ())
                for r in (self.owners.get((rkey, rec.namespace, rec.name)),) if r is not None]

    def _put_owner(self, new: OwnerRec) -> None:
        old = self.owners.get(new.key)
        structural = old is None or (old.uid, old.owner, old.labels) != (new.uid, new.owner, new.labels)
        affected: set[PodKey] = set()
        if old is not None:
            if structural:
                affected |= self._affected_by_owner(old)
            self._unindex_owner(old)
            self._touch_owner(old)
        else:
            self._owner_counts[new.rkey] += 1
        self.owners[new.key] = new
        self._index_owner(new)
        if structural:
            affected |= self._affected_by_owner(new)
            self._reresolve(affected)
        self._touch_owner(new)

    def _del_owner(self, key: OwnerKey) -> None:
        old = self.owners.pop(key, None)
        if old is None:
            return
        self._owner_counts[old.rkey] -= 1
        affected = self._affected_by_owner(old)
        self._unindex_owner(old)
        self._touch_owner(old)
        self._reresolve(affected)

    def _touch_owner(self, rec: OwnerRec) -> None:
        wkey, _, _ = self.top_owner(rec.namespace, rec.owner, rec.labels, rec.name) if rec.owner else \
            ((rec.namespace, rec.kind, rec.name), "", rec)
        self.dirty_workloads.add(wkey)
        self.dirty_workloads.add((rec.namespace, rec.kind, rec.name))

    # ------------------------------------------------------------------ horizontal pod autoscalers
    def _put_hpa(self, new: HpaRec) -> None:
        old = self.hpas.get(new.key)
        if old is not None:
            _discard(self.hpas_by_target, old.target, old.key)
            self._touch_hpa(old)
        self.hpas[new.key] = new
        _add(self.hpas_by_target, new.target, new.key)
        self._touch_hpa(new)

    def _del_hpa(self, key: PodKey) -> None:
        old = self.hpas.pop(key, None)
        if old is None:
            return
        _discard(self.hpas_by_target, old.target, old.key)
        self._touch_hpa(old)

    def _touch_hpa(self, h: HpaRec) -> None:
        """The row of the HPA's target's workload, or the HPA's own row while its target is missing."""
        self.dirty_workloads.add((h.namespace, HPA_KIND, h.name))
        ok = OWNER_BY_GROUP_KIND.get((h.target_group, h.target_kind))
        rec = self.owners.get((ok.key, h.namespace, h.target_name)) if ok else None
        if rec is not None:
            self._touch_owner(rec)
        else:
            self.dirty_workloads.add(h.target)

    def hpa_for_target(self, ns: str, kind: str, name: str) -> HpaRec | None:
        keys = self.hpas_by_target.get((ns, kind, name))
        return self.hpas[min(keys)] if keys else None

    def orphan_hpa(self, key: WKey) -> HpaRec | None:
        """An HPA whose scale target the console does not see: it gets a row of its own to say so."""
        if key[1] != HPA_KIND:
            return None
        h = self.hpas.get((key[0], key[2]))
        if h is None:
            return None
        ok = OWNER_BY_GROUP_KIND.get((h.target_group, h.target_kind))
        if ok is not None and (ok.key, h.namespace, h.target_name) in self.owners:
            return None
        return h

    def revisions_of(self, ns: str, service: str) -> list[OwnerRec]:
        """Knative Revisions serving a Knative Service, InferenceService or Run:ai workload of that name."""
        return [r for k in self.revisions_by_service.get((ns, service), ()) if (r := self.owners.get(k))]

    # ------------------------------------------------------------------ podgroups
    def _put_podgroup(self, new: PodGroupRec) -> None:
        old = self.podgroups.get(new.key)
        self.podgroups[new.key] = new
        pods = self.pods_by_podgroup.get(new.key, ())
        if old is None or (old.queue, old.priority_class, old.preemptibility) != \
                (new.queue, new.priority_class, new.preemptibility):
            self._reresolve(pods)
        self._touch_podgroup(new.key)

    def _del_podgroup(self, key: PodKey) -> None:
        if self.podgroups.pop(key, None) is None:
            return
        self._reresolve(self.pods_by_podgroup.get(key, ()))
        self._touch_podgroup(key)

    def _touch_podgroup(self, key: PodKey) -> None:
        for pk in self.pods_by_podgroup.get(key, ()):
            p = self.pods.get(pk)
            if p is not None and p.workload is not None:
                self.dirty_workloads.add(p.workload)

    # ------------------------------------------------------------------ queues
    @property
    def kai_mode(self) -> bool:
        """Queues exist: projects are KAI queues. Otherwise namespaces with a GPU ResourceQuota are."""
        return bool(self.queues)

    def _put_queue(self, new: QueueRec) -> None:
        old = self.queues.get(new.name)
        if old is not None and old.parent:
            _discard(self.queue_children, old.parent, old.name)
            self._touch_queue_chain(old.parent)
        self.queues[new.name] = new
        if new.parent:
            _add(self.queue_children, new.parent, new.name)
        self._touch_queue_chain(new.name)

    def _del_queue(self, name: str) -> None:
        old = self.queues.pop(name, None)
        if old is None:
            return
        if old.parent:
            _discard(self.queue_children, old.parent, name)
            self._touch_queue_chain(old.parent)
        self._touch_queue_chain(name)

    def _touch_queue_chain(self, name: str) -> None:
        """A queue and its ancestors (their rows sum their children)."""
        seen: set[str] = set()
        cur: str | None = name
        while cur and cur not in seen:
            seen.add(cur)
            self.dirty_projects.add(cur)
            q = self.queues.get(cur)
            cur = q.parent if q else None

    # ------------------------------------------------------------------ nodes, services, quotas
    def _put_node(self, new: NodeRec) -> None:
        old = self.nodes.get(new.name)
        self.nodes[new.name] = new
        self._touch_node(new.name, old is None or old.gpu_memory_mib != new.gpu_memory_mib)

    def _del_node(self, name: str) -> None:
        old = self.nodes.pop(name, None)
        if old is not None:
            self._touch_node(name, True)

    def _touch_node(self, name: str, memory_changed: bool) -> None:
        self.dirty_gpu_nodes.add(name)
        self.dirty_nodes.add(name)
        if memory_changed:  # memory-sized requests on this node change their GPU share
            for pk in self.pods_by_node.get(name, ()):
                p = self.pods.get(pk)
                if p is not None and p.gpu.kind == "memory":
                    self._touch_pod(p)

    def _put_service(self, new: ServiceRec) -> None:
        old = self.services.get(new.key)
        if old is not None:
            self._unindex_service(old)
        self.services[new.key] = new
        _add(self.services_by_ns, new.namespace, new.key)
        if new.selector:
            k, v = min(new.selector.items())
            _add(self.services_by_pair, (new.namespace, k, v), new.key)
        self._touch_namespace_workloads(new.namespace)

    def _unindex_service(self, old: ServiceRec) -> None:
        _discard(self.services_by_ns, old.namespace, old.key)
        if old.selector:
            k, v = min(old.selector.items())
            _discard(self.services_by_pair, (old.namespace, k, v), old.key)

    def _del_service(self, key: PodKey) -> None:
        old = self.services.pop(key, None)
        if old is None:
            return
        self._unindex_service(old)
        self._touch_namespace_workloads(key[0])

    def _touch_namespace_workloads(self, ns: str) -> None:
        """Every workload of the namespace (Services and quotas there change their rows).

        Workloads without a row yet are dirty already, so the view's rows are all there is to mark.
        """
        self.dirty_workloads.update(self.workloads.by_ns.get(ns, ()))

    def _put_quota(self, new: QuotaRec) -> None:
        self.quotas[new.key] = new
        _add(self.quotas_by_ns, new.namespace, new.key)
        self.dirty_projects.add(new.namespace)
        self._touch_namespace_workloads(new.namespace)

    def _del_quota(self, key: PodKey) -> None:
        if self.quotas.pop(key, None) is None:
            return
        _discard(self.quotas_by_ns, key[0], key)
        self.dirty_projects.add(key[0])
        self._touch_namespace_workloads(key[0])

    def namespace_quota(self, ns: str) -> QuotaRec | None:
        """The namespace's GPU ResourceQuota (the tightest, if several), or None."""
        best: QuotaRec | None = None
        for k in sorted(self.quotas_by_ns.get(ns, ())):
            q = self.quotas[k]
            if q.hard_gpu is not None and (best is None or q.hard_gpu < (best.hard_gpu or 0)):
                best = q
        return best

    # ------------------------------------------------------------------ small lookups for the views
    def node_memory(self, node: str) -> int | None:
        n = self.nodes.get(node)
        return n.gpu_memory_mib if n else None

    def service_candidates(self, ns: str, name: str, label_sets: Iterable[dict[str, str]]) -> list[ServiceRec]:
        """Services that may front pods with these label sets (a superset; the caller checks selectors),
        plus the Service named like the workload."""
        keys: set[PodKey] = set()
        if (ns, name) in self.services:
            keys.add((ns, name))
        for labels in label_sets:
            for k, v in labels.items():
                keys.update(self.services_by_pair.get((ns, k, v), ()))
        return [self.services[k] for k in sorted(keys)]

    def pods_of(self, keys: Iterable[PodKey]) -> list[PodRec]:
        return [self.pods[k] for k in keys if k in self.pods]

    # ------------------------------------------------------------------ output
    def refresh(self, budget_s: float | None = None) -> None:
        """Recompute the dirty rows of every view; the changes accumulate until `drain()`.

        With `budget_s`, rows are recomputed in small batches until the time is spent and the rest stay dirty
        for the next call: under a storm of events the UI's flush stays short (the next one goes on), and
        a row changed many times meanwhile is computed once.
        """
        mode = self.kai_mode
        if mode != self._kai_mode_seen:
            self._kai_mode_seen = mode
            self.dirty_workloads |= set(self.pods_by_workload) | self.owner_roots | set(self.workloads.rows)
            self.dirty_projects |= set(self.queues) | set(self.pods_by_queue) | set(self.quotas_by_ns) \
                | set(self.projects.rows)
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        d = self._delta
        wl_dirty, self.dirty_workloads = _batch(self.dirty_workloads, deadline, first=True)
        while wl_dirty:
            changed, removed, touched_projects = self.workloads.refresh(self, wl_dirty)
            d.workloads.merge(changed, removed)
            self.dirty_projects |= touched_projects
            wl_dirty, self.dirty_workloads = _batch(self.dirty_workloads, deadline)
        pr_changed: dict[str, Any] = {}
        pr_removed: set[str] = set()
        pr_dirty, self.dirty_projects = _batch(self.dirty_projects, deadline, first=True)
        while pr_dirty:
            changed, removed = self.projects.refresh(self, pr_dirty)
            pr_changed.update(changed)
            pr_removed |= removed
            d.projects.merge(changed, removed)
            pr_dirty, self.dirty_projects = _batch(self.dirty_projects, deadline)
        gn_dirty, self.dirty_gpu_nodes = _batch(self.dirty_gpu_nodes, deadline, first=True)
        while True:   # once even with nothing dirty: a change in what waits re-marks slivers (fragmentation)
            d.gpus.merge(*self.gpus.refresh(self, gn_dirty))
            gn_dirty, self.dirty_gpu_nodes = _batch(self.dirty_gpu_nodes, deadline)
            if not gn_dirty:
                break
        nd_dirty, self.dirty_nodes = self.dirty_nodes, set()
        nd_changed, nd_removed = self.nodes_view.refresh(self, nd_dirty)
        d.nodes.merge(nd_changed, nd_removed)
        # Fair shares are global: any project's request or allocation, or the GPU capacity, moves them all.
        if pr_changed or pr_removed or nd_changed or nd_removed:
            self.fair_share.dirty = True
        moved = self.fair_share.refresh(self.queues, self.projects.rows, self.nodes.values(), mode)
        rows = self.projects.rows
        d.projects.merge({n: rows[n] for n in moved if n in rows}, ())
        if self._health_dirty:
            d.health = True
            self._health_dirty = False

    def set_kai_fair_share(self, kai: Any) -> None:
        """KAI's own fair shares as read from its scheduler's metrics (a `KaiFairShare`), or None."""
        self.fair_share.set_kai(kai)

    @property
    def dirty_count(self) -> int:
        return len(self.dirty_workloads) + len(self.dirty_projects) + len(self.dirty_gpu_nodes) + len(self.dirty_nodes)

    @property
    def behind(self) -> bool:
        """Rows are still dirty (a budgeted refresh left them for the next one)."""
        return bool(self.dirty_workloads or self.dirty_projects or self.dirty_gpu_nodes or self.dirty_nodes)

    def drain(self, budget_s: float | None = None) -> Delta:
        """What changed since the last drain (rows upserted and removed per view, health changed); with
        `budget_s`, at most about that much time is spent and what is left waits (`behind`)."""
        with _gc_paused():
            self.refresh(budget_s)
        out, self._delta = self._delta, Delta()
        return out

    def full_recompute(self) -> dict[str, dict]:
        """Every view computed from scratch from the records alone: the oracle for the incremental views."""
        wl = views_workloads.compute_all(self)
        return {
            "workloads": wl,
            "projects": views_projects.compute_all(self, wl),
            "gpus": views_gpus.compute_all(self),
            "nodes": views_nodes.compute_all(self),
        }

    def current(self) -> dict[str, dict]:
        """The incremental views' rows after a refresh, keyed like `full_recompute()`."""
        self.refresh()
        return {"workloads": dict(self.workloads.rows), "projects": dict(self.projects.rows),
                "gpus": dict(self.gpus.rows), "nodes": dict(self.nodes_view.rows)}
