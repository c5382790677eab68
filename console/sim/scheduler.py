"""The simulated KAI scheduler: pod-grouper, scheduler, binder and queue status, over the store.

One controller does what KAI's pod-grouper, scheduler, binder and queue controller do between them,
using the rules in `console.model.kai_*` (the same ones the console's preemption preview uses). It keeps
its allocation state incrementally from `store.subscribe` changes, so a round over a few pending pods
does not rescan 60,000 pods. Pods that name another scheduler (or none) get a plain default scheduler.
Binding lives in `kai_binder`, status in `kai_status`, store writes and Events in `kai_writer`.
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Any

from console.model import kai_alloc
from console.model.kai_alloc import PendingJob, Placement, Unschedulable
from console.model.kai_queues import QueueTree, queue_spec_from_obj
from console.model.kai_read import (
    gpu_groups_of, is_reservation_pod, min_member_of, node_filter, node_info, pod_record, read_requests,
)
from console.model.kai_state import ClusterState, PodRec
from console.model.podspec import (
    DEFAULT_QUEUE, GPU_CONTAINER, GPU_FRACTION, GPU_MEMORY, GPU_NUM_DEVICES, KAI_SCHEDULERS, MPS,
    GpuRequest, controller_ref, default_priority_class,
    preemptibility_of, priority_class_of, queue_of, validate_sharing,
)

from . import kai_objects as ko
from .cluster import SimCluster
from .errors import ApiError
from .kai_binder import KaiBinder
from .kai_status import KaiStatus
from .resources import BINDREQUESTS, NODES, PODGROUPS, PODS, PRIORITYCLASSES, QUEUES, ResourceType, for_kind
from .store import DELETED, Change, Key, Obj

__all__ = ["KaiScheduler", "admission", "install", "gpu_groups_of", "is_reservation_pod", "node_filter",
           "node_info"]

DEFAULT_SCHEDULER = "default-scheduler"
SHARING_ANNOTATIONS = (GPU_FRACTION, GPU_MEMORY, GPU_NUM_DEVICES, GPU_CONTAINER, MPS)
TERMINAL = ("Succeeded", "Failed")


class KaiScheduler(KaiBinder, KaiStatus):
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
        self._req_cache: dict[tuple, tuple[Any, dict[str, float], GpuRequest, str | None]] = {}
        self._min_mem: int | None = None
        self._min_mem_dirty = True
        self.reasons: dict[str, Unschedulable] = {}
        self.dirty_jobs: set[str] = set()
        self.fair: dict[str, float] = {}
        self.retry = True
        self.status_dirty = True
        self._sig: dict[Key, tuple] = {}
        self._born: dict[Key, int] = {}
        self._seq = itertools.count()
        self._fail_events: dict[Key, tuple[str, str, str, float]] = {}  # reason, message, event name, when
        self._pipelined: dict[Key, str] = {}  # pods promised to resources still being released -> node
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
        self._min_mem_dirty = True
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
        # PodGroups whose pods all run keep the status they were loaded with until one of them changes:
        # rewriting tens of thousands of them after a bulk load would be a MODIFIED storm.
        self.dirty_jobs = {self.pod_job[k] for k in self.pending if k in self.pod_job}

    def _restore_binding(self, br: Obj) -> None:
        md = (br.get("metadata") or {})
        spec = br.get("spec") or {}
        pod = self.store.try_get(PODS, md.get("namespace"), spec.get("podName", md.get("name")))
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            return
        key = (md.get("namespace", ""), (pod.get("metadata") or {})["name"])
        groups = tuple(spec.get("selectedGPUGroups") or ())
        try:
            portion = float((spec.get("receivedGPU") or {}).get("portion", 0))
        except (TypeError, ValueError):
            portion = 0.0
        rec = self._rec(pod, True)
        self.state.add_pod(rec, spec.get("selectedNode", ""), groups, portion)
        self.binding[key] = Placement(rec.key, rec.job, spec.get("selectedNode", ""), groups, (), portion)

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
            self.pc[(o.get("metadata") or {}).get("name", "")] = v
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
        pg = None
        if kai:
            pgname = (md.get("annotations") or {}).get(ko.POD_GROUP_ANNOTATION)
            pg = self.store.try_get(PODGROUPS, ns, pgname) if isinstance(pgname, str) and pgname else None
        rec, err = pod_record(pod, pg, self.priority, f"{md.get('creationTimestamp', '')}#{born:09d}",
                              self._requests(pod, kai), self._min_gpu_memory())
        if pg is not None:
            self.min_member[rec.job] = min_member_of(pg)
        if err:
            self.errors[key] = err
        else:
            self.errors.pop(key, None)
        return rec

    def _min_gpu_memory(self) -> int | None:
        """The smallest GPU in the cluster: sizes a pending `gpu-memory` request before a node is chosen."""
        if self._min_mem_dirty:
            self._min_mem_dirty = False
            mems = [n.gpu_memory_mib for n in self.state.nodes.values() if n.gpu_memory_mib]
            self._min_mem = min(mems) if mems else None
        return self._min_mem

    def _requests(self, pod: Obj, kai: bool) -> tuple[dict[str, float], GpuRequest, str | None]:
        """(cpu/memory requests, GPU request, why the GPU request is invalid), cached per container list:
        the pods of one workload usually share theirs, and stored objects are never changed in place."""
        spec = pod.get("spec") or {}
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        cs = spec.get("containers")
        key = None
        if cs is not None and not spec.get("initContainers") and not spec.get("overhead"):
            key = (id(cs), kai) + tuple(ann.get(a) for a in SHARING_ANNOTATIONS)
            hit = self._req_cache.get(key)
            if hit is not None and hit[0] is cs:
                return hit[1], hit[2], hit[3]
        reqs, req, err = read_requests(pod, kai)
        if key is not None:
            if len(self._req_cache) >= 4096:
                self._req_cache.clear()
            self._req_cache[key] = (cs, reqs, req, err)  # holding `cs` keeps its id from being reused
        return reqs, req, err

    def _sync_pod(self, key: Key, pod: Obj | None) -> None:
        """Bring what the scheduler knows about one pod in line with the store."""
        spec = (pod or {}).get("spec") or {}
        phase = ((pod or {}).get("status") or {}).get("phase")
        active = pod is not None and phase not in TERMINAL
        if key in self.binding:
            if active and not spec.get("nodeName"):
                return  # placed, waiting for its reservation pods: the state already holds it
            del self.binding[key]
        had = self.state.remove_pod(f"{key[0]}/{key[1]}") is not None
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
            gid = ((pod.get("metadata") or {}).get("labels") or {}).get(ko.GPU_GROUP_LABEL, "")
            if active:
                self.reservations[gid] = (key[0], key[1], spec.get("nodeName", ""),
                                          ((pod.get("metadata") or {}).get("annotations") or {}).get(ko.RESERVE_ANNOTATION))
                self.reservation_of[key] = gid
            return
        if not active:
            self._sig.pop(key, None)
            self._born.pop(key, None)
            self._fail_events.pop(key, None)
            self._pipelined.pop(key, None)
            if had:
                self.retry = True
            return
        assert pod is not None
        kai = spec.get("schedulerName") in KAI_SCHEDULERS
        rec = self._rec(pod, kai)
        node = spec.get("nodeName")
        # A pod being deleted keeps holding its node's resources until it is gone (KAI: Releasing).
        rec.releasing = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        if node:
            self._pipelined.pop(key, None)
            groups = gpu_groups_of(pod) if rec.req.shared else ()
            n = self.state.nodes.get(node)
            portion = rec.req.portion_on(n.gpu_memory_mib if n else None) if rec.req.shared else 0.0
            self.state.add_pod(rec, node, groups, portion)
            self._sig.pop(key, None)
            mm = self.min_member.get(rec.job)
            if mm and rec.job in self.state.jobs:  # a terminating pod alone leaves no job placed
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
            self._min_mem_dirty = True
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


    # ------------------------------------------------------------------ pod-grouper
    def _lookup(self, ref: Obj, ns: str | None) -> Obj | None:
        rt = for_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return None
        obj = self.store.try_get(rt, ns if rt.namespaced else None, ref.get("name", ""))
        if obj is None or (ref.get("uid") and (obj.get("metadata") or {}).get("uid") != ref.get("uid")):
            return None
        return obj

    def top_owner(self, pod: Obj) -> tuple[Obj | None, Obj | None]:
        """(ownerReference of the root owner, the root object when the store has it); (None, None) = bare pod."""
        ns = (pod.get("metadata") or {}).get("namespace")
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

    def _via_deployment(self, pod: Obj) -> bool:
        ns = (pod.get("metadata") or {}).get("namespace")
        ref = controller_ref(pod)
        rs = self._lookup(ref, ns) if ref and ref.get("kind") == "ReplicaSet" else None
        up = controller_ref(rs) if rs else None
        return bool(up and up.get("kind") == "Deployment")

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
            if ref is not None and not (ref.get("name") and ref.get("uid") and ref.get("kind")):
                ref, top = None, None  # an ownerReference missing its identity: group the pod alone
            pod_ref = ko.owner_ref("v1", "Pod", md["name"], md["uid"])
            kind = ref.get("kind") if ref else None
            if ref is None or kind == "Deployment" or self._via_deployment(pod):
                # Deployments, and what runs through one (Knative revisions, KServe predictors): one
                # PodGroup per pod, as KAI's deployment and (non-gang) knative groupers do.
                name, owner = f"pg-{md['name']}-{md['uid']}", pod_ref
            else:
                name, owner = f"pg-{ref['name']}-{ref['uid']}", ref
            src = top if top is not None else (pod if ref is None else None)
            labels = dict((src.get("metadata") or {}).get("labels") or {}) if src else {}
            annotations = dict((src.get("metadata") or {}).get("annotations") or {}) if src is not None and src is not pod else {}
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

    def pending_demand(self) -> dict[str, float]:
        """GPUs waiting per queue: the grouped, valid pending pods a round would try to place."""
        demand: dict[str, float] = {}
        for key, rec in self.pending.items():
            if "\x00" in rec.job or self.errors.get(key):
                continue
            demand[rec.queue] = demand.get(rec.queue, 0.0) + rec.gpus
        return demand

    def fair_share_now(self) -> dict[str, float]:
        """Each queue's fair share as a scheduling cycle would compute it now (what KAI's metrics report)."""
        return kai_alloc.cycle_fair_shares(self.state, self.pending_demand())

    def _schedule(self) -> None:
        jobs: dict[str, PendingJob] = {}
        invalid: dict[str, str] = {}
        demand: dict[str, float] = {}
        for key, rec in self.pending.items():
            if "\x00" in rec.job:
                continue  # not grouped yet
            err = self.errors.get(key)
            if err:
                invalid[rec.job] = f"{key[0]}/{key[1]}: {err}"
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
        promised = {self.pod_job[k] for k in self._pipelined if k in self.pod_job}
        plan = kai_alloc.plan(self.state, list(jobs.values()), self._new_gid, demand, promised=promised)
        self.fair = plan.fair_share
        self.status_dirty = True
        self._evict(plan.evictions)
        for ev in plan.evictions:  # victims come back into the state as terminating, holding what they held
            key = (ev.pod.split("/", 1)[0], ev.pod.split("/", 1)[1])
            self.dirty_pods.pop(key, None)
            self._sync_pod(key, self.store.try_get(PODS, *key))
        # A pipelined pod waits while pods being deleted still hold resources on its node; where its
        # victims went at once (no grace period: never bound, or finished) it is bound now.
        held = {p.node for p in self.state.releasing()}
        waiting = [pl for pl in plan.placements if pl.pipelined and pl.node in held]
        for pl in waiting:
            self.state.remove_pod(pl.pod)
        self._cleanup_reservations()
        before, self._pipelined = self._pipelined, {}  # only this round's promises carry over
        for pl in plan.placements:
            if pl.pipelined and pl.node in held:
                self._pipeline(pl, before)
            else:
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

def admission(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
    """KAI's admission webhook: reject KAI pods whose GPU-sharing request is invalid, saying why."""
    if rt is not PODS or op != "CREATE":
        return
    if (obj.get("spec") or {}).get("schedulerName") not in KAI_SCHEDULERS:
        return
    why = validate_sharing(obj)
    if why:
        name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName", "")
        raise ApiError(400, f'admission webhook "pod-validation.kai.scheduler" denied the request: '
                            f'pod "{name}": {why}', "BadRequest")


def install(cluster: SimCluster) -> KaiScheduler:
    """Add the scheduler to the cluster's controllers, its admission check to the store and its
    metrics endpoint to the pod proxy."""
    from . import kai_metrics

    sched = KaiScheduler(cluster)
    cluster.add(sched)
    cluster.store.admission.append(admission)
    cluster.extras["kai_scheduler"] = sched
    kai_metrics.install(cluster)
    return sched
