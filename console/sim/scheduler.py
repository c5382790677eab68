"""The simulated KAI scheduler: pod-grouper, scheduler, binder and queue status, over the store.

One controller does what KAI's pod-grouper, scheduler, binder and queue controller do between them,
using the rules in `console.model.kai_*` (the same ones the console's preemption preview uses). It keeps
its allocation state incrementally from `store.subscribe` changes, so a round over a few pending pods
does not rescan 60,000 pods. Pods that name another scheduler (or none) get a plain default scheduler.
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Any

from console.model import kai_alloc
from console.model.kai_alloc import Eviction, PendingJob, Placement, Unschedulable
from console.model.kai_queues import QueueTree, queue_spec_from_obj
from console.model.kai_state import ClusterState, NodeFilter, NodeInfo, PodRec
from console.model.podspec import (
    DEFAULT_QUEUE, GPU_RESOURCE, KAI_SCHEDULERS, MIG_PREFIX, NO_GPU, GpuRequest, controller_ref,
    default_priority_class, gpu_request, is_preemptible, node_gpu_memory, pod_requests,
    preemptibility_of, priority_class_of, queue_of, validate_sharing,
)
from console.model.quantity import parse_quantity

from . import kai_objects as ko
from .cluster import SimCluster
from .errors import ApiError
from .resources import (
    BINDREQUESTS, EVENTS, NAMESPACES, NODES, PODGROUPS, PODS, PRIORITYCLASSES, QUEUES, ResourceType, for_kind,
)
from .store import DELETED, Change, Key, Obj

DEFAULT_SCHEDULER = "default-scheduler"
TERMINAL = ("Succeeded", "Failed")
REPEAT_EVENT_S = 30.0  # a repeated FailedScheduling bumps `count` at most this often (sim seconds)


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _skey(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def is_reservation_pod(pod: Obj) -> bool:
    md = _md(pod)
    return md.get("namespace") in ko.RESERVATION_NAMESPACES and bool((md.get("labels") or {}).get(ko.GPU_GROUP_LABEL))


def gpu_groups_of(pod: Obj) -> tuple[str, ...]:
    """`runai-gpu-group: <id>`, or one `runai-gpu-group/<id>: <id>` label per device."""
    labels = _md(pod).get("labels") or {}
    out = []
    for k, v in labels.items():
        if k == ko.GPU_GROUP_LABEL and v:
            out.append(v)
        elif k.startswith(ko.GPU_GROUP_LABEL + "/"):
            out.append(v or k.split("/", 1)[1])
    return tuple(out)


def node_info(node: Obj) -> NodeInfo:
    """A Node object as the scheduler sees it: GPUs, GPU memory, cpu/memory, MIG, cordon and readiness."""
    md = _md(node)
    st = node.get("status") or {}
    alloc = st.get("allocatable") or st.get("capacity") or {}
    labels = dict(md.get("labels") or {})

    def q(v: Any) -> float | None:
        try:
            return parse_quantity(v) if v is not None else None
        except ValueError:
            return None

    gpus = q(alloc.get(GPU_RESOURCE))
    if gpus is None:
        try:
            gpus = float(labels.get("nvidia.com/gpu.count", 0))
        except ValueError:
            gpus = 0.0
    mig = {k[len(MIG_PREFIX):]: int(q(v) or 0) for k, v in alloc.items() if k.startswith(MIG_PREFIX)}
    conds = st.get("conditions")
    ready = True
    if conds:
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    schedulable = ready and not (node.get("spec") or {}).get("unschedulable")
    return NodeInfo(md.get("name", ""), gpus=int(gpus or 0), gpu_memory_mib=node_gpu_memory(node),
                    cpu=q(alloc.get("cpu")), memory=q(alloc.get("memory")), mig=mig, labels=labels,
                    schedulable=bool(schedulable))


def node_filter(pod: Obj) -> NodeFilter | None:
    """`nodeSelector` and required node affinity (labels and `metadata.name` fields)."""
    spec = pod.get("spec") or {}
    sel = spec.get("nodeSelector") or {}
    req = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
            .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    terms: list[list[tuple[str, str, frozenset[str]]]] = []
    names: set[str] | None = None
    for t in req.get("nodeSelectorTerms") or []:
        exprs = [(e.get("key", ""), e.get("operator", ""), frozenset(e.get("values") or ()))
                 for e in t.get("matchExpressions") or []]
        for f in t.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In":
                names = (names or set()) | set(f.get("values") or ())
        if exprs:
            terms.append(exprs)
    if not sel and not terms and names is None:
        return None
    return NodeFilter(dict(sel), terms, frozenset(names) if names is not None else None)


def default_gpu_request(pod: Obj) -> GpuRequest:
    """What the default scheduler sees: extended resources only (sharing annotations mean nothing to it)."""
    reqs = pod_requests(pod)
    whole = int(reqs.get(GPU_RESOURCE, 0))
    if whole > 0:
        return GpuRequest("whole", whole, total=float(whole))
    for k, v in reqs.items():
        if k.startswith(MIG_PREFIX) and v >= 1:
            return GpuRequest("mig", int(v), mig_profile=k[len(MIG_PREFIX):])
    return NO_GPU


class KaiScheduler:
    """Controller: `reconcile()` groups, schedules, binds, evicts and writes status; True if it wrote."""

    name = "kai-scheduler"

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.rng = random.Random(f"{cluster.seed}/kai-scheduler")
        self.state = ClusterState()
        self.dirty_pods: dict[Key, None] = {}
        self.dirty_nodes: dict[str, None] = {}
        self.queues_dirty = True
        self.pcs_dirty = True
        self.needs_resync = True
        self._seen_rv = self.store.resource_version
        self.pending: dict[Key, PodRec] = {}          # KAI pods waiting for a node
        self.default_pending: dict[Key, PodRec] = {}  # other pods waiting for a node
        self.binding: dict[Key, Placement] = {}       # fraction pods waiting for their reservation pods
        self.reservations: dict[str, tuple[str, str, str, str | None]] = {}  # group -> ns, name, node, GPU
        self.reservation_of: dict[Key, str] = {}  # reservation pod -> its group
        self.job_pods: dict[str, dict[Key, None]] = {}  # PodGroup "ns/name" -> its KAI pods
        self.pod_job: dict[Key, str] = {}
        self.errors: dict[Key, str] = {}
        self.min_member: dict[str, int] = {}  # PodGroup "ns/name" -> spec.minMember
        self.reasons: dict[str, Unschedulable] = {}
        self.dirty_jobs: set[str] = set()
        self.fair: dict[str, float] = {}
        self.retry = True
        self.status_dirty = True
        self._sig: dict[Key, tuple] = {}
        self._born: dict[Key, int] = {}
        self._seq = itertools.count()
        self._fail_events: dict[Key, tuple[str, str, str, float]] = {}  # reason, message, event name, when
        self.pc: dict[str, int] = {}
        self.pc_default: int | None = None
        self._writes = 0
        self.store.subscribe(self._on_change)

    # ------------------------------------------------------------------ change feed
    def _on_change(self, ch: Change) -> None:
        if ch.rv != self._seen_rv + 1:
            self.needs_resync = True  # a bulk load or a new rv epoch: changes happened that we did not hear
        self._seen_rv = ch.rv
        rk = ch.rkey
        if rk == "pods":
            md = ch.obj["metadata"]
            self.dirty_pods[(md.get("namespace", ""), md["name"])] = None
        elif rk == "nodes":
            self.dirty_nodes[ch.obj["metadata"]["name"]] = None
        elif rk == QUEUES.key:
            if ch.type == DELETED or ch.old is None or (ch.obj.get("spec") != ch.old.get("spec")):
                self.queues_dirty = True
        elif rk == PRIORITYCLASSES.key:
            self.pcs_dirty = True
        elif rk == PODGROUPS.key:
            if ch.type == DELETED or ch.old is None or ch.obj.get("spec") != ch.old.get("spec"):
                md = ch.obj["metadata"]
                for k in self.job_pods.get(f"{md.get('namespace')}/{md['name']}", ()):
                    self.dirty_pods[k] = None

    def resync(self) -> None:
        """Rebuild from the store at the next round (after a bulk `store.load`)."""
        self.needs_resync = True

    def _full_resync(self) -> None:
        self.needs_resync = False
        self.state = ClusterState()
        for d in (self.pending, self.default_pending, self.binding, self.reservations, self.reservation_of,
                  self.job_pods, self.pod_job, self.errors, self._sig):
            d.clear()
        self.dirty_pods.clear()
        self.dirty_nodes.clear()
        self._load_pcs()
        self._load_queues()
        for n in self.store.items(NODES):
            self.state.set_node(node_info(n))
        self.state.set_tree(self.state.tree)
        for br in self.store.items(BINDREQUESTS):
            if (br.get("status") or {}).get("phase", "Pending") == "Pending":
                self._restore_binding(br)
        for pod in self.store.items(PODS):
            md = pod["metadata"]
            self._sync_pod((md.get("namespace", ""), md["name"]), pod)
        self._seen_rv = self.store.resource_version
        self.retry = True
        self.status_dirty = True
        self.dirty_jobs.update(self.job_pods)

    def _restore_binding(self, br: Obj) -> None:
        md = _md(br)
        spec = br.get("spec") or {}
        pod = self.store.try_get(PODS, md.get("namespace"), spec.get("podName", md.get("name")))
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            return
        key = (md.get("namespace", ""), _md(pod)["name"])
        groups = tuple(spec.get("selectedGPUGroups") or ())
        try:
            portion = float((spec.get("receivedGPU") or {}).get("portion", 0))
        except (TypeError, ValueError):
            portion = 0.0
        rec = self._rec(pod, True)
        self.state.add_pod(rec, spec.get("selectedNode", ""), groups, portion)
        self.binding[key] = Placement(_skey(key), rec.job, spec.get("selectedNode", ""), groups, (), portion)

    # ------------------------------------------------------------------ priority classes and queues
    def _load_pcs(self) -> None:
        self.pcs_dirty = False
        self.pc.clear()
        self.pc_default = None
        for o in self.store.items(PRIORITYCLASSES):
            try:
                v = int(o.get("value", 0))
            except (TypeError, ValueError):
                continue
            self.pc[_md(o).get("name", "")] = v
            if o.get("globalDefault"):
                self.pc_default = v
        self.retry = True

    def priority(self, name: str | None) -> int:
        """The cluster's PriorityClass value; missing → the globalDefault class → 50."""
        if name and name in self.pc:
            return self.pc[name]
        return self.pc_default if self.pc_default is not None else 50

    def _load_queues(self) -> None:
        self.queues_dirty = False
        tree = QueueTree(queue_spec_from_obj(o) for o in self.store.items(QUEUES))
        self.state.set_tree(tree)
        self.retry = True
        self.status_dirty = True

    # ------------------------------------------------------------------ pods into state
    def _rec(self, pod: Obj, kai: bool) -> PodRec:
        md = pod["metadata"]
        ns, name = md.get("namespace", ""), md["name"]
        key = (ns, name)
        born = self._born.get(key)
        if born is None:
            born = self._born[key] = next(self._seq)
        created = f"{md.get('creationTimestamp', '')}#{born:09d}"
        reqs = pod_requests(pod)
        err = None
        if kai:
            try:
                req = gpu_request(pod)
            except ValueError as e:
                req, err = NO_GPU, str(e)
            ann = md.get("annotations") or {}
            pgname = ann.get(ko.POD_GROUP_ANNOTATION)
            pg = self.store.try_get(PODGROUPS, ns, pgname) if pgname else None
            if pg is not None:
                spec = pg.get("spec") or {}
                queue = spec.get("queue") or DEFAULT_QUEUE
                pcname = spec.get("priorityClassName") or priority_class_of(pod) or "train"
                prio = self.priority(pcname)
                pre = is_preemptible(prio, md.get("labels") or {}, spec.get("preemptibility"))
                job = f"{ns}/{pgname}"
                try:
                    self.min_member[job] = max(1, int(spec.get("minMember") or 1))
                except (TypeError, ValueError):
                    self.min_member[job] = 1
            else:
                queue = queue_of(pod) or DEFAULT_QUEUE
                prio = self.priority(priority_class_of(pod) or "train")
                pre = is_preemptible(prio, md.get("labels") or {})
                job = f"{ns}/{pgname}" if pgname else f"{ns}/\x00{name}"
        else:
            req = default_gpu_request(pod)
            queue, job = "", f"{ns}/\x00{name}"
            try:
                prio = int((pod.get("spec") or {}).get("priority") or 0)
            except (TypeError, ValueError):
                prio = 0
            pre = False
        if err:
            self.errors[key] = err
        else:
            self.errors.pop(key, None)
        if req.kind == "memory" and not req.portion:
            mems = [n.gpu_memory_mib for n in self.state.nodes.values() if n.gpu_memory_mib]
            req = req.resolved(min(mems) if mems else None)
        return PodRec(_skey(key), job, queue, prio, pre, req, reqs.get("cpu", 0.0), reqs.get("memory", 0.0),
                      created, node_filter(pod))

    def _sync_pod(self, key: Key, pod: Obj | None) -> None:
        """Bring what the scheduler knows about one pod in line with the store."""
        spec = (pod or {}).get("spec") or {}
        phase = ((pod or {}).get("status") or {}).get("phase")
        active = pod is not None and phase not in TERMINAL
        if key in self.binding:
            if active and not spec.get("nodeName"):
                return  # placed, waiting for its reservation pods: the state already holds it
            del self.binding[key]
        had = self.state.remove_pod(_skey(key)) is not None
        self.pending.pop(key, None)
        self.default_pending.pop(key, None)
        old_job = self.pod_job.pop(key, None)
        if old_job is not None:
            members = self.job_pods.get(old_job)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del self.job_pods[old_job]
            self.dirty_jobs.add(old_job)
            self.status_dirty = True
        old_gid = self.reservation_of.pop(key, None)
        if old_gid is not None and self.reservations.get(old_gid, ("", ""))[:2] == key:
            del self.reservations[old_gid]
        if pod is not None and is_reservation_pod(pod):
            gid = (_md(pod).get("labels") or {}).get(ko.GPU_GROUP_LABEL, "")
            if active:
                self.reservations[gid] = (key[0], key[1], spec.get("nodeName", ""),
                                          (_md(pod).get("annotations") or {}).get(ko.RESERVE_ANNOTATION))
                self.reservation_of[key] = gid
            return
        if not active:
            self._sig.pop(key, None)
            self._born.pop(key, None)
            self._fail_events.pop(key, None)
            if had:
                self.retry = True
            return
        assert pod is not None
        kai = spec.get("schedulerName") in KAI_SCHEDULERS
        rec = self._rec(pod, kai)
        node = spec.get("nodeName")
        if node:
            groups = gpu_groups_of(pod) if rec.req.shared else ()
            n = self.state.nodes.get(node)
            portion = rec.req.portion_on(n.gpu_memory_mib if n else None) if rec.req.shared else 0.0
            self.state.add_pod(rec, node, groups, portion)
            self._sig.pop(key, None)
            mm = self.min_member.get(rec.job)
            if mm:
                self.state.jobs[rec.job].min_member = mm
        elif not (pod.get("metadata") or {}).get("deletionTimestamp"):
            sig = (rec.req, rec.cpu, rec.memory, rec.queue, rec.priority, rec.preemptible, rec.job,
                   repr(rec.filter), self.errors.get(key))
            if self._sig.get(key) != sig:
                self._sig[key] = sig
                self.retry = True
            (self.pending if kai else self.default_pending)[key] = rec
        if had and not node:
            self.retry = True
        if kai:
            self.pod_job[key] = rec.job
            self.job_pods.setdefault(rec.job, {})[key] = None
            self.dirty_jobs.add(rec.job)
            self.status_dirty = True

    # ------------------------------------------------------------------ the round
    def reconcile(self) -> bool:
        self._writes = 0
        if self.needs_resync or self.store.resource_version != self._seen_rv:
            self._full_resync()
        if self.pcs_dirty:
            self._load_pcs()
        if self.queues_dirty:
            self._load_queues()
        if self.dirty_nodes:
            batch, self.dirty_nodes = self.dirty_nodes, {}
            for name in batch:
                n = self.store.try_get(NODES, None, name)
                if n is None:
                    self.state.remove_node(name)
                else:
                    self.state.set_node(node_info(n))
            self.retry = True
            self.status_dirty = True
        self._drain_pods()
        if self._group():
            self._drain_pods()
        self._cleanup_reservations()
        self._bind_ready()
        if self.retry:
            self.retry = False
            if self.pending:
                self._schedule()
            if self.default_pending:
                self._default_schedule()
        self._write_status()
        return self._writes > 0

    def _drain_pods(self) -> None:
        while self.dirty_pods:
            batch, self.dirty_pods = self.dirty_pods, {}
            for key in batch:
                self._sync_pod(key, self.store.try_get(PODS, key[0], key[1]))

    # ------------------------------------------------------------------ writes
    def _did(self, before: int) -> None:
        if self.store.resource_version != before:
            self._writes += 1

    def _mutate(self, rt: ResourceType, ns: str | None, name: str, fn: Any, subresource: str | None = None) -> bool:
        before = self.store.resource_version
        try:
            self.store.mutate(rt, ns, name, fn, subresource=subresource)
        except ApiError:
            return False
        self._did(before)
        return True

    def _create(self, rt: ResourceType, obj: Obj) -> Obj | None:
        try:
            out = self.store.create(rt, obj)
        except ApiError:
            return None
        self._writes += 1
        return out

    def _delete(self, rt: ResourceType, ns: str | None, name: str) -> None:
        try:
            self.store.delete(rt, ns, name)
        except ApiError:
            return
        self._writes += 1

    def event(self, obj: Obj, reason: str, message: str, type_: str = "Normal",
              component: str = ko.SCHEDULER, annotations: dict[str, str] | None = None) -> str | None:
        """A core/v1 Event about `obj`, as the scheduler's event recorder writes it."""
        md = _md(obj)
        ns = md.get("namespace") or "default"
        now = self.store.clock()
        meta: Obj = {"name": f"{md.get('name')}.{self.rng.getrandbits(64):016x}", "namespace": ns}
        if annotations:
            meta["annotations"] = dict(annotations)
        ev = {
            "metadata": meta,
            "involvedObject": {"kind": obj.get("kind"), "namespace": md.get("namespace"), "name": md.get("name"),
                               "uid": md.get("uid"), "apiVersion": obj.get("apiVersion"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component}, "reportingComponent": component,
            "reportingInstance": component, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        out = self._create(EVENTS, ev)
        return meta["name"] if out else None

    # ------------------------------------------------------------------ pod-grouper
    def _lookup(self, ref: Obj, ns: str | None) -> Obj | None:
        rt = for_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return None
        obj = self.store.try_get(rt, ns if rt.namespaced else None, ref.get("name", ""))
        if obj is None or (ref.get("uid") and _md(obj).get("uid") != ref.get("uid")):
            return None
        return obj

    def top_owner(self, pod: Obj) -> tuple[Obj | None, Obj | None]:
        """(ownerReference of the root owner, the root object when the store has it); (None, None) = bare pod."""
        ns = _md(pod).get("namespace")
        ref = controller_ref(pod)
        obj = self._lookup(ref, ns) if ref else None
        seen: set[str] = set()
        while ref is not None and obj is not None:
            nxt = controller_ref(obj)
            if nxt is None or nxt.get("uid") in seen:
                break
            seen.add(nxt.get("uid", ""))
            nobj = self._lookup(nxt, ns)
            ref, obj = nxt, nobj
        return ref, obj

    def _group(self) -> bool:
        """Give every pending KAI pod a PodGroup (created as the pod-grouper would) and annotate it."""
        wrote = False
        for key in list(self.pending):
            pod = self.store.try_get(PODS, *key)
            if pod is None:
                continue
            md = pod["metadata"]
            ann = md.get("annotations") or {}
            current = ann.get(ko.POD_GROUP_ANNOTATION)
            if current and self.store.try_get(PODGROUPS, key[0], current) is not None:
                continue
            ref, top = self.top_owner(pod)
            pod_ref = ko.owner_ref("v1", "Pod", md["name"], md["uid"])
            kind = ref.get("kind") if ref else None
            if ref is None or kind == "Deployment":
                name, owner = f"pg-{md['name']}-{md['uid']}", pod_ref
            else:
                name, owner = f"pg-{ref['name']}-{ref['uid']}", ref
            src = top if top is not None else (pod if ref is None else None)
            labels = dict(_md(src).get("labels") or {}) if src else {}
            annotations = dict(_md(src).get("annotations") or {}) if src is not None and src is not pod else {}
            queue = queue_of(pod, top) or DEFAULT_QUEUE
            pc = priority_class_of(pod, top) or default_priority_class(kind)
            pg = ko.podgroup(name, key[0], owner, labels, annotations, 1, queue, pc, preemptibility_of(pod, top))
            if self.store.try_get(PODGROUPS, key[0], name) is None:
                self._create(PODGROUPS, pg)

            def annotate(o: Obj, pgname: str = name) -> None:
                o["metadata"].setdefault("annotations", {})[ko.POD_GROUP_ANNOTATION] = pgname
            if self._mutate(PODS, key[0], key[1], annotate):
                wrote = True
        return wrote

    # ------------------------------------------------------------------ scheduling
    def _new_gid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _schedule(self) -> None:
        jobs: dict[str, PendingJob] = {}
        invalid: dict[str, str] = {}
        demand: dict[str, float] = {}
        for key, rec in self.pending.items():
            if "\x00" in rec.job:
                continue  # not grouped yet
            err = self.errors.get(key)
            if err:
                invalid[rec.job] = f"{_skey(key)}: {err}"
                continue
            pj = jobs.get(rec.job)
            if pj is None:
                ns, pgname = rec.job.split("/", 1)
                pg = self.store.try_get(PODGROUPS, ns, pgname) or {}
                try:
                    mm = max(1, int((pg.get("spec") or {}).get("minMember") or 1))
                except (TypeError, ValueError):
                    mm = 1
                pj = jobs[rec.job] = PendingJob(rec.job, rec.queue, rec.priority, rec.preemptible, [], mm,
                                                rec.created)
                placed = self.state.jobs.get(rec.job)
                pj.running = len(placed.pods) if placed else 0
                if placed is not None:
                    placed.min_member = mm
            pj.pods.append(rec)
            demand[rec.queue] = demand.get(rec.queue, 0.0) + rec.gpus
        for pj in jobs.values():
            pj.pods.sort(key=lambda p: (p.created, p.key))
            pj.created = pj.pods[0].created
        plan = kai_alloc.plan(self.state, list(jobs.values()), self._new_gid, demand)
        self.fair = plan.fair_share
        self.status_dirty = True
        self._evict(plan.evictions)
        self._cleanup_reservations()
        for pl in plan.placements:
            self._apply_placement(pl)
        pending = dict(plan.pending)
        for job, msg in invalid.items():
            pending[job] = Unschedulable(job, kai_alloc.UNSCHEDULABLE, msg)
        for job in set(self.reasons) | set(pending):
            if self.reasons.get(job) != pending.get(job):
                self.dirty_jobs.add(job)
        for job, why in pending.items():
            self._mark_unschedulable(job, why)
        self.reasons = pending

    def _evict(self, evictions: list[Eviction]) -> None:
        by_job: dict[tuple[str, str], list[Eviction]] = {}
        for ev in evictions:
            by_job.setdefault((ev.job, ev.by_job), []).append(ev)
        now = self.store.clock()
        for (job, by), evs in by_job.items():
            # The event first: a bare pod's PodGroup is owned by the pod and goes with it.
            ns, pgname = job.split("/", 1)
            pg = self.store.try_get(PODGROUPS, ns, pgname)
            by_ns, by_name = by.split("/", 1)
            if pg is not None:
                self.event(pg, "Evict", f"Pod group {ns}/{pgname} was evicted ({len(evs)} pod(s)) by the "
                           f"{evs[0].action.lower()} action of pod group {by}", "Normal",
                           annotations={"evictor-pod-group-name": by_name, "evictor-pod-group-namespace": by_ns,
                                        "evictor-action-type": evs[0].action, "num-evicted-pods": str(len(evs))})
            for ev in evs:
                ns, name = ev.pod.split("/", 1)
                msg = (f"Evicted by the kai-scheduler {ev.action.lower()} action for pod group {ev.by_job} "
                       f"(queue {ev.by_queue})")

                def mark(o: Obj, m: str = msg) -> None:
                    s = o.setdefault("status", {})
                    s["conditions"] = ko.set_condition(s.get("conditions"), "DisruptionTarget", "True",
                                                       "PreemptionByScheduler", m, now)
                self._mutate(PODS, ns, name, mark, subresource="status")
                self._delete(PODS, ns, name)

    def _bind(self, key: Key, node: str, annotations: dict[str, str] | None = None,
              component: str = ko.SCHEDULER) -> None:
        now = self.store.clock()

        def spec_fn(o: Obj) -> None:
            o["spec"]["nodeName"] = node
            if annotations:
                o["metadata"].setdefault("annotations", {}).update(annotations)

        def status_fn(o: Obj) -> None:
            s = o.setdefault("status", {})
            s["conditions"] = ko.set_condition(s.get("conditions"), "PodScheduled", "True", "", "", now)
        if not self._mutate(PODS, key[0], key[1], spec_fn):
            return
        self._mutate(PODS, key[0], key[1], status_fn, subresource="status")
        pod = self.store.try_get(PODS, *key)
        if pod is not None:
            self.event(pod, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node}", component=component)
        self._fail_events.pop(key, None)

    def _apply_placement(self, pl: Placement) -> None:
        ns, name = pl.pod.split("/", 1)
        key = (ns, name)
        pod = self.store.try_get(PODS, ns, name)
        self.pending.pop(key, None)
        self.reasons.pop(pl.job, None)
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            self.dirty_pods[key] = None
            return
        rec = self.state.pods.get(pl.pod)
        if rec is None or not rec.req.shared:
            self._bind(key, pl.node)
            return
        self.binding[key] = pl
        br = ko.bind_request(pod, pl.node, pl.groups, pl.portion, rec.req.count)
        if self.store.try_get(BINDREQUESTS, ns, name) is not None:
            self._delete(BINDREQUESTS, ns, name)
        self._create(BINDREQUESTS, br)
        groups = pl.groups

        def label(o: Obj) -> None:
            labels = o["metadata"].setdefault("labels", {})
            for k in [k for k in labels if k == ko.GPU_GROUP_LABEL or k.startswith(ko.GPU_GROUP_LABEL + "/")]:
                del labels[k]
            if len(groups) == 1:
                labels[ko.GPU_GROUP_LABEL] = groups[0]
            else:
                for g in groups:
                    labels[f"{ko.GPU_GROUP_LABEL}/{g}"] = g
        self._mutate(PODS, ns, name, label)
        for gid in groups:
            if gid not in self.reservations:
                self._reserve(gid, pl.node)
        self._bind_ready()

    def _reserve(self, gid: str, node: str) -> None:
        if self.store.try_get(NAMESPACES, None, ko.RESERVATION_NS) is None:
            self._create(NAMESPACES, {"metadata": {"name": ko.RESERVATION_NS}})
        for _ in range(5):
            suffix = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            name = f"gpu-reservation-{node}-{suffix}"
            if self.store.try_get(PODS, ko.RESERVATION_NS, name) is None:
                break
        made = self._create(PODS, ko.reservation_pod(name, node, gid))
        if made is not None:
            self.reservations[gid] = (ko.RESERVATION_NS, name, node, None)
            self.reservation_of[(ko.RESERVATION_NS, name)] = gid

    def _bind_ready(self) -> None:
        """Bind fraction pods whose every GPU group's reservation pod has its GPU."""
        for key, pl in list(self.binding.items()):
            for g in pl.groups:
                if g not in self.reservations and g in self.state.groups:
                    self._reserve(g, pl.node)  # its reservation pod was deleted under it: make another
            if not all(self.reservations.get(g, ("", "", "", None))[3] for g in pl.groups):
                continue
            del self.binding[key]
            ns, name = key
            self._bind(key, pl.node, {ko.RECEIVED_TYPE_ANNOTATION: "Fraction"})

            def done(o: Obj) -> None:
                o.setdefault("status", {})["phase"] = "Succeeded"
            if self.store.try_get(BINDREQUESTS, ns, name) is not None:
                self._mutate(BINDREQUESTS, ns, name, done, subresource="status")
            self.dirty_pods[key] = None

    def _cleanup_reservations(self) -> None:
        """A reservation pod whose group has no pod left (placed or binding) goes."""
        for gid, (ns, name, _node, _gpu) in list(self.reservations.items()):
            if gid in self.state.groups:
                continue
            del self.reservations[gid]
            self._delete(PODS, ns, name)

    def _mark_unschedulable(self, job: str, why: Unschedulable) -> None:
        now = self.store.clock()
        t = self.cluster.clock.now()
        for key in list(self.job_pods.get(job, ())):
            if key not in self.pending:
                continue
            pod = self.store.try_get(PODS, *key)
            if pod is None:
                continue
            self._pending_pod(key, pod, why.reason, why.message, now, t, ko.SCHEDULER)

    def _pending_pod(self, key: Key, pod: Obj, reason: str, message: str, now: str, t: float,
                     component: str) -> None:
        """PodScheduled=False/Unschedulable and one FailedScheduling per reason (count++ on repeats)."""
        text = f"{reason}: {message}" if component == ko.SCHEDULER else message
        conds = (pod.get("status") or {}).get("conditions")
        if not ko.same_condition(conds, "PodScheduled", "False", "Unschedulable", text):
            def st(o: Obj) -> None:
                s = o.setdefault("status", {})
                s["conditions"] = ko.set_condition(s.get("conditions"), "PodScheduled", "False", "Unschedulable",
                                                   text, now)
            self._mutate(PODS, key[0], key[1], st, subresource="status")
        last = self._fail_events.get(key)
        if last is not None and last[0] == reason:
            if last[1] == message and t - last[3] < REPEAT_EVENT_S:
                return
            ev_ns, ev_name = key[0], last[2]
            if self.store.try_get(EVENTS, ev_ns, ev_name) is not None:
                def bump(o: Obj) -> None:
                    o["count"] = int(o.get("count") or 1) + 1
                    o["lastTimestamp"] = now
                    o["message"] = text
                self._mutate(EVENTS, ev_ns, ev_name, bump)
                self._fail_events[key] = (reason, message, ev_name, t)
                return
        name = self.event(pod, "FailedScheduling", text, "Warning", component=component)
        if name:
            self._fail_events[key] = (reason, message, name, t)

    # ------------------------------------------------------------------ default scheduler
    def _default_schedule(self) -> None:
        now = self.store.clock()
        t = self.cluster.clock.now()
        order = sorted(self.default_pending.items(), key=lambda kv: (-kv[1].priority, kv[1].created))
        no_room: dict[tuple, str] = {}
        for key, rec in order:
            shape = (rec.req, rec.cpu, rec.memory, repr(rec.filter))
            got = None if shape in no_room else kai_alloc.find_node(self.state, rec)
            if got is None:
                if shape not in no_room:
                    no_room[shape] = kai_alloc.why_no_node(self.state, rec)
                pod = self.store.try_get(PODS, *key)
                if pod is not None:
                    self._pending_pod(key, pod, "Unschedulable", no_room[shape], now, t, DEFAULT_SCHEDULER)
                continue
            self.state.add_pod(rec, got[0])
            del self.default_pending[key]
            self._bind(key, got[0], component=DEFAULT_SCHEDULER)

    # ------------------------------------------------------------------ status
    def _write_status(self) -> None:
        if not self.status_dirty:
            return
        self.status_dirty = False
        self._queue_status()
        jobs, self.dirty_jobs = self.dirty_jobs, set()
        for job in jobs:
            if "\x00" not in job:
                self._podgroup_status(job)

    def _queue_status(self) -> None:
        tree = self.state.tree
        req_gpu: dict[str, float] = {}
        req_cpu: dict[str, float] = {}
        req_mem: dict[str, float] = {}
        req_gmem: dict[str, float] = {}
        for rec in self.pending.values():
            for q in tree.chain(rec.queue):
                req_gpu[q] = req_gpu.get(q, 0.0) + rec.gpus
                req_cpu[q] = req_cpu.get(q, 0.0) + rec.cpu
                req_mem[q] = req_mem.get(q, 0.0) + rec.memory
                if rec.req.kind == "memory":
                    req_gmem[q] = req_gmem.get(q, 0.0) + rec.req.memory_mib * rec.req.count
        st = self.state
        now = self.store.clock()
        for name, spec in tree.specs.items():
            a = st.alloc.get(name, 0.0)
            conds: list[Obj] = []
            if tree.orphan(name):
                conds.append({"type": "Orphan", "status": "True", "reason": "ParentQueueNotFound",
                              "message": f'parent queue "{spec.parent}" does not exist'})
            if spec.quota >= 0 and a > spec.quota + 1e-9:
                conds.append({"type": "OverQuota", "status": "True", "reason": "AllocatedOverQuota",
                              "message": f"allocated {kai_alloc.fmt(a)} GPU over quota {kai_alloc.fmt(spec.quota)}"})
            status: Obj = {
                "allocated": ko.resource_list(a, st.alloc_cpu.get(name, 0.0), st.alloc_mem.get(name, 0.0)),
                "allocatedNonPreemptible": ko.resource_list(st.alloc_np.get(name, 0.0)),
                "requested": ko.resource_list(a + req_gpu.get(name, 0.0),
                                              st.alloc_cpu.get(name, 0.0) + req_cpu.get(name, 0.0),
                                              st.alloc_mem.get(name, 0.0) + req_mem.get(name, 0.0),
                                              req_gmem.get(name, 0.0)),
            }
            kids = tree.children.get(name) or []
            if kids:
                status["childQueues"] = list(kids)
            obj = self.store.try_get(QUEUES, None, name)
            if obj is None:
                continue
            old = obj.get("status") or {}
            old_conds = {c.get("type"): c for c in old.get("conditions") or []}
            for c in conds:
                prev = old_conds.get(c["type"])
                c["lastTransitionTime"] = prev.get("lastTransitionTime", now) if prev and prev.get(
                    "status") == c["status"] else now
            if conds:
                status["conditions"] = conds
            if old != status:
                self._mutate(QUEUES, None, name, lambda o, s=status: o.__setitem__("status", s), subresource="status")

    def _podgroup_status(self, job: str) -> None:
        ns, name = job.split("/", 1)
        pg = self.store.try_get(PODGROUPS, ns, name)
        if pg is None:
            return
        running = pending = 0
        alloc = alloc_np = req = cpu = mem = rcpu = rmem = gmem = 0.0
        for key in self.job_pods.get(job, ()):
            rec = self.state.pods.get(_skey(key))
            if rec is not None and key not in self.binding:
                running += 1
                alloc += rec.gpus
                cpu += rec.cpu
                mem += rec.memory
                if not rec.preemptible:
                    alloc_np += rec.gpus
                req += rec.gpus
                rcpu += rec.cpu
                rmem += rec.memory
            else:
                rec = rec or self.pending.get(key)
                if rec is None:
                    continue
                pending += 1
                req += rec.gpus
                rcpu += rec.cpu
                rmem += rec.memory
            if rec.req.kind == "memory":
                gmem += rec.req.memory_mib * rec.req.count
        old = pg.get("status") or {}
        status: Obj = {
            "running": running, "pending": pending,
            "resourcesStatus": {"allocated": ko.resource_list(alloc, cpu, mem),
                                "allocatedNonPreemptible": ko.resource_list(alloc_np),
                                "requested": ko.resource_list(req, rcpu, rmem, gmem)},
        }
        why = self.reasons.get(job)
        if why is not None and pending:
            status["schedulingConditions"] = ko.scheduling_conditions(why.reason, why.message, self.store.clock(),
                                                                      old.get("schedulingConditions"))
        for k, v in old.items():
            if k not in status and k not in ("schedulingConditions", "running", "pending", "resourcesStatus"):
                status[k] = v
        if old != status:
            self._mutate(PODGROUPS, ns, name, lambda o, s=status: o.__setitem__("status", s), subresource="status")


def admission(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
    """KAI's admission webhook: reject KAI pods whose GPU-sharing request is invalid, saying why."""
    if rt is not PODS or op != "CREATE":
        return
    if (obj.get("spec") or {}).get("schedulerName") not in KAI_SCHEDULERS:
        return
    why = validate_sharing(obj)
    if why:
        name = _md(obj).get("name") or _md(obj).get("generateName", "")
        raise ApiError(400, f'admission webhook "pod-validation.kai.scheduler" denied the request: '
                            f'pod "{name}": {why}', "BadRequest")


def install(cluster: SimCluster) -> KaiScheduler:
    """Add the scheduler to the cluster's controllers and its admission check to the store."""
    sched = KaiScheduler(cluster)
    cluster.add(sched)
    cluster.store.admission.append(admission)
    cluster.extras["kai_scheduler"] = sched
    return sched
