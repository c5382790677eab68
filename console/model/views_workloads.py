"""Workloads: pods grouped by their top owner, with replicas, GPU use, status and why they wait.

One row per top owner (Deployment via ReplicaSet, Job, StatefulSet, Knative Service, Run:ai workload,
JobSet, PyTorchJob, bare Pod, or the top owner reference the console can see). Rows are recomputed only
for dirty workload keys; `compute_all` rebuilds every row from the records alone and is the oracle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from . import podspec
from .records import WORKLOAD_KIND_LABEL, OwnerRec, PodRec, ServiceRec
from .views_serving import serving_of
from .workload_row import (
    COMPLETED, FAILED, INFERENCE, PARTIAL, PENDING, RUNNING, SCALED_TO_ZERO, SYSTEM, TERMINATING, UNKNOWN,
    WorkloadRow, gpu_amount, pod_gpu, request_text, workload_type,
)

if TYPE_CHECKING:
    from .records import WKey
    from .store_reads import StoreReads


def _representative(pods: list[PodRec]) -> PodRec | None:
    live = [p for p in pods if p.live]
    src = live or pods
    return min(src, key=lambda p: p.name) if src else None


def _desired(kind: str, owner: OwnerRec | None, pods: list[PodRec]) -> int | None:
    if owner is not None:
        return owner.desired
    if kind == "Pod":
        return 1 if any(p.live for p in pods) else 0
    return None


def _owner_only(owner: OwnerRec, kind: str, kai_scheduled: bool) -> tuple[str | None, str | None, bool]:
    """Queue, priority class and preemptibility before any pod exists: the owner and its pod template."""
    od = {"metadata": {"labels": owner.labels}}
    tpl: dict = {"metadata": {"labels": owner.template_labels}, "spec": {"priorityClassName": owner.template_pclass}}
    queue = podspec.queue_of(tpl, od)
    if queue is None and kai_scheduled:
        queue = podspec.DEFAULT_QUEUE
    pc = podspec.priority_class_of(tpl, od) or podspec.default_priority_class(kind)
    label = podspec.preemptibility_of(tpl, od)
    pre = podspec.is_preemptible(podspec.priority_value(pc),
                                 {podspec.PREEMPTIBILITY_LABEL: label} if label else None, None)
    return queue, pc, pre


ServiceLookup = Callable[[str, str, Iterable[dict[str, str]]], list[ServiceRec]]


def _service_for(ns: str, name: str, kind: str, group: str, pods: list[PodRec], lookup: ServiceLookup
                 ) -> str | None:
    """The Service in front: for Knative the one named like it, else one whose selector matches the pods."""
    label_sets = {id(p.labels): p.labels for p in pods if p.live} or {id(p.labels): p.labels for p in pods}
    services = lookup(ns, name, label_sets.values())
    if not services:
        return None
    if kind == "Service" and group == "serving.knative.dev":
        for s in services:
            if s.name == name:
                return s.name
    matches = [s.name for s in services if any(s.selects(ls) for ls in label_sets.values())]
    if not matches:
        return None
    return min(matches, key=lambda n: (n != name, len(n), n))


def _pending_reason(store: StoreReads, pods: list[PodRec]) -> str | None:
    waiting = sorted((p for p in pods if p.live and not p.deleting and p.phase == "Pending"), key=lambda p: p.name)
    reasons: list[str] = []
    for pg_name in sorted({p.podgroup for p in waiting if p.podgroup}):
        pg = store.podgroups.get((waiting[0].namespace, pg_name))
        if pg is not None:
            for r in pg.reasons:
                if r not in reasons:
                    reasons.append(r)
    if reasons:
        return "; ".join(reasons)
    for p in waiting:
        if p.sched_message:
            return p.sched_message
    return None


def workload_row(store: StoreReads, key: WKey, pods: Iterable[PodRec], owner: OwnerRec | None,
                 services: ServiceLookup) -> WorkloadRow:
    """One workload's row from its (resolved) pods, its owner record and a lookup of candidate Services."""
    ns, kind, name = key
    pods = sorted(pods, key=lambda p: p.name)
    rep = _representative(pods)
    if rep is not None:
        queue, pclass, preemptible = rep.queue, rep.pclass, rep.preemptible
        group = owner.group if owner else store.top_owner(ns, rep.owner, rep.labels, rep.name)[1]
    elif owner is not None:
        queue, pclass, preemptible = _owner_only(owner, kind, owner.template_scheduler in podspec.KAI_SCHEDULERS)
        group = owner.group
    else:
        queue, pclass, preemptible, group = None, None, True, ""
    if store.kai_mode:
        project = queue
    else:
        project = ns if store.namespace_quota(ns) is not None else None
    runai_kind = (rep.labels.get(WORKLOAD_KIND_LABEL) if rep else None) or \
        (owner.labels.get(WORKLOAD_KIND_LABEL) if owner else None)
    wtype = workload_type(kind, pclass, runai_kind)
    by_kai = (rep.scheduler in podspec.KAI_SCHEDULERS) if rep is not None else \
        (owner is not None and owner.template_scheduler in podspec.KAI_SCHEDULERS)
    if not by_kai and queue is None and all(p.gpu.kind == "none" for p in pods) and \
            (rep is not None or owner is not None):
        wtype = SYSTEM  # KAI never schedules it and it holds no GPU: a cluster service (KAI itself, operators)

    # Pods being deleted are not active (pkg/controller/controller_utils.go FilterActivePods): owners have
    # already replaced them, so replicas count the others; they are shown apart while they terminate.
    going = [p for p in pods if p.terminating]
    live = [p for p in pods if p.live and not p.deleting]
    running = sum(1 for p in live if p.phase == "Running")
    pending = sum(1 for p in live if p.phase == "Pending")
    ready = sum(1 for p in live if p.ready and p.phase == "Running")
    desired = _desired(kind, owner, pods)
    auto, revisions = serving_of(store, key, owner, ready, len(live))
    if auto is not None and auto.desired is not None:
        desired = auto.desired

    if owner is not None and owner.finished:
        status = owner.finished
    elif not pods:
        status = PENDING if desired else (SCALED_TO_ZERO if desired == 0 else UNKNOWN)
    elif not live and going:
        status = TERMINATING
    elif not live:
        status = FAILED if any(p.phase == "Failed" for p in pods) else COMPLETED
    elif running == 0:
        status = PENDING
    elif pending > 0 or (desired is not None and running < desired):
        status = PARTIAL
    else:
        status = RUNNING

    req = owner.template_gpu if owner is not None and owner.template_gpu is not None else (rep.gpu if rep else None)
    per_replica: float | None = None
    if req is not None:
        mem = None
        if req.kind == "memory":
            mem = next((m for p in live if p.node and p.gpu.kind == "memory"
                        and (m := store.node_memory(p.node))), None)
        per_replica = gpu_amount(req, mem)
    gpu_total = math.fsum(pod_gpu(store, p) for p in live)
    gpu_alloc = math.fsum(pod_gpu(store, p) for p in live if p.node)
    gpu_going = math.fsum(pod_gpu(store, p) for p in going if p.node)
    since = [p.deleting_since for p in going if p.deleting_since is not None]

    reason = _pending_reason(store, pods) if (pending or status == PENDING) else None
    service = _service_for(ns, name, kind, group, pods, services) if wtype == INFERENCE else None
    return WorkloadRow(
        namespace=ns, name=name, kind=kind, api_group=group, type=wtype, project=project,
        priority_class=pclass, preemptible=preemptible, replicas_desired=desired, replicas_ready=ready,
        replicas_running=running, replicas_pending=pending, pods=len(live),
        terminating=len(going), terminating_since=min(since) if since else None,
        gpu_per_replica=per_replica, gpu_request=request_text(req), gpu_total=gpu_total,
        gpu_allocated=gpu_alloc, gpu_terminating=gpu_going, status=status, pending_reason=reason, service=service,
        created=owner.created if owner else "", autoscaling=auto, revisions=revisions,
    )


class WorkloadsView:
    """Workload rows kept current from dirty keys, plus an index of workloads per project."""

    def __init__(self) -> None:
        self.rows: dict[WKey, WorkloadRow] = {}
        self.by_project: dict[str, set[WKey]] = {}
        self.by_ns: dict[str, set[WKey]] = {}

    def refresh(self, store: StoreReads, dirty: set[WKey]
                ) -> tuple[dict[WKey, WorkloadRow], set[WKey], set[str]]:
        changed: dict[WKey, WorkloadRow] = {}
        removed: set[WKey] = set()
        projects: set[str] = set()
        for key in dirty:
            pod_keys = store.pods_by_workload.get(key)
            exists = bool(pod_keys) or key in store.owner_roots or store.orphan_hpa(key) is not None
            row = None
            if exists:
                row = workload_row(store, key, store.pods_of(pod_keys or ()), store.owner_of_workload(key),
                                   store.service_candidates)
            old = self.rows.get(key)
            if row == old:
                continue
            if old is not None:
                if old.project is not None:
                    projects.add(old.project)
                    s = self.by_project.get(old.project)
                    if s is not None:
                        s.discard(key)
                        if not s:
                            del self.by_project[old.project]
            if row is None:
                del self.rows[key]
                removed.add(key)
                s = self.by_ns.get(key[0])
                if s is not None:
                    s.discard(key)
                    if not s:
                        del self.by_ns[key[0]]
                continue
            self.rows[key] = row
            self.by_ns.setdefault(key[0], set()).add(key)
            changed[key] = row
            if row.project is not None:
                projects.add(row.project)
                self.by_project.setdefault(row.project, set()).add(key)
        return changed, removed, projects


def compute_all(store: StoreReads) -> dict[WKey, WorkloadRow]:
    """Every workload row from the records alone (fresh owner walks, no indexes): the oracle."""
    by_uid = {r.uid: r for r in store.owners.values() if r.uid}
    groups: dict[WKey, list[PodRec]] = defaultdict(list)
    for p in store.pods.values():
        q = store.resolved_copy(p, by_uid)
        if q.workload is not None:
            groups[q.workload].append(q)
    keys = set(groups) | {(r.namespace, r.kind, r.name) for r in store.owners.values() if r.owner is None}
    keys |= {k for h in store.hpas.values() if store.orphan_hpa(k := (h.namespace, "HorizontalPodAutoscaler",
                                                                       h.name)) is not None}
    services: dict[str, list[ServiceRec]] = defaultdict(list)
    for s in sorted(store.services.values(), key=lambda s: s.name):
        services[s.namespace].append(s)

    def every_service(ns: str, name: str, label_sets: Iterable[dict[str, str]]) -> list[ServiceRec]:
        return services.get(ns, [])

    return {k: workload_row(store, k, groups.get(k, []), store.owner_of_workload(k), every_service) for k in keys}
