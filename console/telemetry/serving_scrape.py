"""Scraping inference pods' metrics pages: directly at the pod IP when this machine reaches pod IPs, else
through the API server's pod proxy ("auto" tries direct once and sticks to what works, as the dcgm
sampler does). Pages are fetched concurrently, each within its own timeout and size cap; a pod that
hangs, refuses, answers 404, sends junk or a page over the cap is that pod's `error` and nothing else's.

The HTTP side is the metrics scrapes' one aiohttp pool (`console.kube.scrape.Scraper`, behind
`PageFetcher`): concurrent GETs of small pages cost far less there than on httpx. Through the pod proxy it
sends the API client's own credentials (and reloads them once on a 401); direct scrapes send none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from console.kube.config import Credentials
from console.kube.errors import ApiError
from console.kube.scrape import Scraper, ScrapeError

from .serving_endpoints import Endpoint, PodKey, Target
from .serving_servers import PageResult, PodScrape, Reading, combine, kind_of, parse_page, read

MODES = ("auto", "direct", "proxy")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# Pages a second through the API server's pod proxy at most (the console's `serving_proxy_rps`): each is a
# request the API server relays, so 11,000 inference pods every 10 s would be 1,100 a second on it.
PROXY_RPS = 100.0


class FetchError(Exception):
    """A page that did not come, and why (one line, for the detail line)."""


class PageFetcher:
    """The serving scrape's view of `console.kube.scrape.Scraper` (one aiohttp pool, the API client's
    credentials and 401 reload for the pod proxy, a size cap per page): every failure is a `FetchError`
    whose text is one line for the replica's detail."""

    def __init__(self, creds: Credentials | None = None, *, timeout_s: float = 3.0, concurrency: int = 64,
                 max_bytes: int = DEFAULT_MAX_BYTES, stats: Any = None,
                 reload: Callable[[], Credentials] | None = None) -> None:
        self.scraper = Scraper(creds, timeout_s=timeout_s, concurrency=concurrency, reload=reload, stats=stats,
                               max_bytes=max_bytes)

    @classmethod
    def for_client(cls, client: Any, **kw: Any) -> "PageFetcher":
        """The API client's credentials, reload and request stats (a `KubeClient`)."""
        return cls(client.creds, reload=client._reload, stats=client.stats, **kw)

    @property
    def creds(self) -> Credentials | None:
        return self.scraper.creds

    @property
    def concurrency(self) -> int:
        return self.scraper.concurrency

    @property
    def requests(self) -> int:
        return self.scraper.requests

    async def aclose(self) -> None:
        await self.scraper.aclose()

    async def direct(self, url: str) -> bytes:
        try:
            return await self.scraper.get(url)
        except ScrapeError as e:
            raise FetchError(_status_text(e.status, e.body) if e.status else str(e)) from None

    async def proxy(self, namespace: str, pod: str, port: int, path: str) -> bytes:
        try:
            return await self.scraper.get_proxy(namespace, pod, port, path)
        except ScrapeError as e:
            raise FetchError(str(e)) from None
        except ApiError as e:
            raise FetchError(_status_text(e.code, e.message)) from None


def _status_text(status: int, body: Any) -> str:
    """`HTTP 404` with the server's message (the pod proxy's `connection refused` when the pod refuses)."""
    msg = body.get("message") if isinstance(body, dict) else body
    msg = str(msg or "").strip()
    for word in ("connection refused", "no route to host", "i/o timeout"):
        if word in msg:
            return f"HTTP {status}: {word}"
    if not msg or msg == f"HTTP {status}":
        return f"HTTP {status}"
    return f"HTTP {status}: {' '.join(msg.split())[:120]}"


class ServingScraper:
    """One round scrapes every target: its server's page and, on Knative pods, the queue-proxy's."""

    def __init__(self, fetcher: PageFetcher, *, mode: str = "auto", parse_in_thread_over: int = 256_000,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.fetcher = fetcher
        self.mode = mode
        self.parse_in_thread_over = parse_in_thread_over
        self.clock = clock
        self.sleep = sleep   # how a spread round waits its turn
        self._direct: bool | None = {"direct": True, "proxy": False}.get(mode)
        self._sem = asyncio.Semaphore(fetcher.concurrency)

    @property
    def via_proxy(self) -> bool | None:
        return None if self._direct is None else not self._direct

    async def close(self) -> None:
        await self.fetcher.aclose()

    async def prepare(self, targets: Sequence[Target]) -> None:
        """Decide, once, whether pod IPs answer from here or pages go through the pod proxy."""
        if self._direct is None and targets:
            await self._decide(targets)

    def paced_s(self, targets: Sequence[Target], proxy_rps: float | None) -> float:
        """How long the pod proxy's page budget stretches a round of these targets (0: not stretched)."""
        if not proxy_rps or self._direct or not targets:
            return 0.0
        pages = sum((t.hint.endpoint is not None) + (t.hint.proxy is not None) for t in targets if t.hint)
        if pages <= self.fetcher.concurrency:   # one wave goes at once, as a token bucket's burst would
            return 0.0
        return pages / proxy_rps

    async def _decide(self, targets: Sequence[Target]) -> None:
        t = next((t for t in targets if t.hint and t.hint.ip and (t.hint.endpoint or t.hint.proxy)), None)
        if t is None or self.fetcher.creds is None:
            self._direct = self.fetcher.creds is None
            return
        ep = t.hint.endpoint or t.hint.proxy  # type: ignore[union-attr]
        try:
            await asyncio.wait_for(self.fetcher.direct(_url(t.hint.ip, ep)), 1.5)  # type: ignore[arg-type, union-attr]
            self._direct = True
        except (FetchError, asyncio.TimeoutError):
            self._direct = False

    async def scrape(self, targets: Sequence[Target], *, spread_s: float = 0.0,
                     proxy_rps: float | None = None) -> dict[PodKey, PodScrape]:
        """Every target's pages. With `spread_s` the pods are started evenly over that many seconds, in target
        order, instead of all at once (as Prometheus staggers its targets): the servers, the API server's
        pod proxy and the loop that parses see a steady trickle, not a burst each interval that delays the
        watches behind it. Through the pod proxy, `proxy_rps` caps the pages a second (every page is a
        request the API server serves): a fleet too big for it takes a longer round. Each pod's result
        carries when it came (`at`), so its rates stay exact however long the round."""
        await self.prepare(targets)
        spread_s = max(spread_s, self.paced_s(targets, proxy_rps))
        step = spread_s / len(targets) if targets and spread_s > 0 else 0.0
        if not step:
            results = await asyncio.gather(*(self._pod(t) for t in targets))
            return {t.key: r for t, r in zip(targets, results)}
        # Paced: each pod's task is made when its turn comes (not thousands of sleeping tasks at once).
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: list[asyncio.Task[PodScrape]] = []
        try:
            for i, t in enumerate(targets):
                wait = start + i * step - loop.time()
                if wait > 0:
                    await self.sleep(wait)
                tasks.append(asyncio.ensure_future(self._pod(t)))
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return {t.key: r for t, r in zip(targets, results)}

    async def _page(self, t: Target, ep: Endpoint) -> tuple[PageResult, str, int]:
        assert t.hint is not None
        via = f"{ep.scheme}://{t.hint.ip}:{ep.port}{ep.path}" if self._direct and t.hint.ip else \
            f"pod proxy :{ep.port}{ep.path}"
        try:
            async with self._sem:
                if self._direct and t.hint.ip:
                    body = await self.fetcher.direct(_url(t.hint.ip, ep))
                else:
                    body = await self.fetcher.proxy(t.namespace, t.pod, ep.port, ep.path)
        except FetchError as e:
            return PageResult(error=f"{via}: {e}"), via, 0
        except Exception as e:  # whatever one pod does, the others are still scraped
            return PageResult(error=f"{via}: {type(e).__name__}: {e}"), via, 0
        text = body.decode("utf-8", "replace")
        if len(body) > self.parse_in_thread_over:
            exp = await asyncio.to_thread(parse_page, text)
        else:
            exp = parse_page(text)
        if kind_of(exp) is None:
            why = "no vLLM, Triton, TGI or queue-proxy metrics on the page"
            if exp.bad_lines:
                why = f"unparsable: {exp.bad_lines} bad lines, e.g. {exp.bad_examples[0]!r}"
            return PageResult(error=f"{via}: {why}", bad_lines=exp.bad_lines), via, len(body)
        return PageResult(read(exp)), via, len(body)

    async def _pod(self, t: Target) -> PodScrape:
        scrape = await self._pod_pages(t)
        return replace(scrape, at=self.clock())

    async def _pod_pages(self, t: Target) -> PodScrape:
        hint = t.hint
        if hint is None or (hint.endpoint is None and hint.proxy is None):
            return PodScrape(None, "no metrics endpoint found (no prometheus.io annotations, no port named "
                                   "metrics, no known server image)")
        pages = [p for p in (hint.endpoint, hint.proxy) if p is not None]
        got = await asyncio.gather(*(self._page(t, ep) for ep in pages))
        server = got[0] if hint.endpoint is not None else None
        proxy = got[-1] if hint.proxy is not None else None
        reading = combine(server[0].reading if server else None, proxy[0].reading if proxy else None)
        errors = [g[0].error for g in got if g[0].error]
        size = sum(g[2] for g in got)
        bad = sum(g[0].bad_lines for g in got)
        if reading is None:
            return PodScrape(None, "; ".join(errors) or "no answer", ", ".join(g[1] for g in got), size, bad)
        if errors:   # one page answered: the figures are its, the other page's fault is a note
            reading = _with_note(reading, errors[0])
        source = ", ".join(g[1] for g in got if g[0].reading is not None)
        return PodScrape(reading, None, source, size, bad)


def _with_note(r: Reading, note: str) -> Reading:
    return replace(r, notes=r.notes + (note,))


def _url(ip: str, ep: Endpoint) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{ep.scheme}://{host}:{ep.port}{ep.path}"
