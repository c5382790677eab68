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
from console.telemetry.serving_scrape import PROXY_RPS, PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker

ScraperFactory = Callable[[Any], ServingScraper | None]


def serving_scraper(session: Any) -> ServingScraper | None:
    """Inference pods scraped with the informers' credentials (through the pod proxy unless pod IPs answer)."""
    client = getattr(session, "informer_client", None)
    if client is None:
        return None
    return ServingScraper(PageFetcher.for_client(client))


def state_text(results: dict, interval_s: float, round_s: float = 0.0,
               proxy_rps: float | None = None) -> tuple[str, bool]:
    """The header's serving state: `serving 31/32 pods · 10s`, and whether some pod fails. A round longer
    than the interval says so, and why when it is the pod proxy's page budget."""
    if not results:
        return "serving: no inference pods", False
    ok = sum(1 for r in results.values() if r.reading is not None)
    every = f"{interval_s:g}s"
    if round_s > interval_s * 1.2:
        every = f"every {round_s:.0f}s" + (f" (pod proxy ≤ {proxy_rps:g} pages/s)" if proxy_rps else "")
    return f"serving {ok}/{len(results)} pods · {every}", ok < len(results)


class ServingFeed:
    def __init__(self, session: Any, factory: ScraperFactory = serving_scraper, *, window_s: float = 60.0,
                 interval_s: float = 10.0, rules: Sequence[SloRule] = (),
                 gpu: Callable[[tuple[str, int]], Any] = lambda k: None,
                 clock: Callable[[], float] = time.monotonic, proxy_rps: float | None = PROXY_RPS) -> None:
        self.session = session
        self.factory = factory
        self.window_s = window_s
        self.interval_s = interval_s
        self.rules = tuple(rules)
        self.gpu = gpu
        self.clock = clock
        self.proxy_rps = proxy_rps
        self.round_s = 0.0           # the last round's length: longer than the interval on a fleet too big
        self._stale_s = max(3 * interval_s, 30.0)   # for the pod proxy's page budget
        self.tracker = ServingTracker(window_s, stale_after_s=self._stale_s)
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
        # More pods than one wave of concurrent pages: spread them over half the interval (see `scrape`).
        spread = 0.5 * self.interval_s if len(targets) > self.scraper.fetcher.concurrency else 0.0
        started = self.scraper.clock()
        results = await self.scraper.scrape(targets, spread_s=spread, proxy_rps=self.proxy_rps)
        ended, now = self.scraper.clock(), self.clock()
        self.round_s = ended - started
        # A replica is stale when it missed rounds, not seconds: a long round is not a missed one.
        self.tracker.stale_after_s = max(self._stale_s, 2.5 * self.round_s)
        self.tracker.ingest(now, results, ended=ended)
        state, bad = state_text(results, self.interval_s, self.round_s,
                                self.proxy_rps if self.scraper.via_proxy else None)
        with self.session.lock:
            self.snapshot = self.view.build(store, self.tracker, now, self.gpu, self.rules, state, bad)
        self.ticks += 1
        return self.snapshot

    async def close(self) -> None:
        if self.scraper is not None:
            await self.scraper.close()
