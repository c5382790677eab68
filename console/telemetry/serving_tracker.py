"""Every scraped pod's readings across rounds, and its figures over the window on demand.

A pod that stops being a target (deleted, scaled away) is forgotten; a new pod is a new window, so its
counters start from what it has counted since it started, as a restarted process's do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .serving_endpoints import PodKey
from .serving_servers import PodScrape
from .serving_window import Figures, ReplicaWindow


@dataclass(frozen=True, slots=True)
class ReplicaState:
    figures: Figures | None      # None: no figures now (`error` says why)
    error: str | None
    source: str


class ServingTracker:
    def __init__(self, window_s: float = 60.0, keep_s: float | None = None, stale_after_s: float = 45.0) -> None:
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self.keep_s = keep_s if keep_s is not None else max(120.0, 2 * window_s)
        self.windows: dict[PodKey, ReplicaWindow] = {}
        self.last: dict[PodKey, PodScrape] = {}
        self.last_ok: dict[PodKey, float] = {}
        self.rounds = 0
        self.taken_at: float | None = None

    def ingest(self, t: float, results: dict[PodKey, PodScrape], *, ended: float | None = None) -> None:
        """A round taken at `t`. With `ended` (the scraper's clock at the round's end) each pod's sample is
        dated by when its pages came (`PodScrape.at`), on this tracker's clock: a round spread over seconds
        still gives each replica its true interval."""
        self.rounds += 1
        self.taken_at = t
        for key in [k for k in self.windows if k not in results]:
            del self.windows[key]
        for key in [k for k in self.last if k not in results]:
            del self.last[key]
            self.last_ok.pop(key, None)
        for key, res in results.items():
            self.last[key] = res
            if res.reading is None:
                continue
            w = self.windows.get(key)
            if w is None:
                w = self.windows[key] = ReplicaWindow(self.keep_s)
            at = t if ended is None or res.at is None else t - max(0.0, ended - res.at)
            w.add(at, res.reading)
            self.last_ok[key] = at

    def replica(self, key: PodKey, now: float) -> ReplicaState:
        res = self.last.get(key)
        if res is None:
            return ReplicaState(None, "not scraped yet", "")
        ok = self.last_ok.get(key)
        if res.reading is not None and ok is not None and now - ok > self.stale_after_s:
            return ReplicaState(None, f"stale: last answer {now - ok:.0f} s ago", res.source)
        if res.reading is None:
            err = res.error or "no answer"
            if ok is not None:
                err += f" (last answer {now - ok:.0f} s ago)"
            return ReplicaState(None, err, res.source)
        w = self.windows.get(key)
        if w is None:
            return ReplicaState(None, "not scraped yet", res.source)
        return ReplicaState(w.figures(now, self.window_s), None, res.source)
