"""Idle-allocated detection: a GPU held by pods yet under X % utilisation for N minutes.

The clock per GPU starts at the first sample under the threshold while the same pods hold it, and
resets when utilisation rises, the holders change (a new pod gets its own grace period) or the GPU is
freed. A missing value (exporter down, MIG parent) neither proves nor disproves idleness: it leaves
the clock as it is.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdlePolicy:
    threshold_pct: float = 5.0       # under this utilisation counts as idle
    hold_s: float = 600.0            # for at least this long before it is flagged

    def __post_init__(self) -> None:
        if not 0 <= self.threshold_pct <= 100:
            raise ValueError(f"idle threshold must be 0–100 %, not {self.threshold_pct}")
        if self.hold_s < 0:
            raise ValueError(f"idle hold time must not be negative, not {self.hold_s}")


class IdleTracker:
    def __init__(self, policy: IdlePolicy | None = None) -> None:
        self.policy = policy or IdlePolicy()
        self._since: dict[Hashable, tuple[float, Hashable]] = {}

    def __len__(self) -> int:
        return len(self._since)

    def update(self, key: Hashable, t: float, util_pct: float | None, holders: Hashable) -> float | None:
        """Feed one sample; returns how long the GPU has been idle while allocated (None: it is not).

        `holders` identifies who holds the GPU (falsy when free); any hashable value works.
        """
        if not holders:
            self._since.pop(key, None)
            return None
        cur = self._since.get(key)
        if cur is not None and cur[1] != holders:
            cur = None
            del self._since[key]
        if util_pct is None:
            return t - cur[0] if cur is not None else None
        if util_pct >= self.policy.threshold_pct:
            self._since.pop(key, None)
            return None
        if cur is None:
            cur = self._since[key] = (t, holders)
        return max(0.0, t - cur[0])

    def is_idle(self, idle_for_s: float | None) -> bool:
        return idle_for_s is not None and idle_for_s >= self.policy.hold_s

    def forget_except(self, keys: set[Hashable]) -> None:
        """Drop GPUs that no longer exist, so the tracker stays as small as the cluster."""
        for k in [k for k in self._since if k not in keys]:
            del self._since[k]
