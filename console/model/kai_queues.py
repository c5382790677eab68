"""KAI's queue tree and GPU fair share: deserved quota first, then spare capacity by over-quota weight.

Pure over `QueueSpec` records so the simulator's scheduler and the console's preemption preview divide
the cluster the same way. GPU only: CPU and memory quotas exist in the CRD but GPUs are what the console
and its operators reason about.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

INF = math.inf
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A Queue's GPU terms. quota -1 = unlimited deserved; limit -1 = none, 0/unset = no over-quota."""

    name: str
    parent: str | None = None
    quota: float = 0.0
    limit: float | None = None
    weight: float = 1.0
    priority: int = 100
    created: str = ""          # metadata.creationTimestamp: KAI's tie-break between equal leftovers

    @property
    def deserved(self) -> float:
        return INF if self.quota < 0 else self.quota

    @property
    def max_allowed(self) -> float:
        """The most GPUs the queue may hold: its limit, or its quota when over-quota is off."""
        if self.limit is None or self.limit == 0:
            return self.deserved
        if self.limit < 0:
            return INF
        return self.limit


def queue_spec_from_obj(obj: Mapping[str, Any]) -> QueueSpec:
    """Read a `scheduling.run.ai/v2` Queue dict; bad numbers read as the field's default, never crash."""
    def d(v: Any) -> Mapping[str, Any]:
        return v if isinstance(v, Mapping) else {}

    md = d(obj.get("metadata"))
    spec = d(obj.get("spec"))
    gpu = d(d(spec.get("resources")).get("gpu"))

    def num(v: Any, default: float | None) -> float | None:
        if v is None:
            return default
        try:
            f = float(v)
        except (TypeError, ValueError):
            return default
        return f if math.isfinite(f) else default

    try:
        prio = int(spec.get("priority", 100))
    except (TypeError, ValueError):
        prio = 100
    parent = spec.get("parentQueue")
    return QueueSpec(
        name=str(md.get("name", "")),
        parent=str(parent) if parent else None,
        quota=num(gpu.get("quota"), 0.0) or 0.0,
        limit=num(gpu.get("limit"), None),
        weight=max(0.0, num(gpu.get("overQuotaWeight"), 1.0) or 0.0),
        priority=prio,
        created=str(md.get("creationTimestamp") or ""),
    )


class QueueTree:
    """Parent/child links of a set of queues. Only leaves take workloads."""

    def __init__(self, specs: Iterable[QueueSpec]) -> None:
        self.specs: dict[str, QueueSpec] = {q.name: q for q in specs}
        self.children: dict[str, list[str]] = {n: [] for n in self.specs}
        self.roots: list[str] = []
        self._chains: dict[str, list[str]] = {}
        for q in self.specs.values():
            if q.parent and q.parent in self.specs and q.parent != q.name:
                self.children[q.parent].append(q.name)
            else:
                self.roots.append(q.name)
        for kids in self.children.values():
            kids.sort()
        self.roots.sort()

    def is_leaf(self, name: str) -> bool:
        return name in self.specs and not self.children[name]

    def orphan(self, name: str) -> bool:
        """Names a parent that does not exist."""
        q = self.specs.get(name)
        return bool(q and q.parent and q.parent not in self.specs)

    def chain(self, name: str) -> list[str]:
        """The queue and its ancestors, leaf first (stops on a cycle or a missing parent). Do not modify."""
        got = self._chains.get(name)
        if got is not None:
            return got
        out: list[str] = []
        cur: str | None = name
        while cur and cur in self.specs and cur not in out:
            out.append(cur)
            cur = self.specs[cur].parent
        self._chains[name] = out
        return out


# KAI's division of one level of the queue tree, after the proportion plugin:
#   NVIDIA/KAI-Scheduler pkg/scheduler/plugins/proportion/resource_division/resource_division.go
#   (setDeservedResource, divideOverQuotaResource, divideUpToFairShare, divideRemainingResource),
#   pkg/scheduler/plugins/proportion/resource_share/resource_share.go (GetRequestableShare) and
#   docs/fairness/README.md ("Fair-Share Algorithm").
# Time-based fairness is left out: without a usage database every queue's usage is 0, and the share
# weight `nWeight + kValue * (nWeight - usage)` is then proportional to the over-quota weight.
_MAX_ROUNDS = 10_000


class _Level:
    """The queues of one level being divided: their terms, requests and the fair share so far."""

    def __init__(self, kids: list[QueueSpec], request: Mapping[str, float]) -> None:
        self.kids = kids
        self.request = {q.name: max(0.0, request.get(q.name, 0.0)) for q in kids}
        self.cap = {q.name: q.max_allowed for q in kids}
        # GetRequestableShare: the request, capped by the limit when there is one.
        self.requestable = {n: min(self.cap[n], r) for n, r in self.request.items()}
        self.fair = {q.name: 0.0 for q in kids}

    def remaining(self, q: QueueSpec) -> float:
        """getRemainingRequested: what the queue could still take."""
        r = self.requestable[q.name] - self.fair[q.name]
        return r if r > 0.0 else 0.0

    def satisfied(self, q: QueueSpec) -> bool:
        """isQueueSatisfied: its whole request, or its limit, is covered."""
        f = self.fair[q.name] + EPS
        return self.request[q.name] <= f or self.cap[q.name] <= f


def _divide(amount: float, kids: list[QueueSpec], request: Mapping[str, float]) -> dict[str, float]:
    """Split `amount` GPUs over sibling queues the way KAI does on every scheduling cycle.

    1. Deserved: each queue gets min(quota, its requestable share), all at once and whatever the
       amount (quota -1 stands for the whole amount); the shares may add up to more than `amount`.
    2. What is left goes level by level of priority, highest first: rounds split it by over-quota
       weight among the queues still unsatisfied; a queue asking for less than its cut takes what it
       asks and the round repeats, one asking for more takes the cut rounded down to whole GPUs.
    3. The fractions rounded away go, one GPU at most each, to the queues with the largest fraction
       (then the oldest queue, then by name), priority level by level.
    """
    lv = _Level(kids, request)
    left = amount
    for q in kids:
        deserved = amount if q.quota < 0 else q.quota
        give = max(0.0, min(deserved, lv.requestable[q.name]))
        lv.fair[q.name] += give
        left -= give
    if left <= EPS:
        return lv.fair
    levels = sorted({q.priority for q in kids}, reverse=True)
    leftovers: dict[int, dict[str, float]] = {}
    for prio in levels:
        left, leftovers[prio] = _up_to_fair_share(lv, left, [q for q in kids if q.priority == prio])
    for prio in levels:
        if left <= EPS:
            break
        left = _divide_remaining(lv, left, leftovers[prio])
    return lv.fair


def _up_to_fair_share(lv: _Level, total: float, queues: list[QueueSpec]) -> tuple[float, dict[str, float]]:
    """divideUpToFairShare for one priority level: the rounds; returns what is left and the rounded-off
    fraction of each queue that wanted more than its cut."""
    leftover: dict[str, float] = {}
    for _ in range(_MAX_ROUNDS):
        if sum(q.weight for q in queues if lv.remaining(q) > EPS) <= 0:
            break
        unsatisfied = [q for q in queues if not lv.satisfied(q)]
        weights = sum(q.weight for q in unsatisfied)
        if weights <= 0:
            break
        cut_of_round = total
        again = False
        for q in unsatisfied:
            if total <= EPS:
                break
            if q.weight == 0:
                continue
            wanted = lv.remaining(q)
            cut = cut_of_round * q.weight / weights
            if wanted <= cut + EPS:
                give = wanted
                leftover.pop(q.name, None)
            else:
                give = float(math.floor(cut + EPS))  # whole GPUs, "for better usability"
                if cut - give > EPS:
                    leftover[q.name] = cut - give
            if give <= 0:
                continue
            lv.fair[q.name] += give
            total -= give
            again = again or wanted < cut - EPS
        if not again or total <= EPS:
            break
    return max(0.0, total), leftover


def _divide_remaining(lv: _Level, total: float, leftover: dict[str, float]) -> float:
    """divideRemainingResource: at most one GPU each to the largest rounded-off fractions."""
    specs = {q.name: q for q in lv.kids}
    for name in sorted(leftover, key=lambda n: (-leftover[n], specs[n].created, n)):
        if total <= EPS:
            break
        give = min(1.0, total)
        lv.fair[name] += give
        total -= give
    return max(0.0, total)


def fair_shares(tree: QueueTree, capacity: float, demand: Mapping[str, float]) -> dict[str, float]:
    """Each queue's GPU fair share given cluster capacity and each leaf's demand (allocated + pending).

    A parent's request is its children's; the cluster is divided among the top queues, then each
    queue's fair share among its children, down the tree (proportion.go setFairShareForQueues). A
    queue whose parent does not exist, or that sits in a parent cycle, is no top queue and nobody's
    child: it gets nothing, as in KAI.
    """
    want: dict[str, float] = {}

    def subtree_want(name: str, seen: frozenset[str]) -> float:
        if name in want:
            return want[name]
        kids = [k for k in tree.children[name] if k not in seen]
        w = demand.get(name, 0.0) if not kids else sum(subtree_want(k, seen | {k}) for k in kids)
        want[name] = w
        return w

    tops = [r for r in tree.roots if not tree.specs[r].parent]
    for r in tops:
        subtree_want(r, frozenset({r}))
    out: dict[str, float] = {n: 0.0 for n in tree.specs}
    done: set[str] = set()

    def assign(names: list[str], amount: float) -> None:
        specs = [tree.specs[n] for n in names]
        for name, s in _divide(amount, specs, want).items():
            out[name] = s
            done.add(name)
        for name in names:
            kids = [k for k in tree.children[name] if k not in done]
            if kids:
                assign(kids, out[name])

    if tops:
        assign(tops, capacity)
    return out


def allocatable_share(q: QueueSpec, fair: float) -> float:
    """GetAllocatableShare: what the queue may hold before reclaim can take it back (resource_share.go)."""
    if q.quota < 0:
        return q.max_allowed
    return min(q.max_allowed, max(q.deserved, fair))


def saturation(allocated: float, fair: float) -> float:
    """Allocated / fair share as KAI's reclaim compares it (reclaimable.go fairShareSaturationRatio):
    a zero fair share is infinitely saturated by any allocation."""
    if fair <= EPS:
        return INF if allocated > EPS else 0.0
    return allocated / fair


def victim_order(tree: QueueTree, fair: Mapping[str, float], alloc: Mapping[str, float],
                 leaves: Iterable[str], first_only: bool = False) -> list[str]:
    """`leaves` in the order KAI's reclaim takes victims from them.

    KAI walks the queue tree from the top, at each level taking the child that its queue order puts
    last (pkg/scheduler/actions/utils/job_order_by_queue.go with VictimQueue; the order is
    pkg/scheduler/plugins/proportion/queue_order/queue_order.go, reversed): a queue over its fair
    share before one within it, then one over its quota before one within it, then lower priority
    (docs: higher priority queues are "last for reclaim"), then one holding GPUs with no allocatable
    share, then the higher share of its allocatable GPUs in use, the larger allocatable share, and
    the newer queue. `first_only`: just the first leaf (one walk down, no full ordering).
    """
    want = set(leaves)
    keep: set[str] = set()
    for leaf in want:
        keep.update(tree.chain(leaf))

    def key(name: str) -> tuple:
        q = tree.specs[name]
        f, a = fair.get(name, 0.0), alloc.get(name, 0.0)
        share = allocatable_share(q, f)
        zero = share <= EPS and a > EPS
        dominant = a * 1000 if share <= EPS else (0.0 if share == INF else a / share)
        return (not a > f + EPS, not a > q.deserved + EPS, q.priority, not zero, -dominant,
                -(share if share != INF else 1e18))

    def ordered(names: list[str]) -> list[str]:
        names = sorted(names)
        names.sort(key=lambda n: tree.specs[n].created, reverse=True)  # newer first, last resort
        names.sort(key=key)
        return names

    out: list[str] = []
    seen: set[str] = set()

    def walk(names: list[str]) -> None:
        for n in ordered([n for n in names if n in keep and n not in seen]):
            if first_only and out:
                return
            seen.add(n)
            if n in want and tree.is_leaf(n):
                out.append(n)
            walk(tree.children.get(n, []))

    walk([r for r in tree.roots if r in keep])
    return out
