"""List-then-watch loops that keep a sink equal to what the API server holds, through any fault.

One informer per resource (or per resource and namespace for users who may read only some namespaces).
It lists once, then watches from the list's resourceVersion with bookmarks; a watch that ends or breaks is
resumed from the last resourceVersion seen; a 410 Gone re-lists and replaces the sink's contents, so
nothing is lost or duplicated. A 403 marks the resource forbidden and stops: it is never retried in a loop.
Every list reports its pages to a `SyncBoard` (progress.py): items so far, the server's remaining count, and
when the sink holds the whole list, so no figure is shown before the lists it is computed from are complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

from . import progress as pg
from .client import KubeClient, Res
from .errors import ApiError
from .progress import SyncBoard

log = logging.getLogger("gpuconsole.kube.informer")

Obj = dict[str, Any]

# Items per list page: small enough that one page of pods stays a few MB in memory, large enough that
# a 60,000-pod list takes tens of requests, not hundreds.
PAGE_SIZE = 1000


class Sink(Protocol):
    """What informers feed: the console's cluster store (or a test double)."""

    def replace(self, kind: str, objs: list[Obj], namespace: str | None = None) -> None: ...

    def apply(self, kind: str, event_type: str, obj: Obj) -> None: ...

    # Optional: `begin_replace(kind, namespace)` returning an object with `add(page_items)` and `commit()`,
    # for re-lists taken in page by page.


@dataclass(frozen=True, slots=True)
class Health:
    """Per-resource state the header and panes show.

    Immutable: the informer publishes a new one for each change (`Informer.health` is swapped by
    reference), so the UI, on another thread, always reads one consistent state.
    """

    kind: str
    namespace: str | None = None
    synced: bool = False
    connected: bool = False
    forbidden: bool = False
    absent: bool = False  # the API is not served by this cluster
    last_event: float = 0.0  # monotonic time of the last event or bookmark
    last_error: str = ""
    relists: int = 0
    resumes: int = 0
    listing: bool = False  # a list is under way (the first, or again after a 410 or a failure)
    resource_version: str = ""
    waiting_since: float = 0.0  # monotonic time a watch was asked for and not yet accepted; 0 = none
    grace: float = 2.0  # a watch not accepted within this long counts as reconnecting

    @property
    def watch_stalled(self) -> bool:
        return bool(self.waiting_since) and time.monotonic() - self.waiting_since > self.grace

    @property
    def state(self) -> str:
        if self.absent:
            return "absent"
        if self.forbidden:
            return "forbidden"
        if not self.synced:
            return "syncing"
        if self.listing:
            return "relisting"
        # Between a list and its watch, or a watch and its resumption, the resource stays "synced"
        # unless the server takes longer than the grace to accept: no false alarm on every rotation.
        return "synced" if self.connected and not self.watch_stalled else "reconnecting"

    def age(self, now: float | None = None) -> float | None:
        if not self.last_event:
            return None
        return (now or time.monotonic()) - self.last_event


class Informer:
    def __init__(self, client: KubeClient, res: Res, sink: Sink, *, namespace: str | None = None,
                 kind: str | None = None, label_selector: str | None = None, page_size: int = PAGE_SIZE,
                 watch_timeout: tuple[int, int] = (240, 360), backoff_max: float = 30.0,
                 stall_grace: float = 2.0, rng: random.Random | None = None,
                 board: SyncBoard | None = None) -> None:
        self.client = client
        self.res = res
        self.sink = sink
        self.namespace = namespace
        self.kind = kind or res.key
        self.label_selector = label_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_max = backoff_max
        self.health = Health(self.kind, namespace, grace=stall_grace)  # replaced whole, never mutated
        self.resource_version = ""   # the newest seen, rebound on every event (Health has it 0.1 s late)
        self.synced = asyncio.Event()
        self.board = board if board is not None else SyncBoard()
        self.board.report(pg.ListProgress(self.kind, namespace))
        self._last_count: int | None = None  # items in the last complete list: the next one's expected size
        self._rng = rng or random.Random()
        self._task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"informer:{self.kind}")
        return self._task

    async def stop(self) -> None:
        if self._task and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def _progress(self, **changes: object) -> None:
        self.board.update(self.kind, self.namespace, **changes)

    async def _relist(self) -> str:
        """List page by page (reporting each page to the board), then hand the whole list to the sink."""
        self._set(listing=True)
        self._progress(phase=pg.LISTING, listed=0, started=self.board.clock(), error="",
                       total=self._last_count, total_exact=False)
        begin = getattr(self.sink, "begin_replace", None)
        # A sink that takes pages (the cluster store) projects each one as it arrives, so a 60,000-pod list
        # never sits in memory whole; any other gets the whole list at the end.
        relist = begin(self.kind, self.namespace) if begin is not None else None
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        listed = 0
        while True:
            page = await self.client.list_page(self.res, self.namespace, label_selector=self.label_selector,
                                               limit=self.page_size, continue_token=token)
            md = page.get("metadata") or {}
            rv = md.get("resourceVersion") or rv
            token = md.get("continue") or None
            batch = page.get("items") or []
            del page
            listed += len(batch)
            if relist is not None:
                relist.add(batch)
            else:
                items.extend(batch)
            if not token:
                break
            remaining = md.get("remainingItemCount")
            if isinstance(remaining, int) and not isinstance(remaining, bool) and remaining >= 0:
                self._progress(listed=listed, total=listed + remaining, total_exact=True)
            else:  # no count from this server (or a selector): the previous list's size, if any
                self._progress(listed=listed, total=max(self._last_count, listed) if self._last_count else None,
                               total_exact=False)
        self._progress(phase=pg.APPLYING, listed=listed, total=listed, total_exact=True)
        if relist is not None:
            relist.commit()
        else:
            self.sink.replace(self.kind, items, self.namespace)
        del items
        self._last_count = listed
        self.resource_version = rv
        self._set(listing=False, relists=self.health.relists + 1, synced=True, connected=True,
                  last_event=time.monotonic(), resource_version=rv)
        self._progress(phase=pg.WATCHING, complete_once=True, error="")
        self.synced.set()
        return rv

    async def run(self) -> None:
        rv: str | None = None
        failures = 0
        while True:
            try:
                if rv is None:
                    rv = await self._relist()
                lo, hi = self.watch_timeout
                self._set(waiting_since=time.monotonic())  # until the server accepts it (`_opened`)
                last_published = 0.0
                async for etype, obj in self.client.watch(
                        self.res, self.namespace, resource_version=rv, label_selector=self.label_selector,
                        timeout_seconds=self._rng.randint(lo, hi), bookmarks=True, on_open=self._opened):
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if etype != "BOOKMARK":
                        self.sink.apply(self.kind, etype, obj)
                    if new_rv:
                        rv = self.resource_version = new_rv
                    now = time.monotonic()
                    # A new Health per event would be garbage at 1,000 events a second; the header shows
                    # the age of the last event in seconds, so once every 0.1 s is as good.
                    if now - last_published >= 0.1 or not self.health.connected:
                        self._set(connected=True, last_event=now, resource_version=rv or "")
                        last_published = now
                    failures = 0
                # The server ended the watch (timeout or drop): resume where we were. If the server does
                # not accept the new watch within the grace, the resource shows as reconnecting.
                self._set(resumes=self.health.resumes + 1, resource_version=rv or "",
                          last_event=max(self.health.last_event, last_published))
            except asyncio.CancelledError:
                self._set(connected=False)
                raise
            except ApiError as e:
                if e.code == 410:
                    self._set(last_error=str(e))
                    rv = None  # history is gone: list again and replace
                    continue
                if e.code == 403:
                    log.warning("%s: forbidden for this user: %s", self.kind, e)
                    self._set(last_error=str(e), forbidden=True, connected=False, listing=False)
                    self._progress(phase=pg.FORBIDDEN, error="")
                    self.synced.set()
                    return
                if e.code == 404 and not self.health.synced:
                    self._set(last_error=str(e), absent=True, listing=False)
                    self._progress(phase=pg.ABSENT, error="")
                    self.synced.set()
                    return
                self._set(last_error=str(e), connected=False)
                if self.health.listing:
                    self._progress(error=_short(str(e)))
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:  # said once, not at every backoff step
                    log.warning("%s: %s (retry %d)", self.kind, e, failures)
                await asyncio.sleep(self._delay(failures, e.retry_after))
            except Exception as e:  # a sink bug must not kill the loop silently
                log.error("%s: applying the watch failed", self.kind, exc_info=e)
                self._set(connected=False, last_error=f"{type(e).__name__}: {e}")
                if self.health.listing:
                    self._progress(error=_short(self.health.last_error))
                failures += 1
                rv = None
                await asyncio.sleep(self._delay(failures, None))

    def _set(self, **changes: Any) -> None:
        """Publish a new Health: the UI thread reads `self.health` without a lock."""
        self.health = dataclasses.replace(self.health, **changes)

    def _opened(self) -> None:
        self._set(connected=True, waiting_since=0.0)

    def _delay(self, failures: int, hint: float | None) -> float:
        if hint:
            return hint + self._rng.uniform(0, 0.2)
        cap = min(self.backoff_max, 0.2 * (2 ** min(failures, 10)))
        return self._rng.uniform(cap / 2, cap)


def _short(text: str) -> str:
    return " ".join(text.split())[:80]
