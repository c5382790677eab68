"""Scraping inference pods' metrics pages: directly at the pod IP when this machine reaches pod IPs, else
through the API server's pod proxy ("auto" tries direct once and sticks to what works, as the dcgm
sampler does). Pages are fetched concurrently, each within its own timeout and size cap; a pod that
hangs, refuses, answers 404, sends junk or a page over the cap is that pod's `error` and nothing else's.

The HTTP side is one aiohttp pool (`PageFetcher`): concurrent GETs of small pages cost far less there
than on httpx (`bench.telemetry`: 1.2 s against 7.5 s for 2,000 pages). Through the pod proxy it sends
the API client's own credentials; direct scrapes send none.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson

from console.kube.config import Credentials

from .serving_endpoints import Endpoint, PodKey, Target
from .serving_servers import PageResult, PodScrape, Reading, combine, kind_of, parse_page, read

MODES = ("auto", "direct", "proxy")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
USER_AGENT = "gpuconsole/0.1"


class FetchError(Exception):
    """A page that did not come, and why (one line, for the detail line)."""


def _mib(n: int) -> str:
    return f"{n / 1048576:g} MiB"


class PageFetcher:
    """Concurrent GETs of text pages on one aiohttp pool, each capped at `max_bytes`."""

    def __init__(self, creds: Credentials | None = None, *, timeout_s: float = 3.0, concurrency: int = 64,
                 max_bytes: int = DEFAULT_MAX_BYTES, stats: Any = None) -> None:
        self.creds = creds
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.concurrency = max(1, concurrency)
        self.stats = stats            # the API client's: proxied scrapes are load on the API server too
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = True
        self.requests = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ctx = self.creds.ssl_context() if self.creds is not None else True
            self._ssl = ctx if isinstance(ctx, ssl.SSLContext) else (False if ctx is False else True)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.concurrency,
                                               ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s, connect=min(self.timeout_s, 2.0)),
                headers={"User-Agent": USER_AGENT, "Accept": "text/plain"}, trust_env=False)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def direct(self, url: str) -> bytes:
        return await self._get(url, {}, None)

    async def proxy(self, namespace: str, pod: str, port: int, path: str) -> bytes:
        if self.creds is None:
            raise FetchError("no credentials to reach the API server with")
        if self.stats is not None:
            self.stats.record()
        url = (f"{self.creds.server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/"
               f"{path.lstrip('/')}")
        return await self._get(url, self.creds.headers(), self.creds.tls_server_name)

    async def _get(self, url: str, headers: dict[str, str], server_hostname: str | None) -> bytes:
        self.requests += 1
        http = self._http()   # first: it sets the TLS context the API server is verified with
        kw: dict[str, Any] = {}
        if url.startswith("https"):
            kw["ssl"] = self._ssl if headers else True
            if server_hostname:
                kw["server_hostname"] = server_hostname
        try:
            async with http.get(url, headers=headers, allow_redirects=False, **kw) as resp:
                size = resp.content_length
                if size is not None and size > self.max_bytes:
                    raise FetchError(f"page of {_mib(size)} is over the {_mib(self.max_bytes)} cap")
                if size is not None:
                    body = await resp.read()      # announced and under the cap: read at once
                else:                             # no length: read up to the cap and stop there
                    buf = bytearray()
                    async for chunk in resp.content.iter_chunked(65536):
                        buf += chunk
                        if len(buf) > self.max_bytes:
                            raise FetchError(f"page over the {_mib(self.max_bytes)} cap")
                    body = bytes(buf)
                if len(body) > self.max_bytes:
                    raise FetchError(f"page over the {_mib(self.max_bytes)} cap")
                if resp.status >= 400:
                    raise FetchError(_status_text(resp.status, body))
                return body
        except asyncio.TimeoutError:
            raise FetchError(f"no answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientConnectorError as e:
            raise FetchError(_connect_text(e)) from None
        except aiohttp.ClientError as e:
            raise FetchError(f"{type(e).__name__}: {e}".rstrip(": ")) from None
        except OSError as e:
            raise FetchError(f"{type(e).__name__}: {e}".rstrip(": ")) from None


def _connect_text(e: aiohttp.ClientConnectorError) -> str:
    err = e.os_error
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return f"cannot connect: {err.strerror or err}" if err is not None else "cannot connect"


def _status_text(status: int, body: bytes) -> str:
    """`HTTP 404` with the API server's message when it sent a Status (the pod proxy's `connection refused`)."""
    msg = ""
    try:
        obj = orjson.loads(body)
        if isinstance(obj, dict):
            msg = str(obj.get("message") or "")
    except orjson.JSONDecodeError:
        msg = body[:120].decode("utf-8", "replace").strip()
    for word in ("connection refused", "no route to host", "i/o timeout"):
        if word in msg:
            return f"HTTP {status}: {word}"
    return f"HTTP {status}" + (f": {' '.join(msg.split())[:120]}" if msg else "")


class ServingScraper:
    """One round scrapes every target: its server's page and, on Knative pods, the queue-proxy's."""

    def __init__(self, fetcher: PageFetcher, *, mode: str = "auto", parse_in_thread_over: int = 256_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.fetcher = fetcher
        self.mode = mode
        self.parse_in_thread_over = parse_in_thread_over
        self.clock = clock
        self._direct: bool | None = {"direct": True, "proxy": False}.get(mode)
        self._sem = asyncio.Semaphore(fetcher.concurrency)

    @property
    def via_proxy(self) -> bool | None:
        return None if self._direct is None else not self._direct

    async def close(self) -> None:
        await self.fetcher.aclose()

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

    async def scrape(self, targets: Sequence[Target]) -> dict[PodKey, PodScrape]:
        if self._direct is None and targets:
            await self._decide(targets)
        results = await asyncio.gather(*(self._pod(t) for t in targets))
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
    from dataclasses import replace
    return replace(r, notes=r.notes + (note,))


def _url(ip: str, ep: Endpoint) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{ep.scheme}://{host}:{ep.port}{ep.path}"
