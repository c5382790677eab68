"""Metrics scrapes at the cost of their bytes: many concurrent GETs of text pages, directly or through the
API server's pod proxy, on one aiohttp connection pool.

Measured on 2,000 dcgm-exporter pages of 45 KB (`python -m bench.telemetry`): plain concurrent GETs take
1.2 s with aiohttp and 7.5 s with httpx (its per-request cost, not the bytes). The API client stays on
httpx (few, large requests); scrapes go through here. The API server is reached with exactly the API
client's credentials (`Credentials.headers()` and `ssl_context()`: bearer token or basic auth, client
certificate, CA, insecure-skip-verify) plus the kubeconfig's `tls-server-name`; a 401 reloads them once,
as `KubeClient` does. Direct scrapes of pod IPs carry no credentials (exporters do not take them) and
verify TLS with the same context when the URL is https.

Built for dcgm-exporter; serving-metrics scrapes of inference pods (vLLM, Triton, TGI) use the same pool
through `console.telemetry.serving_scrape.PageFetcher`, with a size cap on every page (`max_bytes`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp

from .config import Credentials
from .errors import ApiError

USER_AGENT = "gpuconsole/0.1"


class ScrapeError(Exception):
    """A page that did not come: the HTTP status (0: no answer) and why; `body` is the error answer."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def proxy_path(namespace: str, pod: str, port: int, path: str = "metrics") -> str:
    """The API server's pod proxy path for `http://<pod>:<port>/<path>`."""
    return f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/{path.lstrip('/')}"


class Scraper:
    """Concurrent GETs of metrics pages; one per console session, closed with it.

    `timeout_s` bounds each page (connect included); `concurrency` bounds the pages in flight.
    """

    def __init__(self, creds: Credentials | None = None, *, timeout_s: float = 10.0, concurrency: int = 64,
                 reload: Callable[[], Credentials] | None = None, stats: Any = None,
                 max_bytes: int | None = None) -> None:
        self.creds = creds
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes   # a page over it is refused, never read whole (None: no cap)
        self.concurrency = max(1, concurrency)
        self.stats = stats   # the API client's `Stats`: proxied scrapes are load on the API server too
        self._reload = reload or (creds.reload if creds is not None else None)
        self._session: aiohttp.ClientSession | None = None
        self._retired: list[aiohttp.ClientSession] = []
        self._ssl: ssl.SSLContext | bool | None = None
        self._sem = asyncio.Semaphore(self.concurrency)
        self.requests = 0

    @classmethod
    def for_client(cls, client: Any, **kw: Any) -> "Scraper":
        """The API client's credentials, reload and request stats (a `KubeClient`)."""
        return cls(client.creds, reload=client._reload, stats=client.stats, **kw)

    # ---------------------------------------------------------------- connection pool
    def _make(self) -> aiohttp.ClientSession:
        ctx = self.creds.ssl_context() if self.creds is not None else False
        # The API server's TLS as the API client has it; a direct https page is verified as usual.
        self._ssl = ctx if isinstance(ctx, ssl.SSLContext) else True
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.concurrency,
                                         ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, connect=min(self.timeout_s, 10.0))
        return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True,
                                     headers={"User-Agent": USER_AGENT}, trust_env=False)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._make()
        return self._session

    async def aclose(self) -> None:
        for old in self._retired:
            await old.close()
        self._retired.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "Scraper":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- GETs
    async def get(self, url: str, *, accept: str = "text/plain") -> bytes:
        """A page at a URL as it is (a pod IP): no credentials sent. Raises ScrapeError."""
        async with self._sem:
            return await self._get(url, {"Accept": accept}, True, None)

    async def get_proxy(self, namespace: str, pod: str, port: int, path: str = "metrics", *,
                        accept: str = "text/plain") -> bytes:
        """A pod's page through the API server's pod proxy, with the API client's credentials.

        Raises ApiError with the server's Status (403, 404, 503 when the pod does not answer ...), or
        ScrapeError when no answer came (unreachable, or not within `timeout_s`)."""
        if self.creds is None:
            raise ScrapeError(0, "no credentials to reach the API server with")
        rel = proxy_path(namespace, pod, port, path)
        reauthed = False
        async with self._sem:
            while True:
                if self.stats is not None:
                    self.stats.record()
                try:
                    return await self._get(self.creds.server.rstrip("/") + rel,
                                           {"Accept": accept, **self.creds.headers()}, None,
                                           self.creds.tls_server_name)
                except ScrapeError as e:
                    if e.status == 401 and not reauthed and self._reload is not None:
                        reauthed = True
                        await self._reauth()
                        continue
                    if e.status == 0:
                        raise
                    raise ApiError.from_status(e.status, e.body, method="GET", path=rel) from None

    async def _reauth(self) -> None:
        """New credentials and a new pool; the old pool is closed with the scraper (pages in flight on it
        finish)."""
        assert self._reload is not None
        self.creds = await asyncio.to_thread(self._reload)
        if self._session is not None:
            self._retired.append(self._session)
            self._session = None

    async def _get(self, url: str, headers: dict[str, str], ssl_: ssl.SSLContext | bool | None,
                   server_hostname: str | None) -> bytes:
        self.requests += 1
        http = self._http()
        kw: dict[str, Any] = {}
        if url.startswith("https"):
            kw["ssl"] = self._ssl if ssl_ is None else ssl_
            if server_hostname:
                kw["server_hostname"] = server_hostname
        try:
            async with http.get(url, headers=headers, allow_redirects=False, **kw) as resp:
                body = await self._read(resp)
                if resp.status >= 400:
                    raise ScrapeError(resp.status, f"HTTP {resp.status}", _status_body(body))
                return body
        except asyncio.TimeoutError:
            raise ScrapeError(0, f"no answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientConnectorError as e:
            raise ScrapeError(0, _connect_text(e)) from None
        except aiohttp.ClientError as e:
            raise ScrapeError(0, f"{type(e).__name__}: {e}".rstrip(": ")) from None
        except OSError as e:
            raise ScrapeError(0, f"{type(e).__name__}: {e}".rstrip(": ")) from None


    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, or ScrapeError as soon as it is known to be over `max_bytes` (announced or read)."""
        cap = self.max_bytes
        if cap is None:
            return await resp.read()
        size = resp.content_length
        if size is not None and size > cap:
            raise ScrapeError(0, f"page of {_mib(size)} is over the {_mib(cap)} cap")
        if size is not None:
            body = await resp.read()
        else:   # no length announced: read up to the cap and stop there
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                buf += chunk
                if len(buf) > cap:
                    break
            body = bytes(buf)
        if len(body) > cap:
            raise ScrapeError(0, f"page over the {_mib(cap)} cap")
        return body


def _mib(n: int) -> str:
    return f"{n / 1048576:.3g} MiB" if n >= 1048576 else f"{n / 1024:.3g} KiB"


def _connect_text(e: aiohttp.ClientConnectorError) -> str:
    err = e.os_error
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return f"cannot connect: {err.strerror or err}" if err is not None else "cannot connect"


def _status_body(raw: bytes) -> Any:
    """An API server's error body: its Status object when it sent one, else the text."""
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
