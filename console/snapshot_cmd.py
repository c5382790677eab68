"""`gpuconsole snapshot`: connect, sync once, print the views, exit.

Uses exactly the console's path: credentials, discovery, access plan, informers, the cluster model.
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
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from console.kube import config
from console.kube.client import KubeClient, Res
from console.kube.connection import Connection
from console.kube.errors import ApiError
from console.kube.informer import PAGE_SIZE
from console.kube.progress import SyncBoard, SyncSnapshot, progress_text
from console.model.cluster_store import ClusterStore, canonical_kind
from console.model.local_source import LocalSource, fake_mode
from console.model.local_view import build as build_local
from console.model.serving_view import ServingView, scrape_targets
from console.model.serving_view import snapshot_fields as serving_fields
from console.model.snapshot import build
from console.model.telemetry_view import StoreGroupIndex, TelemetryView, snapshot_fields, uid_index
from console.snapshot_format import render
from console.telemetry.dcgm import DcgmExporterSampler
from console.telemetry.kai_metrics import KaiMetricsReader
from console.telemetry.sampler import Snapshot
from console.telemetry.serving_scrape import PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker

SERVING_INTERVAL_S = 5.0


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


async def take(kubeconfig: str | None, context: str | None, view: str = "all",
               timeout: float = 120.0, progress: ProgressLine | None = None,
               page_size: int = PAGE_SIZE, serving_interval: float = 0.0,
               wait: Callable[[float], Awaitable[None]] = asyncio.sleep) -> dict[str, Any]:
    """One full sync of the cluster model, as a snapshot dict with cluster facts and hidden parts.

    Serving rates need two scrapes: with `serving_interval` > 0 the inference pods are scraped twice that many
    seconds apart (`wait` is how the time passes); the CLI asks for 5 s unless told otherwise."""
    creds = await asyncio.to_thread(config.load, kubeconfig, context)
    store = ClusterStore()
    board = SyncBoard()
    if progress is not None:
        board.listeners.append(progress)
    # Few retries: a one-shot command should say quickly that the cluster is unreachable.
    async with KubeClient(creds, max_retries=2) as client:
        conn = Connection(client, store, accept=_models, default_namespace=creds.namespace, board=board,
                          page_size=page_size)
        try:
            await conn.open()
            synced = await conn.wait_synced(timeout)
        finally:
            await conn.close()
            if progress is not None:
                board.listeners.remove(progress)
                progress.close()
        telemetry, telemetry_state = {}, None
        if view in ("all", "projects") and store.kai_mode:  # KAI's own fair shares, where its metrics answer
            store.set_kai_fair_share(await KaiMetricsReader(client, min_interval_s=0).read())
        if view in ("all", "gpus"):  # one dcgm-exporter scrape, when the cluster runs exporter pods
            telemetry, telemetry_state = await scrape_once(client, store)
        serving = None
        if view in ("all", "workloads") and serving_interval > 0:
            serving = await serving_once(client, store, telemetry, serving_interval, wait)
    snap = build(store, view)
    add_to_snapshot(snap, telemetry, telemetry_state)
    if serving is not None:
        for w in snap.get("workloads") or []:
            w["serving"] = serving_fields(serving.workloads.get((w.get("namespace"), w.get("kind"), w.get("name"))))
        if serving.state:
            snap["serving"] = serving.state
    snap["cluster"] = {"context": creds.context, "cluster": creds.cluster, "user": creds.user,
                       "server": creds.server, "tls": creds.tls,
                       "server_version": conn.surface.server_version,
                       "kai": conn.surface.has_kai}
    hidden = list(conn.plan.hidden)
    for h in conn.health:
        if h.state in ("forbidden", "absent"):
            hidden.append(f"{h.kind}: {h.state}")
    if not synced:
        hidden.append("not every resource finished syncing within "
                      f"{timeout:g} s: " + ", ".join(h.kind for h in conn.health if not h.synced))
    snap["hidden"] = hidden
    return snap


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


async def serving_once(client: KubeClient, store: ClusterStore, telemetry: dict, interval: float,
                       wait: Callable[[float], Awaitable[None]] = asyncio.sleep, timeout_s: float = 3.0) -> Any:
    """Two scrapes of every inference pod `interval` seconds apart, as a ServingSnapshot (None: no inference)."""
    store.refresh()
    targets = scrape_targets(store)
    if not targets:
        return None
    tracker = ServingTracker(window_s=max(60.0, interval * 2), stale_after_s=interval * 3 + 30)
    scraper = ServingScraper(PageFetcher(client.creds, timeout_s=timeout_s, stats=client.stats))
    try:
        t0 = time.monotonic()
        tracker.ingest(0.0, await scraper.scrape(targets))
        await wait(interval)
        tracker.ingest(max(interval, time.monotonic() - t0), await scraper.scrape(targets))
    finally:
        await scraper.close()
    results = tracker.last
    ok = sum(1 for r in results.values() if r.reading is not None)
    state = f"serving {ok}/{len(results)} pods answered, two scrapes {interval:g} s apart"
    return ServingView().build(store, tracker, tracker.taken_at or interval, telemetry.get, state=state)


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


def run(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    if args.view == "local":
        snap = asyncio.run(take_local(args.kubeconfig, args.context, min(args.timeout, 30.0)))
        local = snap["local"]
        if not local.get("available"):
            print(f"gpuconsole snapshot: {local.get('reason') or 'NVML unavailable'}", file=err)
            return 1
        print(render(snap, args.output, "local"))
        return 0
    progress = ProgressLine(err) if err.isatty() else None   # never into a file or a pipe
    try:
        snap = asyncio.run(take(args.kubeconfig, args.context, args.view, args.timeout, progress,
                                getattr(args, "page_size", PAGE_SIZE),
                                getattr(args, "serving_interval", SERVING_INTERVAL_S)))
    except config.ConfigError as e:
        print(f"gpuconsole snapshot: {e}", file=err)
        return 1
    except ApiError as e:
        print(f"gpuconsole snapshot: {e}", file=err)
        return 1
    print(render(snap, args.output, args.view))
    return 0
