"""Each project's fair share and saturation as KAI sees them, and the project it would reclaim from next.

KAI decides reclaim by fair share: a queue's quota, then its share of what is left by priority and
over-quota weight, recomputed every scheduling cycle (`kai_queues.fair_shares`, the same division the
simulator's scheduler and the preemption preview use). Saturation is allocated / fair share: KAI
reclaims from queues above 1 first (docs/fairness/README.md, "Saturation Ratio").

Where KAI's scheduler metrics can be read the fair shares are KAI's own (`source` "kai-scheduler");
otherwise they are computed here from the Queues, their requested and allocated GPUs (the Queue
status the queue controller writes, else summed from pods) and the GPUs of the ready, uncordoned nodes
(`source` "computed", with the reason in `detail`). Pure: the caller hands in the rows and the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .kai_queues import EPS, INF, QueueSpec, QueueTree, fair_shares, saturation, victim_order

if TYPE_CHECKING:
    from console.telemetry.kai_metrics import KaiFairShare

    from .records import NodeRec, QueueRec
    from .views_projects import ProjectRow

SOURCE_KAI = "kai-scheduler"
SOURCE_COMPUTED = "computed"


@dataclass(frozen=True, slots=True)
class QueueShare:
    """One queue's fair share and how far its allocation is from it."""

    name: str
    fair_share_gpu: float
    allocated_gpu: float
    saturation: float                       # allocated / fair share; inf: GPUs held on a zero fair share
    over_quota_preemptible_gpu: float       # preemptible GPUs held beyond the quota: what reclaim can take
    source: str                             # kai-scheduler | computed


@dataclass(frozen=True, slots=True)
class ReclaimNext:
    queue: str
    reason: str


@dataclass(frozen=True, slots=True)
class FairShareTable:
    shares: Mapping[str, QueueShare] = field(default_factory=dict)
    source: str = SOURCE_COMPUTED
    detail: str = ""                        # where KAI's numbers came from, or why they were computed
    capacity_gpu: float = 0.0
    reclaim_next: ReclaimNext | None = None

    @property
    def label(self) -> str:
        """How the pane names the source: `fair share: KAI metrics (…)` or `fair share: computed (…)`."""
        what = "KAI metrics" if self.source == SOURCE_KAI else "computed with KAI's rules"
        return f"fair share: {what}" + (f" ({self.detail})" if self.detail else "")


EMPTY = FairShareTable()


def spec_of(q: QueueRec) -> QueueSpec:
    """A Queue record's GPU terms, read as `queue_spec_from_obj` reads the raw object."""
    w = q.over_quota_weight
    return QueueSpec(q.name, q.parent, q.quota_gpu if q.quota_gpu is not None else 0.0, q.limit_gpu,
                     max(0.0, w) if w is not None else 1.0, q.priority, q.created)


def capacity_of(nodes: Iterable[NodeRec]) -> float:
    """GPUs KAI divides: those of ready nodes that take new work (proportion.go getNodeResources;
    scheduler_utils.go counts a cordoned node as not ready)."""
    return float(sum(n.gpu_count or 0 for n in nodes if n.ready is not False and not n.cordoned))


def over_quota_preemptible(allocated: float, nonpreemptible: float, quota: float) -> float:
    """Preemptible GPUs beyond the quota (non-preemptible ones count against the quota first)."""
    if quota < 0:
        return 0.0
    return max(0.0, min(allocated - quota, allocated - nonpreemptible))


def _metric_names(queues: Mapping[str, QueueRec]) -> dict[str, str]:
    """KAI labels a queue by its displayName when set (queue_info.go), else its name."""
    out = {n: n for n in queues}
    for n, q in queues.items():
        if q.display_name:
            out[q.display_name] = n
    return out


def compute(queues: Mapping[str, QueueRec], rows: Mapping[str, ProjectRow], capacity: float,
            kai: KaiFairShare | None = None) -> FairShareTable:
    """The fair-share table: KAI's numbers where `kai` has them, else computed with KAI's rules."""
    if not queues:
        return EMPTY
    specs = [spec_of(q) for q in queues.values()]
    tree = QueueTree(specs)
    leaves = {n for n in tree.specs if tree.is_leaf(n)}
    demand = {n: rows[n].requested_gpu for n in leaves if n in rows}
    alloc = {n: rows[n].allocated_gpu if n in rows else 0.0 for n in tree.specs}
    computed = fair_shares(tree, capacity, demand)
    source, detail = SOURCE_COMPUTED, ""
    fair = dict(computed)
    from_kai: set[str] = set()
    if kai is not None and kai.ok:
        names = _metric_names(queues)
        for label, v in kai.values.items():
            n = names.get(label)
            if n is not None:
                fair[n] = v
                from_kai.add(n)
        if from_kai:
            source, detail = SOURCE_KAI, kai.origin
            missing = len(queues) - len(from_kai)
            if missing:
                detail += f"; {missing} queues not in its metrics, computed"
        else:
            detail = (f"{kai.origin} reports {len(kai.values)} queues, none of the {len(queues)} here; "
                      "computed with KAI's rules")
    elif kai is not None:
        detail = f"KAI scheduler metrics unavailable: {kai.error}"
    shares: dict[str, QueueShare] = {}
    for name, spec in tree.specs.items():
        r = rows.get(name)
        a = alloc[name]
        np = r.allocated_nonpreemptible_gpu if r else 0.0
        shares[name] = QueueShare(name, fair[name], a, saturation(a, fair[name]),
                                  over_quota_preemptible(a, np, spec.quota),
                                  SOURCE_KAI if name in from_kai else SOURCE_COMPUTED)
    nxt = reclaim_next(tree, shares, leaves)
    return FairShareTable(shares, source, detail, capacity, nxt)


def reclaim_next(tree: QueueTree, shares: Mapping[str, QueueShare], leaves: Iterable[str]) -> ReclaimNext | None:
    """The project KAI's reclaim would take from first: of the leaves holding preemptible GPUs beyond
    their quota, the first in KAI's victim order (over fair share, then over quota, lower priority,
    most saturated; `victim_order`)."""
    cands = [n for n in leaves if shares[n].over_quota_preemptible_gpu > EPS]
    if not cands:
        return None
    fair = {n: s.fair_share_gpu for n, s in shares.items()}
    alloc = {n: s.allocated_gpu for n, s in shares.items()}
    order = victim_order(tree, fair, alloc, cands, first_only=True)
    if not order:
        return None
    s = shares[order[0]]
    return ReclaimNext(s.name, reclaim_reason(s, tree.specs[s.name]))


def fmt_gpu(x: float) -> str:
    if x == INF:
        return "unlimited"
    if abs(x - round(x)) < 1e-6:
        return str(int(round(x)))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def fmt_saturation(x: float) -> str:
    return "∞" if x == INF else ("0" if x == 0 else f"{x:.2f}")


def reclaim_reason(s: QueueShare, spec: QueueSpec) -> str:
    """Why this queue is reclaimed next, in the numbers KAI compares."""
    pre = s.over_quota_preemptible_gpu
    gpus = f"{fmt_gpu(pre)} preemptible GPU{'' if abs(pre - 1) < 1e-6 else 's'} over quota {fmt_gpu(spec.quota)}"
    if s.allocated_gpu > s.fair_share_gpu + EPS:
        return (f"reclaimed next: allocated {fmt_gpu(s.allocated_gpu)} over fair share {fmt_gpu(s.fair_share_gpu)}"
                f" (saturation {fmt_saturation(s.saturation)}); {gpus}")
    return (f"reclaimed next: allocated {fmt_gpu(s.allocated_gpu)} within fair share "
            f"{fmt_gpu(s.fair_share_gpu)} (saturation {fmt_saturation(s.saturation)}) but over quota; {gpus}, "
            "reclaimable by a project within its quota")


class FairShareView:
    """The table, recomputed when the projects, the node capacity or KAI's metrics changed.

    Project rows change on nearly every drain of a busy cluster, and the table is the whole tree's
    division (4–7 ms for 550 queues on the 2-core machine, `python -m bench.fair_share`), so it is recomputed at most once per
    `min_interval_s` (KAI itself divides once per scheduling cycle); new metrics apply at once. Returns
    the names whose share or reclaim mark changed, so the Projects pane redraws those rows.
    """

    def __init__(self, min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.table: FairShareTable = EMPTY
        self.kai: KaiFairShare | None = None
        self.dirty = False
        self._forced = False
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._at: float | None = None

    def set_kai(self, kai: KaiFairShare | None) -> None:
        self.kai = kai
        self.dirty = self._forced = True

    def refresh(self, queues: Mapping[str, QueueRec], rows: Mapping[str, ProjectRow],
                nodes: Iterable[NodeRec], kai_mode: bool) -> set[str]:
        if not self.dirty:
            return set()
        now = self.clock()
        if not self._forced and self._at is not None and now - self._at < self.min_interval_s:
            return set()  # stays dirty: a later drain recomputes
        self.dirty = self._forced = False
        self._at = now
        old = self.table
        new = compute(queues, rows, capacity_of(nodes), self.kai) if kai_mode else EMPTY
        self.table = new
        if (old.source, old.detail) != (new.source, new.detail):
            return set(old.shares) | set(new.shares)  # where the numbers come from is on every row's pane
        changed = {n for n in set(old.shares) | set(new.shares) if old.shares.get(n) != new.shares.get(n)}
        for t in (old, new):
            if t.reclaim_next is not None and old.reclaim_next != new.reclaim_next:
                changed.add(t.reclaim_next.queue)
        return changed
