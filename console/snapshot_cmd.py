"""`gpuconsole snapshot`: connect, sync once, print the views, exit (or, with `--watch`, keep printing).

Uses exactly the console's path: credentials, discovery, access plan, informers, the cluster model. With
`--watch` the informers stay open between prints (one list, then watches), as the console keeps them.
On a terminal, stderr shows the same sync progress line as the console while the lists come in (and
nothing once they are complete); stdout carries the result only.
`--view local` prints this machine's GPUs and processes through NVML instead (like `nvitop -1`, with
each process's pod): NVML first, so with no NVML it says why and exits 1 without touching a cluster;
then, if a cluster answers, one sync to name the processes' pods, else the processes stay unmapped
with a note saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from console.kube import client as k
from console.kube import config
from console.kube.client import KubeClient, Res
from console.kube.connection import Connection
from console.kube.errors import ApiError
from console.kube.redact import redact
from console.kube.informer import PAGE_SIZE
from console.kube.progress import SyncBoard, SyncSnapshot, progress_text
from console.kube.selectors import SelectorError, parse_label_selector
from console.model.cluster_store import ClusterStore, canonical_kind
from console.model.scope import Scope, pod_filter
from console.model.local_source import LocalSource, fake_mode
from console.model.local_view import build as build_local
from console.model.snapshot import build
from console.model.serving_view import ServingSnapshot, ServingView, scrape_targets
from console.model.serving_view import snapshot_fields as serving_fields
from console.model.telemetry_view import StoreGroupIndex, TelemetryView, snapshot_fields, uid_index
from console.snapshot_format import render, render_watch_frame
from console.telemetry.dcgm import DcgmExporterSampler
from console.telemetry.kai_metrics import KaiMetricsReader
from console.telemetry.sampler import Snapshot
from console.telemetry.serving_scrape import PROXY_RPS, PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker
from console.version import version

log = logging.getLogger("gpuconsole.snapshot")


class ScopeError(Exception):
    """The namespace or project asked for does not exist in the cluster (exit 1: refused)."""


def _models(res: Res) -> bool:
    return canonical_kind(res.key) is not None


class ProgressLine:
    """The sync progress on a terminal line, redrawn in place as pages arrive (at most every
    `min_interval` seconds), cut to the terminal's width, and wiped when the sync ends."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic,
                 min_interval: float = 0.1, width: int | None = None) -> None:
        self.stream = stream
        self.clock = clock
        self.min_interval = min_interval
        self.width = width
        self._last = float("-inf")
        self._shown = ""

    def __call__(self, snap: SyncSnapshot) -> None:
        now = self.clock()
        if now - self._last < self.min_interval and snap.busy:
            return
        self._last = now
        width = self.width or _columns(self.stream)
        text = progress_text(snap, now)[:max(1, width - 1)]
        if text != self._shown:
            self._write(text)

    def _write(self, text: str) -> None:
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = text

    def close(self) -> None:
        if self._shown:
            self._write("")


def _columns(stream: TextIO) -> int:
    """The width of the terminal `stream` writes to (its own, not stdout's: stdout may be a pipe)."""
    try:
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        cols = 0
    return cols or shutil.get_terminal_size((100, 24)).columns


SERVING_INTERVAL_S = 5.0
# A one-shot scrapes inference pods twice; a fleet whose round through the pod proxy's page budget would take
# longer than this is left out (and said so in `hidden`), rather than holding the command for minutes.
SERVING_MAX_ROUND_S = 20.0


class LiveSnapshot:
    """One connection held open: `async with LiveSnapshot(...) as s:` syncs the model, then `await s.take()`
    builds a snapshot from it as often as asked, the informers keeping it current in between.

    Serving rates need two scrapes of the inference pods: with `serving_interval` > 0 the first `take()`
    scrapes them twice that many seconds apart (`wait` is how the time passes), and each later one (under
    `--watch`) once more, rates then running from one print to the next."""

    def __init__(self, kubeconfig: str | None, context: str | None, view: str = "all",
                 timeout: float = 120.0, progress: ProgressLine | None = None, page_size: int = PAGE_SIZE,
                 serving_interval: float = 0.0, wait: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.kubeconfig, self.context, self.view, self.timeout = kubeconfig, context, view, timeout
        self.progress, self.page_size = progress, page_size
        self.store = ClusterStore()
        self.board = SyncBoard()
        self.creds: config.Credentials | None = None
        self.client: KubeClient | None = None
        self.conn: Connection | None = None
        self.synced = False
        self._sampler: DcgmExporterSampler | None = None
        self._telemetry = TelemetryView()
        self._no_exporters = False
        self.serving_interval, self.wait = serving_interval, wait
        self.serving_left_out: str | None = None   # why a fleet too big for a one-shot was not scraped
        self.serving_max_round_s = SERVING_MAX_ROUND_S
        self._serving: tuple[ServingScraper, ServingTracker, ServingView] | None = None
        self._serving_t0 = time.monotonic()

    async def __aenter__(self) -> "LiveSnapshot":
        self.creds = await asyncio.to_thread(config.load, self.kubeconfig, self.context)
        # Few retries: a one-shot command should say quickly that the cluster is unreachable.
        self.client = KubeClient(self.creds, max_retries=2)
        if self.progress is not None:
            self.board.listeners.append(self.progress)
        try:
            self.conn = Connection(self.client, self.store, accept=_models, default_namespace=self.creds.namespace,
                                   board=self.board, page_size=self.page_size)
            await self.conn.open()
            self.synced = await self.conn.wait_synced(self.timeout)
        except BaseException:
            await self.__aexit__()
            raise
        finally:
            self._end_progress()
        return self

    def _end_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            self.board.listeners.remove(progress)
            progress.close()

    async def __aexit__(self, *exc: object) -> None:
        if self._sampler is not None:
            await self._sampler.close()
        if self._serving is not None:
            await self._serving[0].close()
        if self.conn is not None:
            await self.conn.close()
        if self.client is not None:
            await self.client.aclose()

    async def check(self, scope: Scope) -> None:
        """Refuse a namespace or project the cluster does not have (ScopeError says which, and what there is)."""
        assert self.client is not None
        if scope.namespace:
            try:
                await self.client.get(k.NAMESPACES, scope.namespace)
            except ApiError as e:
                if e.code == 404:
                    raise ScopeError(f"namespace {scope.namespace!r} not found") from None
                if e.code != 403:
                    raise
                log.info("cannot read namespace %s to check that it exists (%s); going on", scope.namespace, e)
        if scope.project:
            self.store.refresh()
            known = sorted(self.store.projects.rows)
            if scope.project not in known:
                raise ScopeError(f"project {scope.project!r} not found (projects: {', '.join(known) or 'none'})")

    async def take(self, scope: Scope | None = None) -> dict[str, Any]:
        """A snapshot dict of the live model, with cluster facts, telemetry and what stays hidden."""
        assert self.client is not None and self.conn is not None and self.creds is not None
        view, conn = self.view, self.conn
        if view in ("all", "projects") and self.store.kai_mode:  # KAI's own fair shares, where its metrics answer
            self.store.set_kai_fair_share(await KaiMetricsReader(self.client, min_interval_s=0).read())
        telemetry, telemetry_state = {}, None
        if view in ("all", "gpus"):  # a dcgm-exporter scrape, when the cluster runs exporter pods
            telemetry, telemetry_state = await self._scrape()
        serving = None
        if view in ("all", "workloads") and self.serving_interval > 0:
            serving = await self._serve(telemetry, scope or Scope())
        snap = build(self.store, view, scope=scope)
        add_to_snapshot(snap, telemetry, telemetry_state)
        if serving is not None:
            for w in snap.get("workloads") or []:
                w["serving"] = serving_fields(serving.workloads.get((w.get("namespace"), w.get("kind"),
                                                                     w.get("name"))))
            if serving.state:
                snap["serving"] = serving.state
        snap["version"] = version()
        snap["cluster"] = {"context": self.creds.context, "cluster": self.creds.cluster, "user": self.creds.user,
                           "server": redact(self.creds.server), "tls": self.creds.tls,
                           "server_version": conn.surface.server_version, "kai": conn.surface.has_kai}
        hidden = list(conn.plan.hidden)
        if self.serving_left_out:
            hidden.append(self.serving_left_out)
        for h in conn.health:
            if h.state in ("forbidden", "absent"):
                hidden.append(f"{h.kind}: {h.state}")
        if not self.synced:
            self.synced = all(h.synced for h in conn.health)
        if not self.synced:
            hidden.append("not every resource finished syncing within "
                          f"{self.timeout:g} s: " + ", ".join(h.kind for h in conn.health if not h.synced))
        snap["hidden"] = hidden
        return snap

    async def _serve(self, telemetry: dict, scope: Scope) -> ServingSnapshot | None:
        """Every inference pod in the scope scraped (twice, `serving_interval` apart, the first time); None
        without any."""
        assert self.client is not None
        self.store.refresh()
        keep = pod_filter(self.store, scope)
        targets = scrape_targets(self.store, keep)
        if not targets:
            return None
        interval = self.serving_interval
        if self._serving is None:
            scraper = ServingScraper(PageFetcher.for_client(self.client, timeout_s=3.0))
            await scraper.prepare(targets)
            paced = scraper.paced_s(targets, PROXY_RPS)
            if paced > self.serving_max_round_s:
                await scraper.close()
                self.serving_left_out = (
                    f"serving figures: {len(targets)} inference pods take {paced:.0f} s a scrape through the API "
                    f"server's pod proxy at {PROXY_RPS:g} pages/s, and rates need two; left out of a snapshot "
                    f"(the console scrapes them continuously; -n, -l or --project narrow the fleet)")
                return None
            tracker = ServingTracker(window_s=max(60.0, 2 * interval), stale_after_s=3 * interval + 30)
            self._serving = (scraper, tracker, ServingView())
            results = await scraper.scrape(targets, proxy_rps=PROXY_RPS)
            tracker.ingest(0.0, results, ended=scraper.clock())
            self._serving_t0 = time.monotonic()
            await self.wait(interval)
            self.store.refresh()
            targets = scrape_targets(self.store, pod_filter(self.store, scope))
        scraper, tracker, view = self._serving
        # the time between scrapes: at least the interval asked for (a test's `wait` moves a simulated clock)
        now = max((tracker.taken_at or 0.0) + interval, time.monotonic() - self._serving_t0)
        results = await scraper.scrape(targets, proxy_rps=PROXY_RPS)
        tracker.ingest(now, results, ended=scraper.clock())
        ok = sum(1 for r in tracker.last.values() if r.reading is not None)
        state = f"serving {ok}/{len(tracker.last)} pods answered, scrapes {interval:g} s apart"
        return view.build(self.store, tracker, now, telemetry.get, state=state)

    async def _scrape(self) -> tuple[dict, str | None]:
        """One dcgm-exporter scrape joined to the model; ({}, None) when the cluster runs no exporter pods.

        The sampler and the telemetry view live as long as the connection, so under `--watch` a GPU's idle
        time grows from print to print; a single scrape can only say "idle now" (`idle_for_s` 0).
        """
        assert self.client is not None
        if self._no_exporters:
            return {}, None
        if self._sampler is None:
            self._sampler = DcgmExporterSampler(self.client, groups=StoreGroupIndex(self.store), timeout_s=5.0)
        snap = await self._sampler.sample()
        if not self._sampler.targets and snap.error and "no running exporter pods" in snap.error:
            self._no_exporters = True
            return {}, None
        self.store.refresh()
        self._telemetry.ingest(snap, self.store.gpus.rows, uid_index(self.store))
        return self._telemetry.rows, self._telemetry.state


async def take(kubeconfig: str | None, context: str | None, view: str = "all",
               timeout: float = 120.0, progress: ProgressLine | None = None,
               page_size: int = PAGE_SIZE, scope: Scope | None = None, serving_interval: float = 0.0,
               wait: Callable[[float], Awaitable[None]] = asyncio.sleep) -> dict[str, Any]:
    """One full sync of the cluster model, as a snapshot dict with cluster facts and hidden parts (serving
    figures from two scrapes `serving_interval` seconds apart when it is above 0; the CLI asks for 5 s)."""
    async with LiveSnapshot(kubeconfig, context, view, timeout, progress, page_size, serving_interval,
                            wait) as live:
        if scope:
            await live.check(scope)
        return await live.take(scope)


async def scrape_once(client: KubeClient, store: ClusterStore, timeout_s: float = 5.0) -> tuple[dict, str | None]:
    """One dcgm-exporter scrape joined to the synced model: (GpuTelemetry by GPU row key, state line).

    ({}, None) when the cluster runs no exporter pods. A single scrape cannot know how long a GPU has
    been idle, so `idle_for_s` is 0 for an allocated GPU under the idle threshold right now and None
    otherwise.
    """
    sampler = DcgmExporterSampler(client, groups=StoreGroupIndex(store), timeout_s=timeout_s)
    try:
        snap = await sampler.sample()
    finally:
        await sampler.close()
    if not sampler.targets and snap.error and "no running exporter pods" in snap.error:
        return {}, None
    store.refresh()
    view = TelemetryView()
    view.ingest(snap, store.gpus.rows, uid_index(store))
    return view.rows, view.state


def add_to_snapshot(snap: dict[str, Any], telemetry: dict, state: str | None) -> None:
    """Add util_pct, mem_used_mib, temp_c, power_w, idle_for_s and health to each GPU of a snapshot dict,
    the device index and UUID where only the exporter names them (`device_reported` still says whether
    the API did), and order each node's GPUs by device index."""
    gpus = snap.get("gpus")
    if gpus is None:
        return
    for g in gpus:
        tel = telemetry.get((g.get("node"), g.get("slot")))
        g.update(snapshot_fields(tel))
        if g.get("index") is None and tel is not None:
            g["index"] = tel.index
        if g.get("uuid") is None and tel is not None:   # the exporter names the device the API does not
            g["uuid"] = tel.uuid
    gpus.sort(key=lambda g: (g.get("node") or "", g.get("index") is None, g.get("index") or 0, g.get("slot") or 0))
    if state is not None:
        snap["telemetry"] = state


async def sync_store(kubeconfig: str | None, context: str | None, timeout: float,
                     scrape: bool) -> tuple[ClusterStore, Snapshot | None]:
    """One sync of the model (and, when `scrape`, one dcgm-exporter scrape) for the local view's join."""
    creds = await asyncio.to_thread(config.load, kubeconfig, context)
    store = ClusterStore()
    async with KubeClient(creds, max_retries=2) as client:
        conn = Connection(client, store, accept=_models, default_namespace=creds.namespace)
        await conn.open()
        try:
            await conn.wait_synced(timeout)
        finally:
            await conn.close()
        store.refresh()
        dcgm = None
        if scrape:
            sampler = DcgmExporterSampler(client, groups=StoreGroupIndex(store), timeout_s=5.0)
            try:
                dcgm = await sampler.sample()
            finally:
                await sampler.close()
    return store, dcgm


async def take_local(kubeconfig: str | None, context: str | None, timeout: float = 30.0,
                     source: LocalSource | None = None) -> dict[str, Any]:
    """`{"local": …}` for this machine (see the module docstring); `local.available` False says why."""
    if source is None:
        try:
            source = LocalSource(fake_mode(), interval_s=0.0, xid_events=False)
        except ValueError as e:
            return {"local": {"available": False, "reason": f"NVML unavailable: {e}", "gpus": []}}
    try:
        snap = None
        if source.fake is None:                 # real NVML: is it there at all, before any cluster?
            snap = await source.sample()
            if snap.error:
                return {"local": build_local(snap, host=source.host, source=source.source).to_dict()}
        store: ClusterStore | None = None
        dcgm: Snapshot | None = None
        note = None
        try:
            store, dcgm = await sync_store(kubeconfig, context, timeout, scrape=source.fake is not None)
        except (config.ConfigError, ApiError, OSError) as e:
            note = f"no cluster ({' '.join(str(e).split())[:200]}): processes are not mapped to pods"
        if source.fake is not None:
            source.refresh(store, dcgm)
            snap = await source.sample()
        assert snap is not None
        view = build_local(snap, host=source.host, store=store, node=source.node, driver=source.driver,
                           source=source.source, note=note, dcgm=dcgm)
        return {"local": view.to_dict()}
    finally:
        await source.close()


def scope_of(args: argparse.Namespace) -> Scope:
    """The scope the flags ask for (`-A` wins over `-n`, as in kubectl); SelectorError for a bad `-l`."""
    ns = None if getattr(args, "all_namespaces", False) else getattr(args, "namespace", None)
    sel = parse_label_selector(getattr(args, "selector", None))
    return Scope(namespace=ns or None, selector=sel, project=getattr(args, "project", None) or None)


async def _watch(args: argparse.Namespace, scope: Scope, out: TextIO, progress: ProgressLine | None) -> None:
    async with LiveSnapshot(args.kubeconfig, args.context, args.view, args.timeout, progress,
                            getattr(args, "page_size", PAGE_SIZE),
                            getattr(args, "serving_interval", SERVING_INTERVAL_S)) as live:
        if scope:
            await live.check(scope)
        tty = out.isatty()
        first = True
        while True:
            snap = await live.take(scope)
            out.write(render_watch_frame(snap, args.output, args.view, tty=tty, first=first,
                                         interval_s=args.watch))
            out.flush()
            first = False
            await asyncio.sleep(args.watch)


def run(args: argparse.Namespace, stderr: TextIO | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = stderr or sys.stderr

    def fail(msg: str, code: int) -> int:
        print(f"gpuconsole snapshot: {msg}", file=err)
        log.warning("snapshot: %s", msg)
        return code

    try:
        scope = scope_of(args)
    except SelectorError as e:
        return fail(f"-l {args.selector!r}: {e}", 2)
    watch = getattr(args, "watch", None)
    if watch is not None and not watch > 0:
        return fail(f"--watch {watch:g}: the interval must be a number of seconds above 0", 2)
    if args.view == "local":
        if scope:
            return fail("-n, -l and --project narrow the cluster's views, not --view local", 2)
        try:
            return _run_local(args, out, err, fail)
        except KeyboardInterrupt:
            return 0
    progress = ProgressLine(err) if err.isatty() else None   # never into a file or a pipe
    try:
        if watch is not None:
            try:
                asyncio.run(_watch(args, scope, out, progress))
            except KeyboardInterrupt:
                return 0  # ctrl+c is how a watch ends, as with `watch` and `kubectl get -w`
            return 0
        snap = asyncio.run(take(args.kubeconfig, args.context, args.view, args.timeout, progress,
                                getattr(args, "page_size", PAGE_SIZE), scope,
                                getattr(args, "serving_interval", SERVING_INTERVAL_S)))
    except BrokenPipeError:  # the reader (`| head`) stopped reading: nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ScopeError as e:
        return fail(str(e), 1)
    except config.ConfigError as e:
        return fail(str(e), 1)
    except ApiError as e:
        return fail(str(e), 1)
    print(render(snap, args.output, args.view), file=out)
    return 0


def _run_local(args: argparse.Namespace, out: TextIO, err: TextIO, fail: Callable[[str, int], int]) -> int:
    """`--view local`: this machine's GPUs (NVML) with their pods, once or every `--watch` seconds."""
    first = True
    while True:
        snap = asyncio.run(take_local(args.kubeconfig, args.context, min(args.timeout, 30.0)))
        local = snap["local"]
        if not local.get("available"):
            return fail(local.get("reason") or "NVML unavailable", 1)
        snap["version"] = version()
        if args.watch is None:
            print(render(snap, args.output, "local"), file=out)
            return 0
        out.write(render_watch_frame(snap, args.output, "local", tty=out.isatty(), first=first,
                                     interval_s=args.watch))
        out.flush()
        first = False
        time.sleep(args.watch)
