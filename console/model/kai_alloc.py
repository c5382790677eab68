"""KAI's allocation rules: queue checks, placement with fraction packing, gangs, reclaim and preempt.

`plan()` takes the pending PodGroups and a `ClusterState` and decides, the way KAI's Allocate, Reclaim
and Preempt actions do, which pods go where, which running workloads are evicted for them, and why the
rest stay pending. It commits its decisions into the state it is given, so a caller that only wants a
prediction hands it a state it can throw away.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .kai_queues import EPS, INF, allocatable_share, fair_shares, victim_order
from .kai_state import ClusterState, NodeInfo, PodRec

NON_PREEMPTIBLE_OVER_QUOTA = "NonPreemptibleOverQuota"
OVER_LIMIT = "OverLimit"
QUEUE_DOES_NOT_EXIST = "QueueDoesNotExist"
UNSCHEDULABLE = "Unschedulable"  # no node can take it (capacity, cordon, selectors)

RECLAIM = "Reclaim"
PREEMPT = "Preempt"

_NEW = ""  # placeholder for a shared GPU group that placement would open


@dataclass(slots=True)
class PendingJob:
    """A PodGroup with pods waiting. `running` counts its pods already placed (for gang minimums)."""

    key: str
    queue: str
    priority: int
    preemptible: bool
    pods: list[PodRec]
    min_member: int = 1
    created: str = ""
    running: int = 0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a pod goes. `pipelined`: onto resources that pods being deleted (victims of this round, or
    pods already terminating) still hold, so it is bound only once they are gone (KAI's Pipelined status,
    pkg/scheduler/api/pod_status/pod_status.go; the Pipelined event in framework/statement.go)."""

    pod: str
    job: str
    node: str
    groups: tuple[str, ...] = ()
    new_groups: tuple[str, ...] = ()
    portion: float = 0.0
    pipelined: bool = False


@dataclass(frozen=True, slots=True)
class Eviction:
    pod: str
    job: str
    queue: str
    action: str  # Reclaim | Preempt
    by_job: str
    by_queue: str


@dataclass(frozen=True, slots=True)
class Unschedulable:
    job: str
    reason: str
    message: str


@dataclass(slots=True)
class Plan:
    placements: list[Placement] = field(default_factory=list)
    evictions: list[Eviction] = field(default_factory=list)
    pending: dict[str, Unschedulable] = field(default_factory=dict)
    fair_share: dict[str, float] = field(default_factory=dict)


def fmt(x: float) -> str:
    """A GPU amount for messages: 2, 0.5, 1.25, unlimited."""
    if x == INF:
        return "unlimited"
    if abs(x - round(x)) < 1e-6:
        return str(int(round(x)))
    return f"{x:.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- queue rules
def queue_check(state: ClusterState, queue: str, preemptible: bool, add: float) -> tuple[str, str] | None:
    """Why a workload adding `add` GPUs to `queue` may not run now, or None."""
    tree = state.tree
    spec = tree.specs.get(queue)
    if spec is None:
        return QUEUE_DOES_NOT_EXIST, f'queue "{queue}" does not exist'
    if not tree.is_leaf(queue):
        return QUEUE_DOES_NOT_EXIST, f'queue "{queue}" is a parent queue; only leaf queues take workloads'
    if tree.orphan(queue):
        return QUEUE_DOES_NOT_EXIST, f'queue "{queue}" names parent queue "{spec.parent}", which does not exist'
    if not preemptible and spec.quota >= 0:
        np = state.alloc_np.get(queue, 0.0)
        if np + add > spec.quota + EPS:
            return NON_PREEMPTIBLE_OVER_QUOTA, (f"{queue}: non-preemptible workload requests {fmt(add)} GPU over "
                                                f"quota {fmt(spec.quota)} (allocated {fmt(np)})")
    for name in tree.chain(queue):
        q = tree.specs[name]
        lim = q.max_allowed
        have = state.alloc.get(name, 0.0)
        if have + add > lim + EPS:
            what = (f"limit {fmt(lim)}" if q.limit not in (None, 0)
                    else f"quota {fmt(lim)} (no over-quota: limit {'unset' if q.limit is None else 0})")
            return OVER_LIMIT, f"{name}: workload requests {fmt(add)} GPU over {what} (allocated {fmt(have)})"
    return None


# ---------------------------------------------------------------- placement
def fit_on(state: ClusterState, n: NodeInfo, pod: PodRec) -> tuple[tuple[str, ...], float] | None:
    """The shared groups (`""` = open a new one) and per-device portion if `pod` fits on `n` now."""
    if not n.schedulable or not n.fits_basic(pod.cpu, pod.memory):
        return None
    if pod.filter is not None and not pod.filter.matches(n.name, n.labels):
        return None
    r = pod.req
    if r.kind == "none":
        return (), 0.0
    if r.kind == "whole":
        return ((), 0.0) if n.free_whole >= r.count else None
    if r.kind == "mig":
        prof = r.mig_profile or ""
        return ((), 0.0) if n.mig.get(prof, 0) - n.mig_used.get(prof, 0) >= r.count else None
    p = r.portion_on(n.gpu_memory_mib)
    cands = sorted((state.groups[g] for g in n.groups if state.groups[g].free + EPS >= p), key=lambda g: -g.used)
    chosen = tuple(g.gid for g in cands[:r.count])
    new = r.count - len(chosen)
    if new > n.free_whole:
        return None
    return chosen + (_NEW,) * new, p


def find_node(state: ClusterState, pod: PodRec) -> tuple[str, tuple[str, ...], float] | None:
    """Where `pod` goes: whole GPUs bin-packed onto the fullest node that fits; a fraction onto the
    fullest shared GPU that still has room, else onto a free GPU that becomes a new shared group."""
    r = pod.req
    if r.kind == "whole":
        nodes: Iterable[NodeInfo] = state.nodes_by_free(r.count)
    elif r.shared and r.count == 1:
        best, best_p = None, 0.0
        for g in state.groups.values():
            if best is not None and g.used <= best.used:
                continue
            n = state.nodes.get(g.node)
            if n is None:
                continue
            p = r.portion_on(n.gpu_memory_mib)
            if g.free + EPS < p:
                continue
            if fit_on(state, n, pod) is None:
                continue
            best, best_p = g, p
        if best is not None:
            return best.node, (best.gid,), best_p
        nodes = state.nodes_by_free(1)
    else:
        nodes = state.nodes.values()
    for n in nodes:
        got = fit_on(state, n, pod)
        if got is not None:
            return n.name, got[0], got[1]
    return None


def _place(state: ClusterState, pods: list[PodRec], new_gid: Callable[[], str]) -> list[Placement] | None:
    """Place every pod or none (gang semantics); commits into `state` on success."""
    done: list[Placement] = []
    for pod in pods:
        got = find_node(state, pod)
        if got is None:
            for pl in reversed(done):
                state.remove_pod(pl.pod)
            return None
        node, groups, portion = got
        fresh = tuple(new_gid() for g in groups if g == _NEW)
        it = iter(fresh)
        groups = tuple(g if g != _NEW else next(it) for g in groups)
        state.add_pod(pod, node, groups, portion)
        done.append(Placement(pod.key, pod.job, node, groups, fresh, portion))
    return done


def _lift(state: ClusterState, pods: list[PodRec]) -> None:
    """Take pods out of the state as if they were gone (`_restore` puts them back)."""
    for p in pods:
        state.remove_pod(p.key)


def _pipeline(placed: list[Placement]) -> list[Placement]:
    return [dataclasses.replace(pl, pipelined=True) for pl in placed]


def _fits(state: ClusterState, pods: list[PodRec], queue: str, preemptible: bool, add: float) -> bool:
    """Would the unit fit now? (tries the placement and undoes it)."""
    if queue_check(state, queue, preemptible, add) is not None:
        return False
    placed: list[str] = []
    ok = True
    for pod in pods:
        got = find_node(state, pod)
        if got is None:
            ok = False
            break
        node, groups, portion = got
        groups = tuple(g if g != _NEW else f"\x00probe{i}" for i, g in enumerate(groups))
        state.add_pod(pod, node, groups, portion)
        placed.append(pod.key)
    for k in reversed(placed):
        state.remove_pod(k)
    return ok


def why_no_node(state: ClusterState, pod: PodRec) -> str:
    """`0/N nodes are available: …` in the kube-scheduler's wording, counting each node's first failure."""
    counts: dict[str, int] = {}
    r = pod.req
    what = {"whole": "nvidia.com/gpu", "fraction": "GPU share", "memory": "GPU memory",
            "mig": f"nvidia.com/mig-{r.mig_profile}", "none": ""}[r.kind]
    for n in state.nodes.values():
        if not n.schedulable:
            why = "node(s) were unschedulable or not ready"
        elif pod.filter is not None and not pod.filter.matches(n.name, n.labels):
            why = "node(s) didn't match Pod's node affinity/selector"
        elif n.cpu is not None and n.cpu_used + pod.cpu > n.cpu + EPS:
            why = "Insufficient cpu"
        elif n.memory is not None and n.mem_used + pod.memory > n.memory + 1:
            why = "Insufficient memory"
        elif what:
            why = f"Insufficient {what}"
        else:
            why = "node(s) had no room"
        counts[why] = counts.get(why, 0) + 1
    parts = ", ".join(f"{c} {w}" for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"0/{len(state.nodes)} nodes are available" + (f": {parts}." if parts else ".")


# ---------------------------------------------------------------- eviction search
Victim = tuple[str, tuple[str, ...]]  # (job key, pod keys evicted together)


def victim_units(state: ClusterState, job_keys: Iterable[str]) -> list[tuple[str, str, Victim]]:
    """What can be evicted from each job: pods beyond its gang minimum one at a time, the gang whole.

    Returns (created, job, victim) so callers can order by age.
    """
    out: list[tuple[str, str, Victim]] = []
    for jk in job_keys:
        j = state.jobs.get(jk)
        if j is None:
            continue
        pods = [state.pods[k] for k in j.pods]
        pods.sort(key=lambda p: (p.created, p.key))
        m = max(1, j.min_member)
        for p in pods[m:]:
            out.append((p.created, jk, (jk, (p.key,))))
        out.append((j.created, jk, (jk, tuple(p.key for p in pods[:m]))))
    return out


def _victim_pods(state: ClusterState, v: Victim) -> list[PodRec]:
    return [state.pods[k] for k in v[1] if k in state.pods]


def _restore(state: ClusterState, removed: list[tuple[str, list[PodRec]]]) -> None:
    for _, pods in reversed(removed):
        for p in pods:
            state.add_pod(p, p.node or "", p.groups, p.portion)


def _best_node_victims(state: ClusterState, pod: PodRec, victims: list[Victim],
                       eligible: Callable[[Victim], bool]) -> list[Victim] | None:
    """For one pod: on each node, take that node's victims in order until the pod fits there; keep the
    node that needs the fewest victims, then the one whose victims come first in the order."""
    by_node: dict[str, list[tuple[int, Victim]]] = {}
    for i, v in enumerate(victims):
        for n in {p.node for p in _victim_pods(state, v)}:
            if n is not None:
                by_node.setdefault(n, []).append((i, v))
    best_key: tuple[int, tuple[int, ...]] | None = None
    best: list[Victim] | None = None
    wants_gpu = pod.req.kind != "none"
    for name, vs in by_node.items():
        node = state.nodes.get(name)
        if node is None or not node.schedulable or (pod.req.kind == "whole" and node.gpus < pod.req.count):
            continue
        if pod.filter is not None and not pod.filter.matches(node.name, node.labels):
            continue
        if best_key is not None and best_key[0] == 1 and vs[0][0] > best_key[1][0]:
            continue  # cannot beat a single victim that comes earlier in the order
        gpu_only = wants_gpu and node.fits_basic(pod.cpu, pod.memory)
        removed: list[tuple[str, list[PodRec]]] = []
        used: list[int] = []
        ok = False
        for i, v in vs:
            if best_key is not None and len(used) + 1 > best_key[0]:
                break
            pods = _victim_pods(state, v)
            if gpu_only and not any(p.gpus > 0 or p.req.kind == "mig" for p in pods):
                continue  # frees nothing this pod lacks here
            if not eligible(v):
                continue
            for p in pods:
                state.remove_pod(p.key)
            removed.append((v[0], pods))
            used.append(i)
            if fit_on(state, node, pod) is not None:
                ok = True
                break
        _restore(state, removed)
        if ok:
            key = (len(used), tuple(used))
            if best_key is None or key < best_key:
                best_key, best = key, [victims[i] for i in used]
    return best


def _evict_for(state: ClusterState, unit: list[PodRec], job: PendingJob, add: float,
               victims: list[Victim], eligible: Callable[[Victim], bool],
               search_all: bool) -> list[tuple[str, list[PodRec]]] | None:
    """Remove victims in order until `unit` fits, then put back every victim it does not need.

    A single pod is fitted node by node (victims spread over many nodes free nothing useful); gangs
    and quota-bound preemption take victims in order across the cluster. Returns the victims with
    their pods (now out of `state`), or None with the state unchanged.
    """
    removed: list[tuple[str, list[PodRec]]] = []
    fitted = False
    if len(unit) == 1 and not search_all:
        chosen = _best_node_victims(state, unit[0], victims, eligible)
        if chosen is None:
            return None
        for v in chosen:
            pods = _victim_pods(state, v)
            for p in pods:
                state.remove_pod(p.key)
            removed.append((v[0], pods))
        fitted = _fits(state, unit, job.queue, job.preemptible, add)
    else:
        for v in victims:
            pods = _victim_pods(state, v)
            if not pods or not eligible(v):
                continue
            for p in pods:
                state.remove_pod(p.key)
            removed.append((v[0], pods))
            if _fits(state, unit, job.queue, job.preemptible, add):
                fitted = True
                break
    if not fitted:
        _restore(state, removed)
        return None
    # Minimality: a victim whose return still leaves room is not evicted.
    kept: list[tuple[str, list[PodRec]]] = []
    for vj, pods in reversed(removed[:-1]):
        saved = [(p, p.node, p.groups, p.portion) for p in pods]
        for p, node, groups, portion in saved:
            state.add_pod(p, node or "", groups, portion)
        if _fits(state, unit, job.queue, job.preemptible, add):
            continue
        for p, *_ in saved:
            state.remove_pod(p.key)
        kept.append((vj, pods))
    kept.reverse()
    return kept + [removed[-1]]


# ---------------------------------------------------------------- the round
def cycle_fair_shares(state: ClusterState, pending_demand: dict[str, float]) -> dict[str, float]:
    """The fair shares a scheduling cycle starts from: each leaf's request is what it holds plus what
    waits (proportion.go updateQueuesCurrentResourceUsage), over the GPUs of schedulable nodes."""
    tree = state.tree
    demand: dict[str, float] = dict(state.alloc)
    for q, d in pending_demand.items():
        demand[q] = demand.get(q, 0.0) + d
    return fair_shares(tree, state.capacity(), {q: d for q, d in demand.items() if tree.is_leaf(q)})


def plan(state: ClusterState, jobs: list[PendingJob], new_gid: Callable[[], str],
         pending_demand: dict[str, float] | None = None, max_victims: int = 5000,
         promised: set[str] | frozenset[str] = frozenset()) -> Plan:
    """One scheduling round: allocate, then reclaim between queues, then preempt within a queue.

    `pending_demand` (GPUs per leaf queue still waiting, including jobs not passed in) feeds the fair
    share; by default it is summed from `jobs`. `promised` jobs were pipelined in an earlier round onto
    resources still being released (their victims terminating): they go first, so the room their
    evictions make is theirs and not taken by the victims' own replacements. Pods being deleted
    (`PodRec.releasing`) hold their node until they are gone but are never victims: a unit that fits
    only once they are gone is pipelined, and units placed after evictions are pipelined too.
    """
    out = Plan()
    tree = state.tree
    if pending_demand is None:
        pending_demand = {}
        for j in jobs:
            pending_demand[j.queue] = pending_demand.get(j.queue, 0.0) + sum(p.gpus for p in j.pods)
    fair = cycle_fair_shares(state, pending_demand)
    out.fair_share = fair

    def ratio(q: str) -> float:
        f = fair.get(q, 0.0)
        a = state.alloc.get(q, 0.0)
        return a / f if f > EPS else (INF if a > EPS else 0.0)

    def qprio(q: str) -> int:
        s = tree.specs.get(q)
        return s.priority if s else 0

    order = sorted(jobs, key=lambda j: (j.key not in promised, -qprio(j.queue), ratio(j.queue), -j.priority,
                                        j.created, j.key))
    releasing = state.releasing()  # what terminating pods hold: idle soon, never evicted again
    no_room: dict[tuple, str] = {}  # unit shape -> message, while nothing was freed this round
    reclaim_list: list[Victim] | None = None

    def reclaim_victims() -> list[Victim]:
        """Preemptible jobs of every queue that one of KAI's two reclaim strategies could take from
        (over its fair share, or over its quota), queue by queue in KAI's victim order, then by job:
        lowest priority first, newest first."""
        nonlocal reclaim_list
        if reclaim_list is None:
            over = [q for q in state.queue_jobs if tree.is_leaf(q)
                    and state.alloc.get(q, 0.0) > min(fair.get(q, 0.0), _deserved(q)) + EPS]
            rank = {q: i for i, q in enumerate(victim_order(tree, fair, state.alloc, over))}
            cands: list[tuple[int, int, str, Victim]] = []
            for q, i in rank.items():
                jobs_q = [jk for jk in state.queue_jobs[q] if state.jobs[jk].preemptible]
                for created, jk, v in victim_units(state, jobs_q):
                    cands.append((i, state.jobs[jk].priority, created, v))
            cands.sort(key=lambda c: (c[2], c[3]), reverse=True)  # newest first ...
            cands.sort(key=lambda c: (c[0], c[1]))         # ... within the queue order, lowest priority
            reclaim_list = [c[3] for c in cands[:max_victims]]
        return reclaim_list

    def _deserved(q: str) -> float:
        s = tree.specs.get(q)
        return s.deserved if s else 0.0

    def _evictions(job: PendingJob, unit: list[PodRec], add: float, why: tuple[str, str]
                   ) -> tuple[list[tuple[str, list[PodRec]]] | None, str, list[Placement] | None]:
        """Reclaim from queues over their share, else preempt lower priority in the job's own queue;
        commits the victims' removal and the unit's placement into `state`, or changes nothing."""
        victims: list[tuple[str, list[PodRec]]] | None = None
        action = ""
        if why[0] == UNSCHEDULABLE and state.alloc.get(job.queue, 0.0) + add <= fair.get(job.queue, 0.0) + EPS:
            starved = state.alloc.get(job.queue, 0.0) + add <= _deserved(job.queue) + EPS

            def eligible(v: Victim, q: str = job.queue, starved: bool = starved) -> bool:
                """KAI's reclaim strategies (reclaimable/strategies/strategies.go), checked on what
                the victim's queue holds before this victim goes: MaintainFairShare takes from a
                queue over its allocatable share (its quota or fair share, whichever is larger);
                GuaranteeDeservedQuota lets a queue within its quota take from one over its quota."""
                j = state.jobs.get(v[0])
                if j is None or j.queue == q or not j.preemptible:
                    return False
                spec = tree.specs.get(j.queue)
                have = state.alloc.get(j.queue, 0.0)
                if spec is None:
                    return have > EPS
                if have > allocatable_share(spec, fair.get(j.queue, 0.0)) + EPS:
                    return True
                return starved and have > spec.deserved + EPS
            victims = _evict_for(state, unit, job, add, reclaim_victims(), eligible, False)
            action = RECLAIM
        if victims is None and why[0] in (UNSCHEDULABLE, OVER_LIMIT):
            same = [jk for jk in state.queue_jobs.get(job.queue, {})
                    if state.jobs[jk].preemptible and state.jobs[jk].priority < job.priority]
            units_q = victim_units(state, same)
            units_q.sort(key=lambda c: (c[0], c[2]), reverse=True)
            units_q.sort(key=lambda c: state.jobs[c[1]].priority)
            victims = _evict_for(state, unit, job, add, [c[2] for c in units_q[:max_victims]],
                                 lambda v: True, why[0] == OVER_LIMIT)
            action = PREEMPT
        if victims is None:
            return None, action, None
        placed = _place(state, unit, new_gid)
        if placed is None:  # cannot happen after a successful probe; keep the state honest anyway
            _restore(state, victims)
        return victims, action, placed

    for job in order:
        units: list[list[PodRec]] = []
        pods = list(job.pods)
        need = max(0, job.min_member - job.running)
        if need > len(pods):
            out.pending[job.key] = Unschedulable(job.key, UNSCHEDULABLE, (
                f"gang needs {job.min_member} pods, {job.running + len(pods)} exist"))
            continue
        if need > 1:
            units.append(pods[:need])
            pods = pods[need:]
        units.extend([p] for p in pods)
        for unit in units:
            add = sum(p.gpus for p in unit)
            why = queue_check(state, job.queue, job.preemptible, add)
            if why is None:
                shape = tuple((p.req, p.cpu, p.memory, id(p.filter) if p.filter else 0) for p in unit)
                if shape not in no_room:
                    placed = _place(state, unit, new_gid)
                    if placed is not None:
                        out.placements.extend(placed)
                        continue
                    if releasing:
                        # KAI allocates onto idle or releasing resources: what terminating pods hold
                        # is promised to this unit (pipelined), and nothing more is evicted for it.
                        _lift(state, releasing)
                        placed = _place(state, unit, new_gid)
                        _restore(state, [("", releasing)])
                        if placed is not None:
                            out.placements.extend(_pipeline(placed))
                            continue
                    no_room[shape] = why_no_node(state, unit[0])
                why = (UNSCHEDULABLE, no_room[shape])
            # Victims are looked for as if the terminating pods were gone already (idle-or-releasing).
            _lift(state, releasing)
            try:
                victims, action, placed = _evictions(job, unit, add, why)
            finally:
                _restore(state, [("", releasing)])
            if victims is None or placed is None:
                out.pending[job.key] = Unschedulable(job.key, why[0], why[1])
                break  # the rest of this job waits behind the unit that could not go
            no_room.clear()
            for vj, vpods in victims:
                for vp in vpods:
                    out.evictions.append(Eviction(vp.key, vj, vp.queue, action, job.key, job.queue))
            out.placements.extend(_pipeline(placed))  # bound once the victims have terminated
    return out

