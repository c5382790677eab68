"""One cluster connection as the console holds it: credentials, client, informers, model, events.

The same path as `gpuconsole snapshot` (credentials → discovery → access plan → informers → model), kept
open. `StaticSession` holds a model filled in advance (no API), for snapshot tests and offline views.

Hand-over between the informers' thread and the UI
--------------------------------------------------
The informers (and the telemetry scrape, and action plans through `off_ui`) run on a loop in a thread of
their own. Every object that thread writes and the UI thread reads has one of three rules, and the UI
never waits for the informers (`tests/ui/test_thread_stress.py` runs both sides under churn):

1. **A lock the UI only tries.**
   - The cluster model's records and indexes (`ClusterStore.pods`, `owners`, `pods_by_*` ...) and the
     `EventBuffer`: `Session.lock` (an RLock). The informers' thread writes inside it (`_LockedSink`: one
     watch event, or one re-list's commit; pages are projected outside it). The UI walks them only while
     holding it, taken with `acquire(blocking=False)`: the flush (drain, pending markers, telemetry onto
     the panes), a pane's re-order (`Pane.catch_up`) and its title summary; on a miss it keeps what it
     shows and the next flush retries. Reading *one* record by key (`store.pods.get(k)`,
     `events.rows.get(k)`) needs no lock: a stored record is never changed in place, the informers
     replace it, so a reader gets the old one or the new one whole. A walk the UI needs outside a flush
     (describe's events, the pod for `l`) runs on the informers' loop with the lock (`Session.read`).
     The informers' thread, their only writer, reads them without it (the dcgm sampler's GPU groups).
     KAI's fair shares (`FairShareFeed`) enter the model the same way, inside the lock.
   - The client's request times (`Stats._times`, the header's API rate): the writer holds `Stats._lock`
     for one append; `Stats.rate_per_min` only tries it and returns its previous figure on a miss.
2. **An immutable snapshot swapped by reference.** Each informer's `Health` (frozen, replaced on each
   change) and newest `resource_version` (a str, rebound on every event); the client's counters (`Stats.requests`, `open_watches`: ints, rebound); GPU telemetry
   (`TelemetryFeed.view`: rows, idle counts, the exporter snapshot and a copy of the history buffers,
   built on the informers' thread and published whole once per tick); inference servers' figures (a frozen
   `ServingSnapshot` per round, built by `ServingFeed.tick` on the informers' thread with the model read
   under the lock, handed back through `off_ui` and swapped into `ctx.serving` on the UI thread; the
   rows it touches are redrawn by the next flush); this machine's GPUs (`LocalFeed.view`,
   an immutable `LocalView` per tick: console/ui/local_feed.py); list progress (`SyncBoard.snapshot`,
   a frozen `SyncSnapshot` per report: console/kube/progress.py); `ClusterInfo`, `conn`,
   `informer_client` and the access plan (set before `open()` returns, never after).
3. **A queue.** Work sent to the informers' loop (`off_ui`, `read`) returns its result through the future
   of `run_coroutine_threadsafe`.

One exception waits: `:ns` / `:project` (`ClusterConsole._apply_scope`) takes the lock for at most 0.5 s
and says so when it cannot; it should move to `Session.read`.

Not shared, so no rule: the derived views (`store.projects/gpus/workloads/nodes_view` rows and counts)
change only in `drain()`, on the UI thread and inside the lock, so the UI reads them freely and the
informers' thread reads them only inside the lock (the telemetry join); the drain's change sets, pending
and marked rows (`ConsoleActions`) and the panes' state never leave the UI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from console.kube import client as k
from console.kube import config
from console.kube.client import KubeClient, Res
from console.kube.connection import Connection
from console.kube.informer import PAGE_SIZE, Health
from console.kube.progress import COMPLETE, UNKNOWN, SyncBoard, SyncSnapshot
from console.model.cluster_store import ClusterStore, canonical_kind
from console.model.events import EventBuffer

# Versions to ask for when discovery did not name a preferred one.
DEFAULT_VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "scheduling.run.ai": "v2", "serving.knative.dev": "v1",
                    "run.ai": "v2alpha1", "jobset.x-k8s.io": "v1alpha2", "kubeflow.org": "v1",
                    "leaderworkerset.x-k8s.io": "v1"}
CLUSTER_SCOPED = {"nodes", "namespaces", "queues", "priorityclasses"}
T = TypeVar("T")
SWITCH_INTERVAL_S = 0.001


def _models(res: Res) -> bool:
    return canonical_kind(res.key) is not None


@dataclass
class ClusterInfo:
    context: str = ""
    cluster: str = ""
    user: str = ""
    server: str = ""
    tls: str = ""              # verified | unverified (insecure-skip-tls-verify) | plain (http); "" unknown
    server_version: str = ""
    kai: bool = False
    hidden: list[str] = field(default_factory=list)


class Session:
    """What the App reads: the model, the events buffer, health per resource, its own API load."""

    offline_note: str | None = None      # why a session without a live connection has none

    def __init__(self) -> None:
        self.store = ClusterStore()
        self.events = EventBuffer()
        self.info = ClusterInfo()
        self.client: KubeClient | None = None
        # The model's lock: the informers' thread writes inside it, the UI only tries it (module docstring).
        self.lock = threading.RLock()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        return True

    @property
    def health(self) -> list[Health]:
        return []

    @property
    def sync(self) -> SyncSnapshot:
        """Which lists are complete and how far the others are (an immutable value: read it once per frame)."""
        return UNKNOWN

    @property
    def live(self) -> bool:
        return self.client is not None

    @property
    def has_model(self) -> bool:
        """The model holds a cluster (live, or an offline snapshot): worth joining local GPUs with."""
        return self.live

    def api_rate(self) -> float:
        return self.client.stats.rate_per_min() if self.client else 0.0

    def open_watches(self) -> int:
        return self.client.stats.open_watches if self.client else 0

    def res(self, group: str, plural: str, kind: str) -> Res:
        return Res(group, DEFAULT_VERSIONS.get(group, "v1"), plural, plural not in CLUSTER_SCOPED, kind)

    async def fetch(self, group: str, plural: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        raise RuntimeError("not connected to a cluster")

    async def read(self, fn: Callable[[], T]) -> T:
        """`fn()` with the model locked, without making the UI wait for the lock (no thread here)."""
        with self.lock:
            return fn()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _LockedSink:
    """The informers' writes, each under the session lock, so the UI never walks a half-applied change.

    A re-list's pages are projected into records outside the lock (seconds of CPU on a large cluster,
    touching nothing the UI reads) and committed inside it.
    """

    def __init__(self, sink: Any, lock: threading.RLock) -> None:
        self.sink = sink
        self.lock = lock
        if hasattr(sink, "begin_replace"):
            self.begin_replace = self._begin_replace

    def apply(self, kind: str, event_type: str, obj: dict[str, Any]) -> Any:
        with self.lock:
            return self.sink.apply(kind, event_type, obj)

    def replace(self, kind: str, objs: list[dict[str, Any]], namespace: str | None = None) -> Any:
        with self.lock:
            return self.sink.replace(kind, objs, namespace)

    def _begin_replace(self, kind: str, namespace: str | None = None) -> "_LockedRelist":
        return _LockedRelist(self.sink.begin_replace(kind, namespace), self.lock)


class _LockedRelist:
    def __init__(self, relist: Any, lock: threading.RLock) -> None:
        self.relist = relist
        self.lock = lock

    def add(self, page: list[dict[str, Any]]) -> None:
        self.relist.add(page)          # projection only: the store is not touched until commit

    def commit(self) -> Any:
        with self.lock:
            return self.relist.commit()


class LiveSession(Session):
    """A kubeconfig context, connected with the console's informers.

    The informers, their parsing and the model updates run on an event loop in a thread of their own:
    the first sync of a large cluster is seconds of pure Python, and on the UI's loop it would freeze
    the screen. The UI keeps its own client for what it fetches on demand (describe, YAML, logs).
    """

    def __init__(self, kubeconfig: str | None, context: str | None, *, max_retries: int = 3,
                 page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.kubeconfig = kubeconfig
        self.context = context
        self.max_retries = max_retries
        self.page_size = page_size
        # Written on the informers' thread, read by the UI: see console/kube/progress.py for the hand-over.
        self.board = SyncBoard()
        self.conn: Connection | None = None
        self.events_conn: Connection | None = None
        self.informer_client: KubeClient | None = None
        self.info = ClusterInfo(context=context or "")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def health(self) -> list[Health]:
        out: list[Health] = []
        for c in (self.conn, self.events_conn):
            if c is not None:
                out.extend(c.health)
        return out

    @property
    def sync(self) -> SyncSnapshot:
        return self.board.snapshot

    def api_rate(self) -> float:
        return sum(c.stats.rate_per_min() for c in (self.client, self.informer_client) if c is not None)

    def open_watches(self) -> int:
        return sum(c.stats.open_watches for c in (self.client, self.informer_client) if c is not None)

    def res(self, group: str, plural: str, kind: str) -> Res:
        surface = self.conn.surface if self.conn else None
        version = DEFAULT_VERSIONS.get(group, "v1")
        if surface is not None and group in surface.groups and surface.groups[group]:
            version = surface.groups[group][0]
        return Res(group, version, plural, plural not in CLUSTER_SCOPED, kind)

    def _in_cluster_loop(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def read(self, fn: Callable[[], T]) -> T:
        """`fn()` on the informers' loop with the model locked: the UI awaits it instead of the lock."""
        if self._loop is None:
            return await super().read(fn)

        async def locked() -> T:
            with self.lock:
                return fn()

        return await self._in_cluster_loop(locked())

    def off_ui(self, coro: Any) -> Any:
        """Run a coroutine that uses `informer_client` on the informers' loop, awaitable from the UI.

        Action plans read and parse whole resource lists: on a large cluster that is seconds of CPU that
        must not run on the UI's loop.
        """
        return self._in_cluster_loop(coro)

    async def open(self) -> None:
        """Load credentials (in a thread: exec plugins block), discover, start informers.

        Raises ConfigError or ApiError; the caller shows them and retries.
        """
        creds = await asyncio.to_thread(config.load, self.kubeconfig, self.context)
        self.info = ClusterInfo(context=creds.context, cluster=creds.cluster, user=creds.user, server=creds.server,
                                tls=creds.tls)
        loop = asyncio.new_event_loop()
        self._loop = loop
        # The informers' thread and the UI share the GIL: while the informers are busy, a key handled on the
        # UI thread waits up to one switch interval each time it asks for it back: 1 ms, not Python's 5.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=loop.run_forever, name="gpuconsole-informers", daemon=True)
        self._thread.start()
        try:
            await self._in_cluster_loop(self._open_informers(creds))
        except BaseException:
            await self._stop_thread()
            raise
        self.client = KubeClient(creds, max_retries=self.max_retries)

    async def _open_informers(self, creds: config.Credentials) -> None:
        client = KubeClient(creds, max_retries=self.max_retries)
        try:
            conn = Connection(client, _LockedSink(self.store, self.lock), accept=_models,
                              default_namespace=creds.namespace, board=self.board, page_size=self.page_size)
            await conn.open()
            events = Connection(client, _LockedSink(self.events, self.lock), resources=(k.EVENTS,),
                                default_namespace=creds.namespace, board=self.board, page_size=self.page_size)
            await events.open()
        except BaseException:
            await client.aclose()
            raise
        self.informer_client, self.conn, self.events_conn = client, conn, events
        self.info.server_version = conn.surface.server_version
        self.info.kai = conn.surface.has_kai
        self.info.hidden = list(conn.plan.hidden) + list(events.plan.hidden)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Every informer has listed once (awaited on the informers' loop)."""
        if self._loop is None or self.conn is None or self.events_conn is None:
            return False
        conn, events = self.conn, self.events_conn

        async def both() -> bool:
            return await conn.wait_synced(timeout) and await events.wait_synced(timeout)

        return bool(await self._in_cluster_loop(both()))

    async def fetch(self, group: str, plural: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        if self.client is None:
            raise RuntimeError("not connected to a cluster")
        res = self.res(group, plural, kind)
        return await self.client.get(res, name, namespace if res.namespaced else None)

    async def _close_informers(self) -> None:
        for c in (self.events_conn, self.conn):
            if c is not None:
                await c.close()
        if self.informer_client is not None:
            await self.informer_client.aclose()

    async def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            await asyncio.to_thread(thread.join, 10)
        if not loop.is_running():
            loop.close()

    async def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._in_cluster_loop(self._close_informers()), 10)
            await self._stop_thread()
        if self.client is not None:
            await self.client.aclose()
        self.client = self.informer_client = self.conn = self.events_conn = None


class LocalOnlySession(Session):
    """`gpuconsole --local`: no cluster at all; only this machine's GPUs (the Local pane) have data."""

    offline_note = "no cluster: started with --local"

    def __init__(self) -> None:
        super().__init__()
        self.info = ClusterInfo(context="(none)", cluster="this machine", user="-")


class StaticSession(Session):
    """A model filled by the caller (objects by resource key); nothing is fetched."""

    has_model = True  # type: ignore[assignment]

    def __init__(self, objects: dict[str, list[dict[str, Any]]], info: ClusterInfo | None = None) -> None:
        super().__init__()
        self.info = info or ClusterInfo(context="offline", cluster="offline", user="-")
        self.objects = objects
        for key, items in objects.items():
            if key == "events":
                self.events.replace(key, items)
            elif canonical_kind(key) is not None:
                self.store.replace(key, items)

    @property
    def sync(self) -> SyncSnapshot:
        return COMPLETE

    async def fetch(self, group: str, plural: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        key = f"{plural}.{group}" if group else plural
        for o in self.objects.get(key, []):
            md = o.get("metadata") or {}
            if md.get("name") == name and (namespace is None or md.get("namespace") in (None, namespace)):
                return o
        raise RuntimeError(f"{kind} {name} is not in this offline snapshot")
