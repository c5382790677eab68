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


def _divide(amount: float, kids: list[QueueSpec], want: Mapping[str, float]) -> dict[str, float]:
    """Split `amount` over sibling queues: deserved first, then by weight within priority levels."""
    share = {q.name: 0.0 for q in kids}
    cap = {q.name: min(want.get(q.name, 0.0), q.max_allowed) for q in kids}
    left = amount
    # Deserved quota first, higher priority first when capacity cannot cover every quota.
    for q in sorted(kids, key=lambda q: (-q.priority, q.name)):
        give = min(q.deserved, cap[q.name], max(0.0, left))
        share[q.name] = give
        left -= give
    # Spare capacity by over-quota weight, level by level of priority, water-filling up to each cap.
    levels = sorted({q.priority for q in kids}, reverse=True)
    for prio in levels:
        if left <= EPS:
            break
        active = [q for q in kids if q.priority == prio and q.weight > 0 and cap[q.name] - share[q.name] > EPS]
        while active and left > EPS:
            total_w = sum(q.weight for q in active)
            saturated = [q for q in active if cap[q.name] - share[q.name] <= left * q.weight / total_w + EPS]
            if not saturated:
                for q in active:
                    share[q.name] += left * q.weight / total_w
                left = 0.0
                break
            for q in saturated:
                left -= cap[q.name] - share[q.name]
                share[q.name] = cap[q.name]
            active = [q for q in active if q not in saturated]
    return share


def fair_shares(tree: QueueTree, capacity: float, demand: Mapping[str, float]) -> dict[str, float]:
    """Each queue's GPU fair share given cluster capacity and each leaf's demand (allocated + pending).

    A parent's demand is its children's; a child never gets more than its parent did.
    """
    want: dict[str, float] = {}

    def subtree_want(name: str, seen: frozenset[str]) -> float:
        if name in want:
            return want[name]
        kids = [k for k in tree.children[name] if k not in seen]
        w = demand.get(name, 0.0) if not kids else sum(subtree_want(k, seen | {k}) for k in kids)
        want[name] = w
        return w

    for r in tree.roots:
        subtree_want(r, frozenset({r}))
    out: dict[str, float] = {}

    def assign(names: list[str], amount: float) -> None:
        specs = [tree.specs[n] for n in names]
        for name, s in _divide(amount, specs, want).items():
            out[name] = s
            kids = [k for k in tree.children[name] if k not in out]
            if kids:
                assign(kids, s)

    assign(tree.roots, capacity)
    return out
