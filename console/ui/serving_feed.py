"""The console's serving health: one scraper per session, run on the informers' loop (`LiveSession.off_ui`).

Hand-over rule: `tick()` runs on the informers' thread, reads the model under the session lock and returns
a new `ServingSnapshot`, an immutable value; the App stores the reference in the panes' context on the UI
thread. Nothing the UI reads is ever changed after it is handed over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from console.model.serving_view import EMPTY, ServingSnapshot, ServingView, scrape_targets
from console.model.slo import SloRule
from console.telemetry.serving_scrape import PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker

ScraperFactory = Callable[[Any], ServingScraper | None]


def serving_scraper(session: Any) -> ServingScraper | None:
    """Inference pods scraped with the informers' credentials (through the pod proxy unless pod IPs answer)."""
    client = getattr(session, "informer_client", None)
    if client is None:
        return None
    return ServingScraper(PageFetcher.for_client(client))


def state_text(results: dict, interval_s: float) -> tuple[str, bool]:
    """The header's serving state: `serving 31/32 pods · 10s`, and whether some pod fails."""
    if not results:
        return "serving: no inference pods", False
    ok = sum(1 for r in results.values() if r.reading is not None)
    return f"serving {ok}/{len(results)} pods · {interval_s:g}s", ok < len(results)


class ServingFeed:
    def __init__(self, session: Any, factory: ScraperFactory = serving_scraper, *, window_s: float = 60.0,
                 interval_s: float = 10.0, rules: Sequence[SloRule] = (),
                 gpu: Callable[[tuple[str, int]], Any] = lambda k: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.factory = factory
        self.window_s = window_s
        self.interval_s = interval_s
        self.rules = tuple(rules)
        self.gpu = gpu
        self.clock = clock
        self.tracker = ServingTracker(window_s, stale_after_s=max(3 * interval_s, 30.0))
        self.view = ServingView()
        self.scraper: ServingScraper | None = None
        self._made = False
        self.snapshot: ServingSnapshot = EMPTY
        self.ticks = 0

    async def tick(self) -> ServingSnapshot:
        """One round: every inference replica's pages, then a new snapshot (runs on the informers' loop)."""
        if not self._made:
            self._made = True
            self.scraper = self.factory(self.session)
        if self.scraper is None:
            self.snapshot = ServingSnapshot(state="serving: off (no live cluster connection)")
            return self.snapshot
        store = self.session.store
        with self.session.lock:
            targets = scrape_targets(store)
        results = await self.scraper.scrape(targets)
        now = self.clock()
        self.tracker.ingest(now, results)
        state, bad = state_text(results, self.interval_s)
        with self.session.lock:
            self.snapshot = self.view.build(store, self.tracker, now, self.gpu, self.rules, state, bad)
        self.ticks += 1
        return self.snapshot

    async def close(self) -> None:
        if self.scraper is not None:
            await self.scraper.close()
