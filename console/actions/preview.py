"""The preemption preview: what KAI would do with new pods, computed with the rules the scheduler uses.

The live objects become an allocation state (`kai_read.state_from_objects`); the pods already waiting
and the new ones go through one scheduling round (`kai_alloc.plan`) on it, exactly as the scheduler's
next round would. The answer per new pod: runs (where, on a shared GPU or not), or stays pending and why
(over quota, over limit, no GPU with that much free share); and which running workloads would be
reclaimed (other projects over their fair share) or preempted (lower priority in the same project).
Pods that are alike and were created in the same second are interchangeable to the rules, so the
preview's promise is per workload: which ones lose how many pods.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from console.model import kai_alloc
from console.model.kai_alloc import PendingJob
from console.model.kai_read import (
    POD_GROUP_ANNOTATION, TERMINAL_PHASES, is_reservation_pod, pod_record, priority_lookup, state_from_objects,
)
from console.model.kai_state import ClusterState, PodRec
from console.model.podspec import (
    DEFAULT_QUEUE, KAI_SCHEDULERS, controller_ref, default_priority_class, preemptibility_of, priority_class_of,
    queue_of,
)

from .facts import ClusterFacts

Obj = dict[str, Any]
NEW_CREATED = "9999-12-31T23:59:59Z"  # after every real pod: new pods queue behind those already waiting

REASON_TEXT = {
    kai_alloc.NON_PREEMPTIBLE_OVER_QUOTA: "over quota",
    kai_alloc.OVER_LIMIT: "over limit",
    kai_alloc.UNSCHEDULABLE: "no room",
    kai_alloc.QUEUE_DOES_NOT_EXIST: "no such queue",
}


@dataclass(frozen=True)
class PodVerdict:
    """One new pod: where it would run, or why it would wait."""

    pod: str
    runs: bool
    node: str | None = None
    shared_gpu: bool = False
    new_shared_gpu: bool = False
    reason: str | None = None
    message: str | None = None
    after_release: bool = False  # pipelined: runs once the pods being deleted there (victims too) are gone

    def line(self) -> str:
        if self.runs:
            where = f" on node {self.node}"
            if self.shared_gpu:
                where += " (a new shared GPU)" if self.new_shared_gpu else " (a GPU already shared)"
            if self.after_release:
                where += ", once the pods being deleted there have terminated"
            return f"{self.pod}: runs{where}"
        return f"{self.pod}: stays Pending, {REASON_TEXT.get(self.reason or '', 'waiting')} " \
               f"({self.reason}): {self.message}"


@dataclass(frozen=True)
class Victim:
    """A running workload that loses pods so the new ones fit."""

    kind: str
    namespace: str
    name: str
    queue: str
    action: str  # Reclaim (another project over its fair share) | Preempt (lower priority, same project)
    pods: tuple[str, ...]

    @property
    def workload(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def line(self) -> str:
        verb = "reclaimed from" if self.action == kai_alloc.RECLAIM else "preempted in"
        return (f"{self.workload} ({self.queue}): {len(self.pods)} pod(s) {verb} project {self.queue}: "
                + ", ".join(p.split("/", 1)[1] for p in self.pods))


@dataclass
class Preview:
    """The scheduler's predicted answer for a set of new pods."""

    pods: list[PodVerdict] = field(default_factory=list)
    victims: list[Victim] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # waiting workloads that would start (after a release)

    @property
    def running(self) -> int:
        return sum(1 for p in self.pods if p.runs)

    @property
    def pending(self) -> int:
        return sum(1 for p in self.pods if not p.runs)

    def pending_reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pods:
            if not p.runs:
                out[p.reason or ""] = out.get(p.reason or "", 0) + 1
        return out

    def evicted_by_workload(self) -> dict[str, int]:
        return {v.workload: len(v.pods) for v in self.victims}

    def lines(self) -> list[str]:
        out = []
        if self.pods:
            out.append(f"Preview (KAI rules on the live cluster): {self.running} of {len(self.pods)} new pod(s) "
                       f"would run now, {self.pending} would stay Pending")
            out += ["  " + p.line() for p in self.pods]
        if self.victims:
            out.append("To make room, the scheduler would evict:")
            out += ["  " + v.line() for v in self.victims]
        elif self.pods and self.running:
            out.append("No running workload would be evicted.")
        if self.started:
            out.append("Waiting workloads that would start in the freed room:")
            out += ["  " + s for s in self.started]
        return out


# ---------------------------------------------------------------- workloads of pods
# Serving pods name their top owner in labels (the controllers between are not read by actions):
# KServe's InferenceService, Run:ai's InferenceWorkload, the Knative Service.
SERVING_OWNER_LABELS = (("serving.kserve.io/inferenceservice", "InferenceService"),
                        ("workloadName", "InferenceWorkload"), ("serving.knative.dev/service", "Service"))


def workload_of(facts: ClusterFacts, pod: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of a pod's top owner (ReplicaSet → Deployment walked), else the pod itself."""
    md = pod.get("metadata") or {}
    ns = str(md.get("namespace", ""))
    labels = md.get("labels") or {}
    for key, kind in SERVING_OWNER_LABELS:
        if labels.get(key) and (kind != "InferenceWorkload" or labels.get("workloadKind") == "InferenceWorkload"):
            return kind, ns, str(labels[key])
    kind, name = "Pod", str(md.get("name", ""))
    ref = controller_ref(pod)
    seen = 0
    while ref is not None and seen < 8:
        seen += 1
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        res = {"ReplicaSet": "replicasets", "Deployment": "deployments", "Job": "jobs",
               "StatefulSet": "statefulsets"}.get(kind)
        owner = facts.get(res, ns, name) if res else None
        ref = controller_ref(owner) if owner else None
    return kind, ns, name


def _pod_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _waiting(pod: Obj) -> bool:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    return (spec.get("schedulerName") in KAI_SCHEDULERS and not spec.get("nodeName") and not is_reservation_pod(pod)
            and not md.get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES)


def _min_gpu_memory(facts: ClusterFacts) -> int | None:
    from console.model.podspec import node_gpu_memory
    mems = [m for m in (node_gpu_memory(n) for n in facts.items("nodes")) if m]
    return min(mems) if mems else None


def _podgroup_for(pod: Obj, owner: Obj | None, name: str) -> Obj:
    """The PodGroup KAI's pod-grouper would make for a new pod (queue, priority class, preemptibility)."""
    kind = owner.get("kind") if owner else None
    spec: Obj = {"minMember": 1, "queue": queue_of(pod, owner) or DEFAULT_QUEUE,
                 "priorityClassName": priority_class_of(pod, owner) or default_priority_class(kind)}
    pre = preemptibility_of(pod, owner)
    if pre:
        spec["preemptibility"] = pre
    return {"metadata": {"name": name, "namespace": (pod.get("metadata") or {}).get("namespace", "")}, "spec": spec}


def pods_from_template(owner: Obj, count: int, namespace: str | None = None) -> list[Obj]:
    """Stand-ins for the pods a controller would create from `owner`'s pod template (or a bare Pod)."""
    md = owner.get("metadata") or {}
    ns = namespace or md.get("namespace") or "default"
    if owner.get("kind") == "Pod":
        pod = copy.deepcopy(owner)
        pod.setdefault("metadata", {})["namespace"] = ns
        return [pod]
    tmpl = ((owner.get("spec") or {}).get("template")) or {}
    out = []
    for i in range(count):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {**copy.deepcopy(tmpl.get("metadata") or {}), "namespace": ns,
                            "name": f"{md.get('name', 'new')}-new-{i + 1}"},
               "spec": copy.deepcopy(tmpl.get("spec") or {})}
        out.append(pod)
    return out


class _Planner:
    """The state and the waiting jobs of the live cluster, ready for one predicted round."""

    def __init__(self, facts: ClusterFacts, skip_pods: set[str] | None = None) -> None:
        self.facts = facts
        skip = skip_pods or set()
        pods = [p for p in facts.items("pods") if _pod_key(p) not in skip]
        pcs = facts.priority_class_objects()
        self.state: ClusterState = state_from_objects(facts.items("nodes"), pods, facts.items("queues"),
                                                      facts.items("podgroups"), pcs)
        self.priority = priority_lookup(pcs)
        self.min_mem = _min_gpu_memory(facts)
        self.jobs: dict[str, PendingJob] = {}
        pgs = {(str((g.get("metadata") or {}).get("namespace")), str((g.get("metadata") or {}).get("name"))): g
               for g in facts.items("podgroups")}
        for pod in pods:
            if not _waiting(pod):
                continue
            md = pod.get("metadata") or {}
            pgname = (md.get("annotations") or {}).get(POD_GROUP_ANNOTATION)
            pg = pgs.get((str(md.get("namespace")), str(pgname))) if pgname else None
            if pg is None:
                continue  # not grouped yet: the scheduler skips it this round too
            self._add(pod, pg, str(md.get("creationTimestamp", "")))

    def _add(self, pod: Obj, pg: Obj, created: str) -> PodRec | None:
        rec, err = pod_record(pod, pg, self.priority, created, gpu_memory_mib=self.min_mem)
        if err:
            return None
        job = self.jobs.get(rec.job)
        if job is None:
            try:
                mm = max(1, int((pg.get("spec") or {}).get("minMember") or 1))
            except (TypeError, ValueError):
                mm = 1
            job = self.jobs[rec.job] = PendingJob(rec.job, rec.queue, rec.priority, rec.preemptible, [], mm, created)
            placed = self.state.jobs.get(rec.job)
            job.running = len(placed.pods) if placed else 0
        job.pods.append(rec)
        return rec

    def add_new(self, pods: list[Obj], owner: Obj | None, per_pod: bool) -> tuple[list[str], list[str]]:
        """Queue new pods (one PodGroup per pod, or one for all); returns (their pod keys, their job keys)."""
        keys, jobs = [], []
        seq = itertools.count(1)
        shared_pg = None
        for pod in pods:
            pod = copy.deepcopy(pod)
            md = pod.setdefault("metadata", {})
            n = next(seq)
            if per_pod or shared_pg is None:
                shared_pg = _podgroup_for(pod, owner, f"pg-{md.get('name', 'new')}-preview-{n}")
            md.setdefault("annotations", {})[POD_GROUP_ANNOTATION] = shared_pg["metadata"]["name"]
            rec = self._add(pod, shared_pg, f"{NEW_CREATED}#{n:06d}")
            if rec is None:
                continue
            keys.append(rec.key)
            if rec.job not in jobs:
                jobs.append(rec.job)
        return keys, jobs

    def run(self) -> kai_alloc.Plan:
        demand: dict[str, float] = {}
        for j in self.jobs.values():
            j.pods.sort(key=lambda p: (p.created, p.key))
            j.created = j.pods[0].created
            demand[j.queue] = demand.get(j.queue, 0.0) + sum(p.gpus for p in j.pods)
        gid = itertools.count(1)
        return kai_alloc.plan(self.state, list(self.jobs.values()), lambda: f"preview-gpu-{next(gid)}", demand)

    def victims(self, plan: kai_alloc.Plan, jobs: set[str]) -> list[Victim]:
        by_pod = {_pod_key(p): p for p in self.facts.items("pods")}
        grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
        for ev in plan.evictions:
            if ev.by_job not in jobs:
                continue
            pod = by_pod.get(ev.pod)
            kind, ns, name = workload_of(self.facts, pod) if pod else ("Pod", *ev.pod.split("/", 1))
            grouped.setdefault((kind, ns, name, ev.queue, ev.action), []).append(ev.pod)
        return [Victim(k, ns, n, q, a, tuple(sorted(p))) for (k, ns, n, q, a), p in grouped.items()]


def preview_new(facts: ClusterFacts, pods: list[Obj], owner: Obj | None, per_pod: bool | None = None) -> Preview:
    """What would happen to `pods` (new, not yet created) if they were submitted now.

    `owner` is their top owner's manifest (Deployment, Job, ...) or None for bare pods; as KAI's
    pod-grouper does, Deployment pods (and bare pods) get one PodGroup each, other owners one for all.
    """
    if per_pod is None:
        per_pod = owner is None or owner.get("kind") in ("Deployment", "Pod")
    planner = _Planner(facts)
    keys, jobs = planner.add_new(pods, owner if owner and owner.get("kind") != "Pod" else None, per_pod)
    plan = planner.run()
    out = Preview(pods=_verdicts(planner, plan, keys, jobs, "waits behind an earlier pod of its group"))
    out.victims = planner.victims(plan, set(jobs))
    return out


def _verdicts(planner: "_Planner", plan: Any, keys: list[str], jobs: list[str], waiting: str) -> list[PodVerdict]:
    """Per new pod: where it would run, or the pending reason of its job (`waiting` when it has none)."""
    placed = {pl.pod: pl for pl in plan.placements}
    out: list[PodVerdict] = []
    for key in keys:
        pl = placed.get(key)
        if pl is not None:
            out.append(PodVerdict(key, True, pl.node, bool(pl.groups), bool(pl.new_groups),
                                  after_release=pl.pipelined))
            continue
        job = next((j for j in jobs if key in {p.key for p in planner.jobs[j].pods}), "")
        why = plan.pending.get(job)
        out.append(PodVerdict(key, False, reason=why.reason if why else kai_alloc.UNSCHEDULABLE,
                              message=why.message if why else waiting))
    return out


def preview_release(facts: ClusterFacts, pod_keys: set[str], replacements: list[Obj], owner: Obj | None) -> Preview:
    """What happens when these running pods go: which waiting workloads would start in the room, and
    whether the replacements their controller creates (`replacements`) would run again or wait."""
    planner = _Planner(facts, skip_pods=pod_keys)
    per_pod = owner is None or owner.get("kind") == "Deployment"
    keys, jobs = planner.add_new(replacements, owner, per_pod) if replacements else ([], [])
    plan = planner.run()
    out = Preview(pods=_verdicts(planner, plan, keys, jobs, "waits"))
    by_pod = {_pod_key(p): p for p in facts.items("pods")}
    started: dict[str, int] = {}
    for pl in plan.placements:
        if pl.pod in keys:
            continue
        pod = by_pod.get(pl.pod)
        kind, ns, name = workload_of(facts, pod) if pod else ("Pod", *pl.pod.split("/", 1))
        started[f"{kind} {ns}/{name}"] = started.get(f"{kind} {ns}/{name}", 0) + 1
    out.started = [f"{w}: {n} pod(s)" for w, n in sorted(started.items())]
    return out
