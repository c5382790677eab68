"""Projects: the department → project tree of KAI Queues, with quota, use and pending work.

Allocated / non-preemptible / requested GPUs are shown as the queue controller reports them in the
Queue status, and are also summed from the pods the console sees; both are kept and a disagreement is
flagged, because either side can be stale or partial. Without KAI (no Queue objects) the projects are the
namespaces with a ResourceQuota on `requests.nvidia.com/gpu`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .records import PodRec, QueueRec, QuotaRec
from .workload_row import PENDING, WorkloadRow, pod_gpu

if TYPE_CHECKING:
    from .records import WKey
    from .store_reads import StoreReads

MISMATCH_TOLERANCE = 0.0015  # Queue status is written in thousandths of a GPU
SOURCE_QUEUE, SOURCE_QUOTA = "queue", "resourcequota"


@dataclass(slots=True)
class ProjectRow:
    name: str
    parent: str | None
    display_name: str | None
    source: str                               # "queue" (KAI) or "resourcequota" (plain Kubernetes)
    children: tuple[str, ...]
    quota_gpu: float | None                   # -1: unlimited
    limit_gpu: float | None                   # -1: no limit
    over_quota_weight: float | None
    priority: int | None
    allocated_gpu: float                      # as reported by the cluster when it reports, else from pods
    allocated_nonpreemptible_gpu: float
    requested_gpu: float
    allocated_gpu_pods: float                 # summed from the pods the console sees
    allocated_nonpreemptible_gpu_pods: float
    requested_gpu_pods: float
    status_reported: bool
    mismatch: tuple[str, ...]                 # fields where the report and the pods disagree
    queue_missing: bool                       # pods name this queue but no Queue object exists
    conditions: tuple[str, ...]
    pending_workloads: int                    # workloads whose status is Pending
    workloads: int

    @property
    def leaf(self) -> bool:
        return not self.children


@dataclass(slots=True)
class _Sums:
    allocated: float
    nonpreemptible: float
    requested: float


def pod_sums(store: StoreReads, pods: Iterable[PodRec]) -> _Sums:
    alloc: list[float] = []
    nonpre: list[float] = []
    req: list[float] = []
    for p in pods:
        if not p.live or p.deleting:
            continue  # a terminating pod still holds its GPU but KAI no longer counts it for the queue
        amt = pod_gpu(store, p)
        req.append(amt)
        if p.node:
            alloc.append(amt)
            if not p.preemptible:
                nonpre.append(amt)
    return _Sums(math.fsum(alloc), math.fsum(nonpre), math.fsum(req))


def _mismatch(reported: tuple[float | None, ...], pods: tuple[float, ...]) -> tuple[str, ...]:
    names = ("allocated_gpu", "allocated_nonpreemptible_gpu", "requested_gpu")
    return tuple(n for n, r, p in zip(names, reported, pods) if r is not None and abs(r - p) > MISMATCH_TOLERANCE)


def _count(rows: Iterable[WorkloadRow]) -> tuple[int, int]:
    n = pending = 0
    for r in rows:
        n += 1
        pending += r.status == PENDING
    return n, pending


def queue_row(store: StoreReads, name: str, q: QueueRec | None, pods: Iterable[PodRec],
              children: list[ProjectRow], workloads: Iterable[WorkloadRow]) -> ProjectRow:
    """A Queue's row: its own pods and workloads plus its children's rows."""
    own = pod_sums(store, pods)
    alloc = math.fsum([own.allocated, *(c.allocated_gpu_pods for c in children)])
    nonpre = math.fsum([own.nonpreemptible, *(c.allocated_nonpreemptible_gpu_pods for c in children)])
    req = math.fsum([own.requested, *(c.requested_gpu_pods for c in children)])
    n, pending = _count(workloads)
    n += sum(c.workloads for c in children)
    pending += sum(c.pending_workloads for c in children)
    reported = q is not None and q.status_reported
    rep = (q.allocated_gpu, q.allocated_nonpreemptible_gpu, q.requested_gpu) if reported and q else (None,) * 3
    return ProjectRow(
        name=name, parent=q.parent if q else None, display_name=q.display_name if q else None,
        source=SOURCE_QUEUE, children=tuple(sorted(c.name for c in children)),
        quota_gpu=q.quota_gpu if q else None, limit_gpu=q.limit_gpu if q else None,
        over_quota_weight=q.over_quota_weight if q else None, priority=q.priority if q else None,
        allocated_gpu=rep[0] if rep[0] is not None else alloc,
        allocated_nonpreemptible_gpu=rep[1] if rep[1] is not None else nonpre,
        requested_gpu=rep[2] if rep[2] is not None else req,
        allocated_gpu_pods=alloc, allocated_nonpreemptible_gpu_pods=nonpre, requested_gpu_pods=req,
        status_reported=reported, mismatch=_mismatch(rep, (alloc, nonpre, req)),
        queue_missing=q is None, conditions=q.conditions if q else (),
        pending_workloads=pending, workloads=n,
    )


def quota_row(store: StoreReads, ns: str, quota: QuotaRec, pods: Iterable[PodRec],
              workloads: Iterable[WorkloadRow]) -> ProjectRow:
    """A namespace with a GPU ResourceQuota, as a project of a cluster without KAI."""
    s = pod_sums(store, pods)
    n, pending = _count(workloads)
    reported = quota.used_gpu is not None
    rep = (quota.used_gpu, None, None)
    return ProjectRow(
        name=ns, parent=None, display_name=None, source=SOURCE_QUOTA, children=(),
        quota_gpu=quota.hard_gpu, limit_gpu=quota.hard_gpu, over_quota_weight=None, priority=None,
        allocated_gpu=quota.used_gpu if quota.used_gpu is not None else s.allocated,
        allocated_nonpreemptible_gpu=s.nonpreemptible, requested_gpu=s.requested,
        allocated_gpu_pods=s.allocated, allocated_nonpreemptible_gpu_pods=s.nonpreemptible,
        requested_gpu_pods=s.requested, status_reported=reported,
        mismatch=_mismatch(rep, (s.allocated, s.nonpreemptible, s.requested)),
        queue_missing=False, conditions=(), pending_workloads=pending, workloads=n,
    )


def in_cycle(queues: dict[str, QueueRec], name: str) -> bool:
    """The queue's parent chain leads back to it (such child links are ignored, never summed twice)."""
    seen: set[str] = set()
    q = queues.get(name)
    cur = q.parent if q else None
    while cur and cur not in seen:
        if cur == name:
            return True
        seen.add(cur)
        nq = queues.get(cur)
        cur = nq.parent if nq else None
    return False


class ProjectsView:
    """Project rows kept current from dirty names; parents recompute after their children."""

    def __init__(self) -> None:
        self.rows: dict[str, ProjectRow] = {}

    def refresh(self, store: StoreReads, dirty: set[str]) -> tuple[dict[str, ProjectRow], set[str]]:
        changed: dict[str, ProjectRow] = {}
        removed: set[str] = set()
        if not dirty:
            return changed, removed
        kai = store.kai_mode
        todo = set(dirty)
        if kai:  # a changed child changes every ancestor's sums
            for name in dirty:
                q = store.queues.get(name)
                seen = {name}
                cur = q.parent if q else None
                while cur and cur not in seen:
                    seen.add(cur)
                    todo.add(cur)
                    pq = store.queues.get(cur)
                    cur = pq.parent if pq else None
        done: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            row: ProjectRow | None = None
            if kai:
                q = store.queues.get(name)
                pods = store.pods_of(store.pods_by_queue.get(name, ()))
                if q is not None or any(p.live for p in pods):
                    kids = []
                    for c in sorted(store.queue_children.get(name, ())):
                        if c in store.queues and not in_cycle(store.queues, c):
                            if c in todo:
                                visit(c)
                            if c in self.rows:
                                kids.append(self.rows[c])
                    row = queue_row(store, name, q, pods, kids, self._workloads(store, name))
            else:
                quota = store.namespace_quota(name)
                if quota is not None:
                    row = quota_row(store, name, quota, store.pods_of(store.pods_by_ns.get(name, ())),
                                    self._workloads(store, name))
            old = self.rows.get(name)
            if row == old:
                return
            if row is None:
                del self.rows[name]
                removed.add(name)
            else:
                self.rows[name] = row
                changed[name] = row

        for name in sorted(todo):
            visit(name)
        return changed, removed

    @staticmethod
    def _workloads(store: StoreReads, project: str) -> list[WorkloadRow]:
        rows = store.workloads.rows
        return [rows[k] for k in store.workloads.by_project.get(project, ()) if k in rows]


def compute_all(store: StoreReads, workloads: dict[WKey, WorkloadRow]) -> dict[str, ProjectRow]:
    """Every project row from the records and the given workload rows alone: the oracle."""
    by_uid = {r.uid: r for r in store.owners.values() if r.uid}
    wl_by_project: dict[str, list[WorkloadRow]] = defaultdict(list)
    for w in workloads.values():
        if w.project is not None:
            wl_by_project[w.project].append(w)
    out: dict[str, ProjectRow] = {}
    if not store.kai_mode:
        pods_by_ns: dict[str, list[PodRec]] = defaultdict(list)
        for p in store.pods.values():
            pods_by_ns[p.namespace].append(p)
        for ns in {q.namespace for q in store.quotas.values()}:
            quota = store.namespace_quota(ns)
            if quota is not None:
                out[ns] = quota_row(store, ns, quota, pods_by_ns.get(ns, []), wl_by_project.get(ns, []))
        return out
    pods_by_queue: dict[str, list[PodRec]] = defaultdict(list)
    for p in store.pods.values():
        q = store.resolved_copy(p, by_uid)
        if q.queue is not None:
            pods_by_queue[q.queue].append(q)
    children: dict[str, list[str]] = defaultdict(list)
    for q in store.queues.values():
        if q.parent and not in_cycle(store.queues, q.name):
            children[q.parent].append(q.name)
    names = set(store.queues) | {n for n, ps in pods_by_queue.items() if any(p.live for p in ps)}

    def row(name: str) -> ProjectRow:
        if name not in out:
            kids = [row(c) for c in sorted(children.get(name, ()))]
            out[name] = queue_row(store, name, store.queues.get(name), pods_by_queue.get(name, []), kids,
                                  wl_by_project.get(name, []))
        return out[name]

    for n in sorted(names):
        row(n)
    return out
