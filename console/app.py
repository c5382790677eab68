"""The Textual console: header, six live panes, k9s-style keys, and the workers that hold the cluster.

The cluster connection belongs to the App (a pane's workers would die with it). A timer drains the
model 2–4 times a second and applies keyed changes to the panes inside one `batch_update()`. Every
failure (no kubeconfig, unreachable server, dropped watch, forbidden resource) becomes a state in the
header and the pane, with retry; none reaches the screen as a traceback.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import ContentSwitcher
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

import themes
from console.config import Config
from console.kube.progress import UNKNOWN as NOT_CONNECTED, SyncSnapshot, progress_segments
from console.model.cluster_store import KNOWN_KINDS
from console.model.serving_view import EMPTY as EMPTY_SERVING, ServingSnapshot
from console.ui.actions import ConsoleActions
from console.kube.redact import redact
from console.model.scope import namespaces as scope_namespaces
from console.ui.commands import Command, CommandError, ConsoleCommands, completions, parse_command
from console.ui.scope import scope_terms
from console.ui.terminal import AsciiOnly, safe_filters
from console.ui import heap
from console.ui.host import PaletteEntry
from console.ui.local_feed import LocalFeed, SourceFactory, default_source
from console.ui.pane_widget import Pane
from console.ui.panes import PANES, Drill, PaneContext
from console.ui.session import Session
from console.ui.fair_share_feed import FairShareFeed, ReaderFactory, kai_reader
from console.ui.serving_feed import ScraperFactory, ServingFeed, serving_scraper
from console.ui.telemetry_feed import SamplerFactory, TelemetryFeed, TickResult, dcgm_sampler
from console.telemetry.idle import IdlePolicy
from widgets.header import UNKNOWN, ClusterHeader, HeaderData, ResourceState, SyncProgress
from widgets.keyhints import KeyHints
from widgets.palette import Palette

# The cyclic GC once the model is frozen: young and middle generations as Python sets them; full collections
# never on their own (the third threshold is out of reach) but from `_gc_when_idle`: once a minute when no
# key has come for 2 s, and every 10 minutes however busy the keyboard is.
GC_THRESHOLDS = (700, 10, 1_000_000_000)
GC_FULL_EVERY_S, GC_IDLE_S, GC_FULL_AT_MOST_S = 60.0, 2.0, 600.0
# A flush recomputes dirty rows for at most this long (a key waits for at most one flush), and when rows
# are left it runs again this soon rather than at the next tick.
DRAIN_BUDGET_S, FLUSH_AGAIN_S = 0.015, 0.1
# A backlog this large is a first sync or a re-list (the whole model to build): bigger steps, so the rows
# are all there within a few seconds; keys still come between them.
BIG_BACKLOG, BIG_BUDGET_S = 5_000, 0.1
MAX_BEHIND_S = 1.0   # rows left dirty longer than this: one drain without a budget (a change shows in ~1 s)
# No key for this long: a flush also orders one hidden pane whose rows came or went, so that switching to it
# finds its order ready (11,700 workload rows take ~90 ms to order: off the key's path).
IDLE_ORDER_S = 1.0
VIEW_ORDER = ("projects", "gpus", "workloads", "nodes", "events", "local", "inference")
log = logging.getLogger("gpuconsole.ui")
SessionFactory = Callable[[str | None], Session]


@dataclass
class NavEntry:
    view: str
    typed: str
    drill: Drill | None
    cursor: object


class ClusterConsole(App[None]):
    CSS_PATH = str(themes.CSS_PATH)
    TITLE = "gpuconsole"
    COMMANDS = App.COMMANDS | {ConsoleCommands}

    BINDINGS = [
        Binding("colon", "command", "Command", id="app.command"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", id="app.back"),
        Binding("enter", "drill", "Drill in", id="row.drill"),
        Binding("d", "describe", "Describe", id="row.describe"),
        Binding("y", "yaml", "YAML", id="row.yaml"),
        Binding("l", "logs", "Logs", id="row.logs"),
        Binding("e", "events", "Events", id="row.events", show=False),
        Binding("o", "sort_next", "Sort", id="table.sort"),
        Binding("O", "sort_reverse", "Reverse sort", id="table.reverse", show=False),
        Binding("1", "view('projects')", "Projects", id="view.projects", show=False),
        Binding("2", "view('gpus')", "GPUs", id="view.gpus", show=False),
        Binding("3", "view('workloads')", "Workloads", id="view.workloads", show=False),
        Binding("4", "view('nodes')", "Nodes", id="view.nodes", show=False),
        Binding("5", "view('events')", "Events view", id="view.events", show=False),
        Binding("6", "view('local')", "Local GPUs (this machine, NVML)", id="view.local", show=False),
        Binding("7", "view('inference')", "Inference: serving health against SLOs", id="view.inference", show=False),
        Binding("r", "retry", "Retry", id="app.retry", show=False),
        Binding("i", "idle_jump", "Idle GPU: its workload (else the next idle GPU)", id="gpu.idle"),
        Binding("t", "gpu_history", "History plots (a GPU; an inference workload's serving)", id="gpu.history"),
        Binding("n", "submit", "Submit a workload", id="action.submit"),
        Binding("s", "scale", "Scale (+/- in the dialog)", id="action.scale"),
        Binding("p", "preempt", "Preempt (evict its pods)", id="action.preempt"),
        Binding("ctrl+d", "delete", "Delete (marked rows, else this one)", id="action.delete"),
        Binding("space", "mark", "Mark row for bulk delete", id="row.mark", priority=True),
        Binding("tab", "complete", "Complete", id="prompt.complete", show=False, priority=True),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, factory: SessionFactory, *, context: str | None = None, config: Config | None = None,
                 readonly: bool = False, theme: str | None = None, now: Callable[[], float] = time.time,
                 contexts: Callable[[], list[str]] | None = None, retry_base: float = 2.0,
                 sampler_factory: SamplerFactory = dcgm_sampler, idle_policy: IdlePolicy | None = None,
                 telemetry_auto: bool = True, kai_reader_factory: ReaderFactory = kai_reader,
                 monotonic: Callable[[], float] = time.monotonic,
                 local_factory: SourceFactory = default_source, ascii_only: bool = False,
                 serving_factory: ScraperFactory = serving_scraper,
                 serving_clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._filters = safe_filters(self._filters)  # NO_COLOR: Textual's monochrome filter, unstyled text too
        if ascii_only:  # a terminal without UTF-8: Textual's own borders and scrollbars too, cell for cell
            self._filters.append(AsciiOnly())
        self.monotonic = monotonic              # the clock list progress is timed with (tests fix it)
        self.sampler_factory = sampler_factory
        self.kai_reader_factory = kai_reader_factory
        self.fs_feed: FairShareFeed | None = None
        self._fs_task: asyncio.Task[None] | None = None
        self.telemetry_auto = telemetry_auto   # False: ticks are driven by the caller (tests)
        self.feed: TelemetryFeed | None = None
        self._tel_pending: TickResult | None = None   # a tick's changes, for the next flush to apply
        self._serving_pending: tuple[set[Any], set[Any]] | None = None   # likewise a serving round's rows
        self._tel_task: asyncio.Task[None] | None = None
        self.serving_factory = serving_factory
        self.serving_clock = serving_clock      # what serving rates are timed with (tests use the simulator's)
        self.serving: ServingFeed | None = None
        self._serving_task: asyncio.Task[None] | None = None
        # This machine's GPUs: one feed for the App's life, whatever cluster (if any) is connected.
        self.local = LocalFeed(local_factory)
        self._local_task: asyncio.Task[None] | None = None
        for t in themes.THEMES:
            self.register_theme(t)
        self.config = config or Config()
        self.idle_policy = idle_policy or IdlePolicy(self.config.idle_threshold_pct, self.config.idle_minutes * 60)
        self.factory = factory
        self.context = context
        self.readonly_flag = readonly
        self.list_contexts = contexts or (lambda: [])
        self.retry_base = retry_base
        self.session: Session | None = None
        empty = Session()
        self.ctx = PaneContext(store=empty.store, events=empty.events, now=now, local=self.local)
        self.conn_state = "connecting"
        self.conn_message = ""
        self.view = self.config.default_view
        self.nav: list[NavEntry] = []
        self.prompt_mode = ""
        self._prompt_before = ""
        self._retry = asyncio.Event()
        self._gpu: dict[str, float | int | None] = {}
        self._context_names: list[str] = []
        self._namespace_names: list[str] = []
        self._project_names: list[str] = []
        self.scope_ns: str | None = None        # `:ns NAME`
        self.scope_project: str | None = None   # `:project NAME`
        self.flushes = 0
        self._again = False              # a follow-up flush is due (the last drain ran out of budget)
        self._behind_since: float | None = None   # since when drains have left rows dirty
        self._last_key = 0.0            # monotonic time of the last key (the idle full collection waits)
        self.idle_order_s = IDLE_ORDER_S
        self._idle_next = 0               # the hidden pane an idle flush looks at first
        self._gc_full_at: float | None = None   # the last full collection, once the model is frozen
        self.actions = ConsoleActions(self)
        chosen = theme or self.config.theme or themes.DEFAULT_THEME
        self.theme = chosen
        if self.config.keys:
            self.set_keymap(self.config.keys)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield ClusterHeader(id="header")
        yield SyncProgress(id="sync")
        yield Static("", id="tabs")
        with ContentSwitcher(initial=self.view, id="panes"):
            for name in VIEW_ORDER:
                yield Pane(PANES[name](self.ctx), id=name)
        yield Static("", id="prompt-hints")
        yield Input(id="prompt", placeholder="")
        yield Static("", id="crumbs")
        yield KeyHints(id="keys")

    @property
    def readonly(self) -> bool:
        return self.readonly_flag or self.config.readonly_for(self.session.info.context if self.session else
                                                              self.context)

    def pane(self, name: str | None = None) -> Pane:
        return self.query_one(f"#{name or self.view}", Pane)

    def on_mount(self) -> None:
        self.ctx.palette = Palette.from_variables(self.get_css_variables())
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        wl = self.pane("workloads").table
        wl.render_cells = self.actions.decorate(wl.render_cells)
        self._activate(self.view)
        self.set_interval(1 / max(0.5, self.config.refresh_hz), self.flush, name="flush")
        self.set_interval(GC_IDLE_S, self._gc_when_idle, name="gc")
        self.update_header()
        self.connect()
        self.load_contexts()
        if self.telemetry_auto:
            self._local_task = asyncio.create_task(self._local_run(), name="local-gpus")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)

    def _gc_when_idle(self) -> None:
        """The full collection automatic thresholds no longer make: when the keyboard rests (see GC_THRESHOLDS)."""
        last = self._gc_full_at
        if last is None or not gc.isenabled():
            return
        now = time.monotonic()
        due = now - last >= GC_FULL_EVERY_S and now - self._last_key >= GC_IDLE_S
        if due or now - last >= GC_FULL_AT_MOST_S:
            gc.collect()
            heap.trim()
            self._gc_full_at = time.monotonic()

    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False)
    def load_contexts(self) -> None:
        """Context names for `:ctx` completion; reading the kubeconfig blocks, so it runs in a thread."""
        try:
            self._context_names = list(self.list_contexts())
        except Exception:
            self._context_names = []

    def _theme_changed(self, _theme: object) -> None:
        self.ctx.palette = Palette.from_variables(self.get_css_variables())
        for name in VIEW_ORDER:
            self.pane(name).table.invalidate()
        self.update_header()

    # ------------------------------------------------------------------ cluster workers
    @work(exclusive=True, group="cluster", exit_on_error=False)
    async def connect(self) -> None:
        """Open a session; on failure show why and retry with backoff (or at once on `r`)."""
        attempt = 0
        while True:
            self.conn_state, self.conn_message = "connecting", f"to {self.context or 'the current context'}"
            self.update_header()
            session = self.factory(self.context)
            try:
                await session.open()
            except asyncio.CancelledError:
                await session.close()
                raise
            except Exception as e:  # ConfigError, ApiError, OSError, a bad kubeconfig: all a state, not a crash
                await session.close()
                attempt += 1
                delay = min(30.0, self.retry_base * (2 ** (attempt - 1)))
                # The whole cause the first time; one line for each retry after it.
                log.warning("cannot connect to %s (attempt %d, retry in %.0fs): %s",
                            self.context or "the current context", attempt, delay, _one_line(e),
                            exc_info=e if attempt == 1 else None)
                self.conn_state = "unreachable"
                self.conn_message = f"{_one_line(e)} — retry in {delay:.0f}s (r: now)"
                self._set_session(session, live=False)
                self.update_header()
                self._retry.clear()
                try:
                    await asyncio.wait_for(self._retry.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            self._set_session(session, live=True)
            self.conn_state, self.conn_message = ("connected", "") if session.live else \
                ("offline", getattr(session, "offline_note", None) or "snapshot")
            self.update_header()
            self.settle_heap(session)
            if self.feed is not None and self.telemetry_auto:
                self.telemetry_loop()
            if self.serving is not None and self.telemetry_auto:
                self.serving_loop()
            if self.fs_feed is not None and self.telemetry_auto:
                self.fair_share_loop()
            return

    @work(exclusive=True, group="heap", exit_on_error=False)
    async def settle_heap(self, session: Session) -> None:
        """No cyclic GC while the first sync builds the model, then freeze it out of later collections.

        The synced model is hundreds of thousands of long-lived objects: every full collection would rescan
        them (pauses of 100–400 ms on the large scenario, in whichever thread triggers it).
        """
        gc.disable()
        try:
            await session.wait_synced(600)
            self.flush()   # the views' rows, built by the first drain, are as long-lived as the records
        finally:
            gc.collect()
            gc.freeze()
            # Full collections rescan every object made since the freeze (records the watches replaced,
            # telemetry, rendered rows): 100-250 ms on the large scenario, many frames' worth. They run
            # when the keyboard rests instead (`_gc_when_idle`); young collections go on as usual.
            gc.set_threshold(*GC_THRESHOLDS)
            self._gc_full_at = time.monotonic()
            gc.enable()
            took = heap.trim()   # the sync's freed pages back to the system (console/ui/heap.py)
            if took is not None:
                log.debug("heap trimmed after the first sync in %.0f ms", took * 1000)

    def _set_session(self, session: Session, live: bool) -> None:
        old = self.session
        if old is session:
            return
        if live or old is None:
            self.session = session
            self.ctx.store = session.store
            self.ctx.events = session.events
            self.ctx.lock = session.lock
            self.ctx.sync = NOT_CONNECTED   # until the first drain of this session's model
            self._gpu = {}
            old_feed = self.feed
            # Telemetry needs the informers' loop to sample on: offline snapshots have none.
            self.feed = TelemetryFeed(session, self.sampler_factory, self.idle_policy) \
                if hasattr(session, "off_ui") and live else None
            self.ctx.telemetry = self.feed
            self.fs_feed = FairShareFeed(session, self.kai_reader_factory) \
                if hasattr(session, "off_ui") and live else None
            old_serving = self.serving
            self.serving = ServingFeed(session, self.serving_factory, window_s=self.config.serving_window_s,
                                       interval_s=self.config.serving_scrape_s, rules=self.config.slos,
                                       proxy_rps=self.config.serving_proxy_rps,
                                       gpu=self._gpu_telemetry, clock=self.serving_clock) \
                if hasattr(session, "off_ui") and live else None
            self.ctx.serving = EMPTY_SERVING
            self._tel_pending = self._serving_pending = None   # the last session's rows, never this one's
            if old_feed is not None:
                self.run_worker(_close_feed(old_feed), group="close", exit_on_error=False)
            if old_serving is not None:
                self.run_worker(_close_feed(old_serving), group="close", exit_on_error=False)
            for name in VIEW_ORDER:
                self.pane(name).rebuild()
        if old is not None and old is not session and live:
            self.run_worker(old.close(), group="close", exit_on_error=False)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one error handler: a failed worker becomes a message, never an exit."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.notify(f"{event.worker.name or event.worker.group}: {_one_line(err)}", severity="error",
                        timeout=8, cause=err)
            if event.worker.group == "cluster":
                self.conn_state, self.conn_message = "unreachable", f"{_one_line(err)} (r: retry)"
                self.update_header()

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True, cause: BaseException | None = None) -> None:
        """Textual's toast; a warning or an error is also written to the log, with its cause when one is known."""
        if severity in ("warning", "error"):
            log.log(logging.ERROR if severity == "error" else logging.WARNING, "%s%s", f"{title}: " if title else "",
                    message, exc_info=cause)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_retry(self) -> None:
        if self.conn_state == "unreachable":
            self._retry.set()
            if not any(w.group == "cluster" and w.is_running for w in self.workers):
                self.connect()
        else:
            self.notify("connected; informers reconnect on their own", timeout=3)

    # ------------------------------------------------------------------ GPU telemetry
    def telemetry_loop(self) -> None:
        """Start sampling for this session (replacing the last session's loop).

        A plain task rather than a Textual worker: it lives as long as the session, and workers are
        what dialogs and tests await to see that a piece of work has finished.
        """
        if self._tel_task is not None:
            self._tel_task.cancel()
        self._tel_task = asyncio.create_task(self._telemetry_run(), name="gpu-telemetry")

    async def _telemetry_run(self) -> None:
        """Sample at the exporters' cadence for as long as this session lasts; a failed tick is a state."""
        feed = self.feed
        while feed is not None and feed is self.feed:
            try:
                await self.telemetry_tick()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a sampler bug must not end sampling, nor the console
                self.notify(f"GPU telemetry: {_one_line(e)}", severity="error", timeout=5, cause=e)
            await asyncio.sleep(max(1.0, feed.interval_s))

    async def telemetry_tick(self) -> TickResult | None:
        """One sample on the informers' loop (scraping and joining stay off the UI), then onto the panes."""
        feed, s = self.feed, self.session
        if feed is None or s is None:
            return None
        res: TickResult = await s.off_ui(feed.tick())  # type: ignore[attr-defined]
        if feed is self.feed and res.fresh and self._mounted_panes():
            # Applied by the flush, which holds the model's lock (an expanded workload's pods are walked).
            self._tel_pending = res if self._tel_pending is None else self._tel_pending.merge(res)
            self.flush()
        return res

    def _apply_telemetry(self, feed: TelemetryFeed, res: TickResult) -> None:
        """Onto the panes: every GPU row (sparklines moved on), nodes' sums, idle counts. Lock held."""
        gpus = {("gpu", n, i) for n, i in feed.view.rows} | {("gpu", n, i) for n, i in res.gpus}
        nodes = {("node", k[1]) for k in gpus}
        self.pane("gpus").absorb(gpus | nodes, ())
        if res.workloads:
            want = res.workloads
            keys = [k for k in self.ctx.store.workloads.rows if (k[0], k[2]) in want]
            self.pane("workloads").absorb(keys, ())
        if res.projects:
            self.pane("projects").absorb(res.projects, ())

    # ------------------------------------------------------------------ serving health
    def _gpu_telemetry(self, key: tuple[str, int]) -> Any:
        """A GPU row's dcgm telemetry (read on the informers' loop, which writes it), or None."""
        feed = self.feed
        return feed.view.rows.get(key) if feed is not None else None

    def serving_loop(self) -> None:
        """Scrape inference pods for this session (replacing the last session's loop)."""
        if self._serving_task is not None:
            self._serving_task.cancel()
        self._serving_task = asyncio.create_task(self._serving_run(), name="serving-metrics")

    async def _serving_run(self) -> None:
        feed = self.serving
        while feed is not None and feed is self.serving:
            started = time.monotonic()
            try:
                await self.serving_tick()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a scrape bug must not end scraping, nor the console
                self.notify(f"serving metrics: {_one_line(e)}", severity="error", timeout=5)
            # the cadence counts from the round's start; a slow round is followed by a short pause only
            await asyncio.sleep(max(1.0, feed.interval_s - (time.monotonic() - started)))

    async def serving_tick(self) -> ServingSnapshot | None:
        """One round on the informers' loop; the new snapshot replaces the panes' reference here."""
        feed, s = self.serving, self.session
        if feed is None or s is None:
            return None
        snap: ServingSnapshot = await s.off_ui(feed.tick())  # type: ignore[attr-defined]
        if feed is self.serving and self._mounted_panes():
            self._apply_serving(snap)
        return snap

    def _apply_serving(self, snap: ServingSnapshot) -> None:
        """The new snapshot replaces the panes' reference here, on the UI thread (it is never changed after);
        the rows it touches are redrawn by the next flush, which holds the model's lock as the panes read it."""
        old, self.ctx.serving = self.ctx.serving, snap
        keys = set(snap.workloads) | set(old.workloads)
        projects = set(snap.breaches_by_project) | set(old.breaches_by_project)
        if self._serving_pending is not None:
            keys |= self._serving_pending[0]
            projects |= self._serving_pending[1]
        self._serving_pending = (keys, projects)
        self.flush()

    def _absorb_serving(self, keys: set[Any], projects: set[Any]) -> None:
        """Onto the panes: the Inference rows, inference workloads' RPS and P95, projects' breach marks. Lock held."""
        inf = self.pane("inference")
        inf.absorb(keys | inf.model.refresh_all(), ())  # type: ignore[attr-defined]
        self.pane("workloads").absorb(keys, ())
        if projects:
            self.pane("projects").absorb(projects, ())

    # ------------------------------------------------------------------ this machine's GPUs (NVML)
    async def _local_run(self) -> None:
        """Sample this machine's GPUs for as long as the App runs; a failed tick is a state, not an exit."""
        while True:
            try:
                await self.local_tick()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a sampler bug must not end sampling, nor the console
                self.notify(f"local GPUs: {_one_line(e)}", severity="error", timeout=5)
            await asyncio.sleep(max(0.5, self.local.interval_s))

    async def local_tick(self) -> bool:
        """One NVML sample joined to the cluster: on the informers' loop when connected, else here (the
        NVML calls run in a worker thread either way); then onto the Local pane and the host's GPU rows."""
        s = self.session
        dcgm = self.feed.snapshot if self.feed is not None else None
        if s is not None and s.live and hasattr(s, "off_ui"):
            fresh = await s.off_ui(self.local.tick(s, dcgm))  # type: ignore[attr-defined]
        else:
            fresh = await self.local.tick(s, dcgm)
        if fresh and self._mounted_panes():
            self._apply_local()
        return fresh

    def _apply_local(self) -> None:
        view = self.local.view
        with self.batch_update():
            self.pane("local").rebuild()
            if view is not None and view.node:
                n = view.node
                keys = {("gpu", n, i) for i in range(self.ctx.store.gpus.count.get(n, 0))} | {("node", n)}
                self.pane("gpus").absorb(keys, ())
            self.update_header()

    # ------------------------------------------------------------------ KAI's fair shares
    def fair_share_loop(self) -> None:
        """Read KAI's fair shares for this session (replacing the last session's loop)."""
        if self._fs_task is not None:
            self._fs_task.cancel()
        self._fs_task = asyncio.create_task(self._fair_share_run(), name="kai-fair-share")

    async def _fair_share_run(self) -> None:
        feed = self.fs_feed
        while feed is not None and feed is self.fs_feed:
            try:
                await self.fair_share_tick()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a reader bug must not end the loop, nor the console
                self.notify(f"KAI fair share: {_one_line(e)}", severity="error", timeout=5, cause=e)
            await asyncio.sleep(max(1.0, feed.interval_s))

    async def fair_share_tick(self) -> bool:
        """One read of KAI's metrics on the informers' loop; the next flush shows what it moved."""
        feed, s = self.fs_feed, self.session
        if feed is None or s is None:
            return False
        fresh: bool = await s.off_ui(feed.tick())  # type: ignore[attr-defined]
        if fresh and feed is self.fs_feed:
            self.flush()
        return fresh

    def action_idle_jump(self) -> None:
        """On an idle-allocated GPU: its workload. Elsewhere: the next idle-allocated GPU."""
        if self.view != "gpus":
            self._activate("gpus")
        p = self.pane("gpus")
        model = p.model
        key = p.table.cursor_key
        wl = model.idle_workload(key) if key is not None else None  # type: ignore[attr-defined]
        if wl is None:
            idle = [k for k in model.idle_keys() if k in p.table._index]  # type: ignore[attr-defined]
            if not idle:
                pol = self.idle_policy
                self.notify(f"no idle-allocated GPUs here (allocated, under {pol.threshold_pct:g}% for "
                            f"{pol.hold_s / 60:g} min)", timeout=3)
                return
            rows = sorted(idle, key=lambda k: p.table._index[k])
            cur = p.table.cursor_row
            nxt = next((k for k in rows if p.table._index[k] > cur), rows[0])
            p.table.move_to_key(nxt)
            return
        ns, name = wl
        # The workloads view is written only by the drain, on this thread: no lock to read it.
        target = next((k for k in self.ctx.store.workloads.rows if k[0] == ns and k[2] == name), None)
        g = key
        row = self.ctx.store.gpus.rows.get((g[1], g[2]))  # type: ignore[index]
        idx = model.device_index(row) if row is not None else None  # type: ignore[attr-defined]
        crumb = f"idle {g[1]}#{idx if idx is not None else '?'}"  # type: ignore[index]
        self._push_and_go(Drill("workloads", "workload", (name,), crumb))
        if target is not None:
            self.pane("workloads").table.move_to_key(target)

    def action_gpu_history(self) -> None:
        p = self.pane()
        key = p.table.cursor_key
        if self.view == "inference" and isinstance(key, tuple):
            wkey = key[3] if key and key[0] == "replica" else key
            from console.ui.serving_detail import ServingDetailScreen
            self.push_screen(ServingDetailScreen(lambda: self.ctx.serving, wkey))  # type: ignore[arg-type]
            return
        if self.view != "gpus" or not isinstance(key, tuple) or key[0] != "gpu":
            self.notify("history plots are for a GPU row on the GPUs pane or a workload on the Inference pane",
                        timeout=2)
            return
        self._open_gpu_detail((key[1], key[2]))

    def _open_gpu_detail(self, gkey: tuple[str, int]) -> None:
        from console.ui.gpu_detail import GpuDetailScreen

        store = self.ctx.store
        self.push_screen(GpuDetailScreen(self.feed, gkey, lambda: store.gpus.rows.get(gkey)))

    async def action_quit(self) -> None:
        await self._close()
        self.exit()

    async def _close(self) -> None:
        task, self._tel_task = self._tel_task, None
        if task is not None:
            task.cancel()
        stask, self._serving_task = self._serving_task, None
        if stask is not None:
            stask.cancel()
        serving, self.serving = self.serving, None
        if serving is not None:
            await _close_feed(serving)
        ltask, self._local_task = self._local_task, None
        if ltask is not None:
            ltask.cancel()
        try:
            await asyncio.wait_for(self.local.close(), 5)
        except Exception:
            pass
        fs_task, self._fs_task = self._fs_task, None
        if fs_task is not None:
            fs_task.cancel()
        self.fs_feed = None
        feed, self.feed = self.feed, None
        if feed is not None:
            await _close_feed(feed)
        s, self.session = self.session, None
        if s is not None:
            try:
                await asyncio.wait_for(s.close(), 5)
            except Exception:
                pass

    async def on_unmount(self) -> None:
        await self._close()

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        """Drain the model and apply keyed changes to the panes in one batch."""
        s = self.session
        if not self._mounted_panes():
            return  # starting up or shutting down: nothing to draw on
        if s is None:
            self.update_header()
            return
        # The informers' thread holds the lock while it applies a change (a first sync of a large cluster
        # holds it for seconds): skip this tick rather than wait, so keys and frames keep flowing.
        if not s.lock.acquire(blocking=False):
            self.update_header()
            return
        try:
            self._flush_locked(s)
        finally:
            s.lock.release()
        self.update_header()   # outside the lock: it reads only published snapshots and the UI's own state

    def _flush_locked(self, s: Session) -> None:
        # Which lists are complete is read *before* the drain: a list is reported complete only after the
        # model took it in, so every figure this drain yields that the snapshot calls known is whole. A drain
        # that ran out of budget has not computed every row yet: the panes keep the snapshot they had.
        sync = s.sync
        store = s.store
        now = time.monotonic()
        if self._behind_since is not None and now - self._behind_since > MAX_BEHIND_S:
            budget = None   # behind for too long (events outpace the budget): everything, this once
        else:
            budget = DRAIN_BUDGET_S if store.dirty_count < BIG_BACKLOG else BIG_BUDGET_S
        delta = store.drain(budget)
        if not store.behind:
            self._behind_since = None
        elif self._behind_since is None:
            self._behind_since = now
        ev_ups, ev_rem = s.events.drain()
        self.flushes += 1
        changed = self._set_sync(sync) if not store.behind else False
        tel, self._tel_pending = self._tel_pending, None
        srv, self._serving_pending = self._serving_pending, None

        with self.batch_update():
            if tel is not None and self.feed is not None:
                self._apply_telemetry(self.feed, tel)
            if srv is not None:
                self._absorb_serving(*srv)
            if delta.projects:
                self.pane("projects").absorb(delta.projects.upserts, delta.projects.removed)
            if delta.gpus or delta.nodes:
                gp = self.pane("gpus")
                gp.absorb(*gp.model.absorb_views_keys(delta.gpus.upserts, delta.gpus.removed,  # type: ignore[attr-defined]
                                                      delta.nodes.upserts, delta.nodes.removed))
            if delta.workloads:
                self.pane("workloads").absorb(delta.workloads.upserts, delta.workloads.removed)
                self.actions.watch_pending()
            if delta.nodes:
                self.pane("nodes").absorb(delta.nodes.upserts, delta.nodes.removed)
            if delta.gpus or delta.nodes or changed:
                self._gpu = _gpu_figures(s, sync)
            if ev_ups or ev_rem:
                self.pane("events").absorb(ev_ups, ev_rem)
            active = self.pane()
            if active.behind:
                active.catch_up()  # a view switch or re-sort that found the lock busy
            elif time.monotonic() - self._last_key >= self.idle_order_s:
                self._order_one_hidden(active)
            if active.model.ages and self.flushes % int(5 * self.config.refresh_hz) == 0:
                active.table.invalidate()  # ages on screen move on even when the rows do not change
        if s.store.behind and not self._again:
            # Rows the budget left dirty (a storm of events): another flush soon, keys handled in between.
            self._again = True
            self.set_timer(FLUSH_AGAIN_S, self._flush_again)

    def _order_one_hidden(self, active: Pane) -> None:
        """Catch up the next hidden pane that is behind, in turn (a busy pane never starves the others)."""
        n = len(VIEW_ORDER)
        for i in range(n):
            name = VIEW_ORDER[(self._idle_next + i) % n]
            p = self.pane(name)
            if p is not active and p.behind:
                p.catch_up()
                self._idle_next = (self._idle_next + i + 1) % n
                return

    def _flush_again(self) -> None:
        self._again = False
        self.flush()

    def _set_sync(self, sync: SyncSnapshot) -> bool:
        """Take a new snapshot of which lists are complete; panes whose figures changed state render again."""
        old, self.ctx.sync = self.ctx.sync, sync
        if old is sync:
            return False
        changed = False
        for name in VIEW_ORDER:
            p = self.pane(name)
            needs = p.model.needs
            if (old.known(needs), old.stale(needs), old.known({"nodes"})) != \
                    (sync.known(needs), sync.stale(needs), sync.known({"nodes"})):
                p.sync_changed()
                changed = True
        return changed

    def _mounted_panes(self) -> bool:
        try:
            self.query_one("#events", Pane)
            return True
        except NoMatches:
            return False

    def _update_pane_states(self) -> None:
        s = self.session
        health = s.health if s else []
        by_kind: dict[str, list[str]] = {}
        for h in health:
            by_kind.setdefault(h.kind, []).append(h.state)
        sync = self.ctx.sync
        for name in VIEW_ORDER:
            p = self.pane(name)
            msg = ""
            if name == "local":
                p.set_state(p.model.state())  # type: ignore[attr-defined]
                continue
            if self.conn_state == "unreachable":
                msg = f"cluster unreachable: {self.conn_message}"
            elif self.conn_state == "connecting":
                msg = f"connecting {self.conn_message}…"
            elif self.conn_state == "offline" and s is not None and getattr(s, "offline_note", None):
                msg = f"{s.offline_note} (6: this machine's GPUs)"  # type: ignore[attr-defined]
            else:
                notes = []
                waiting = sync.waiting_on(p.model.needs)
                first = [k.kind for k in waiting if not k.settled]
                again = [k.kind for k in waiting if k.settled and k.relist]
                if first:
                    notes.append(f"listing {', '.join(first)}: figures show {UNKNOWN} until every list is complete")
                elif again:
                    notes.append(f"re-listing {', '.join(again)}: figures are from the last complete list (stale)")
                for kind in p.model.resources:
                    states = by_kind.get(kind, [])
                    if "forbidden" in states:
                        notes.append(f"{kind}: forbidden for this user (rows may be missing)")
                    elif "reconnecting" in states:
                        notes.append(f"{kind}: reconnecting (showing last known state)")
                msg = " · ".join(notes)
            p.set_state(msg)

    def header_data(self) -> HeaderData:
        s = self.session
        info = s.info if s else None
        now = time.monotonic()
        states = tuple(ResourceState(h.kind, h.state, h.age(now), h.last_error) for h in (s.health if s else []))
        g = self._gpu
        extra: tuple[str, ...] = ()
        if s is not None and info is not None and info.hidden:
            extra = (f"{len(info.hidden)} hidden",)
        tel, tel_bad = self.feed.state() if self.feed is not None else ("", False)
        sv = self.ctx.serving
        return HeaderData(
            context=(info.context if info and info.context else self.context or ""),
            cluster=info.cluster if info else "", user=info.user if info else "",
            server=redact(info.server) if info else "", tls=info.tls if info else "", scope=self.scope_text(),
            server_version=info.server_version if info else "", readonly=self.readonly,
            connection=self.conn_state, message=self.conn_message, resources=states,
            gpus_allocated=g.get("allocated"), gpus_capacity=g.get("capacity"),  # type: ignore[arg-type]
            gpus_in_use=g.get("in_use"), gpus_slivers=g.get("slivers"),  # type: ignore[arg-type]
            gpus_stale=bool(g.get("stale")), api_per_min=s.api_rate() if s else 0.0,
            watches=s.open_watches() if s else 0,
            extra=extra, telemetry=tel, telemetry_bad=tel_bad,
            serving=sv.state if self.serving is not None else "", serving_bad=sv.state_bad,
            slo_breaches=sv.breaches if sv.taken_at is not None else None)

    def update_header(self) -> None:
        if not self._mounted_panes():
            return
        try:
            header = self.query_one(ClusterHeader)
        except NoMatches:
            return
        header.show(self.header_data(), self.ctx.palette)
        s = self.session
        # The progress line reads the newest snapshot (it needs no model), so it moves on even while the
        # informers hold the model's lock for a large list.
        segments = progress_segments(s.sync, self.monotonic()) if s is not None else []
        self.query_one(SyncProgress).show(segments, self.ctx.palette)
        self._update_pane_states()
        tabs = " ".join(f"[reverse] {i + 1} {v} [/]" if v == self.view else f" {i + 1} {v} "
                        for i, v in enumerate(VIEW_ORDER))
        _show_line(self.query_one("#tabs", Static), tabs)
        crumbs = [self.scope_text()] if self.scope_text() else []
        crumbs += [e.view + (f" › {e.drill.crumb}" if e.drill else "") for e in self.nav]
        p = self.pane()
        crumbs.append(self.view + (f" › {p.drill.crumb}" if p.drill else ""))
        _show_line(self.query_one("#crumbs", Static), "  ›  ".join(f"<{c}>" for c in crumbs))
        self.query_one(KeyHints).show(self.key_hints(), key_style=str(self.ctx.palette.accent))

    def key_hints(self) -> list[tuple[str, str]]:
        """The keys that work in this view (as remapped), for the footer line."""
        keymap = getattr(self, "_keymap", {})

        def k(bid: str, default: str) -> str:
            return _keys(keymap.get(bid, default)).split(", ")[0]

        if self.prompt_mode:
            return [("enter", "apply"), ("esc", "cancel")] + ([("tab", "complete")] if self.prompt_mode == ":" else [])
        drill = {"projects": "workloads", "gpus": "drill", "workloads": "expand", "nodes": "GPUs", "events": "",
                 "local": "workload", "inference": "replicas"}
        out = [(k("app.command", ":"), "command"), (k("app.filter", "/"), "filter")]
        if drill.get(self.view):
            out.append((k("row.drill", "enter"), drill[self.view]))
        if self.nav or self.pane().typed:
            out.append((k("app.back", "escape"), "back"))
        out += [(k("row.describe", "d"), "describe"), (k("row.yaml", "y"), "yaml")]
        if self.view in ("gpus", "workloads", "events", "local", "inference"):
            out.append((k("row.logs", "l"), "logs"))
        if self.view == "gpus" and self.feed is not None:
            out += [(k("gpu.idle", "i"), "idle→workload"), (k("gpu.history", "t"), "history")]
        if self.view == "inference":
            out.append((k("gpu.history", "t"), "history"))
        if self.view != "events":
            out.append((k("row.events", "e"), "events"))
        out += self.actions.hints(k)
        out += [(k("table.sort", "o"), "sort"), ("1-7", "views"), (k("app.help", "question_mark"), "help"),
                ("^p", "palette"), (k("app.quit", "q"), "quit")]
        if self.conn_state == "unreachable":
            out.insert(0, (k("app.retry", "r"), "retry now"))
        return out

    # ------------------------------------------------------------------ views and navigation
    def _activate(self, view: str) -> None:
        for name in VIEW_ORDER:
            self.pane(name).active = name == view
        self.view = view
        self.query_one(ContentSwitcher).current = view
        p = self.pane(view)
        p.catch_up()
        if self.prompt_mode == "":
            self.screen.set_focus(p.table)  # at once: keys typed right after the switch go to this pane
        self.update_header()

    def show_view(self, view: str) -> None:
        self._activate(view)

    def action_view(self, view: str) -> None:
        self._activate(view)

    def action_drill(self) -> None:
        p = self.pane()
        key = p.table.cursor_key
        if key is None:
            return
        if self.view == "workloads" and p.model.toggle(key):  # type: ignore[attr-defined]
            p.rebuild()
            return
        target = p.model.drill(key)
        if target is None and self.view == "gpus" and isinstance(key, tuple) and key[0] == "gpu":
            self._open_gpu_detail((key[1], key[2]))   # a free GPU: nothing to drill into, so its history
            return
        if target is None:
            self.notify("nothing to drill into here", timeout=2)
            return
        self._push_and_go(target)

    def _push_and_go(self, target: Drill) -> None:
        p = self.pane()
        self.nav.append(NavEntry(self.view, p.typed, p.drill, p.table.cursor_key))
        dest = self.pane(target.view)
        err = dest.set_filter("", target)
        if err:
            self.notify(err, severity="error")
        self._activate(target.view)
        dest.table.move_to(0)

    def action_events(self) -> None:
        p = self.pane()
        key = p.table.cursor_key
        ref = p.model.target(key) if key is not None else None
        if ref is None or ref.kind == "Event":
            return
        self._push_and_go(Drill("events", "object", (ref.name,), ref.label))

    def action_back(self) -> None:
        if self.prompt_mode:
            self.close_prompt(cancel=True)
            return
        if self.nav:
            cur = self.pane()
            cur.set_filter("", None)
            e = self.nav.pop()
            p = self.pane(e.view)
            p.set_filter(e.typed, e.drill)
            self._activate(e.view)
            if e.cursor is not None:
                p.table.move_to_key(e.cursor)
            return
        p = self.pane()
        if p.typed:
            p.set_filter("", p.drill)
            self.update_header()

    def action_sort_next(self) -> None:
        self.pane().sort_next()

    def action_sort_reverse(self) -> None:
        self.pane().sort_reverse()

    # ------------------------------------------------------------------ prompt (: and /)
    def action_command(self) -> None:
        self.open_prompt(":")

    def action_filter(self) -> None:
        self.open_prompt("/", self.pane().typed)

    def open_prompt(self, mode: str, value: str = "") -> None:
        inp = self.query_one("#prompt", Input)
        self.prompt_mode = mode
        self._prompt_before = self.pane().typed
        if mode == ":":
            names = self._contexts()
            self._refresh_scope_names()
            cands = [*completions("", [], []), *(f"ctx {c}" for c in names),
                     *(f"theme {t}" for t in self.available_themes),
                     *(f"ns {n}" for n in ("all", *self._namespace_names)),
                     *(f"project {n}" for n in ("all", *self._project_names))]
            inp.suggester = SuggestFromList(cands, case_sensitive=False)
            inp.placeholder = ("command: projects gpus workloads nodes events local inference ns project ctx theme q "
                               "(tab completes)")
        else:
            inp.suggester = None
            inp.placeholder = "filter: text, -l key=value, or field:value (" + ", ".join(self.pane().model.fields) + ")"
        inp.value = value
        inp.add_class("-visible")
        self.screen.set_focus(inp)  # at once: what is typed right after `:` belongs to the prompt
        self.update_header()
        inp.cursor_position = len(value)
        self._hints(value)

    def _contexts(self) -> list[str]:
        return self._context_names

    def _completions(self, value: str) -> list[str]:
        return completions(value, self._contexts(), list(self.available_themes), self._namespace_names,
                           self._project_names)

    def _refresh_scope_names(self) -> None:
        """The model's namespaces and projects, for `:ns` / `:project` completion and checks. The informers'
        thread may hold the model for seconds while a large cluster syncs: then the last names serve."""
        lock = self.ctx.lock
        if not lock.acquire(blocking=False):
            return
        try:
            store = self.ctx.store
            self._namespace_names = scope_namespaces(store)
            self._project_names = sorted(store.projects.rows)
        finally:
            lock.release()

    def close_prompt(self, cancel: bool = False) -> None:
        inp = self.query_one("#prompt", Input)
        if cancel and self.prompt_mode == "/":
            self.pane().set_filter(self._prompt_before)
        self.prompt_mode = ""
        inp.remove_class("-visible")
        self.query_one("#prompt-hints", Static).remove_class("-visible")
        self.screen.set_focus(self.pane().table)
        self.update_header()

    def _hints(self, value: str, error: str = "") -> None:
        hints = self.query_one("#prompt-hints", Static)
        if self.prompt_mode == ":":
            cands = self._completions(value)
            text = "  ".join(cands[:12]) if cands else "no such command"
        else:
            text = error
        hints.update(text)
        hints.set_class(bool(text), "-visible")

    def action_complete(self) -> None:
        if not self.prompt_mode:
            self.screen.focus_next()
            return
        inp = self.query_one("#prompt", Input)
        if self.prompt_mode == ":":
            cands = self._completions(inp.value)
            if cands:
                inp.value = cands[0]
                if cands[0] in ("ctx", "theme", "ns", "project"):
                    inp.value += " "
                inp.cursor_position = len(inp.value)
                self._hints(inp.value)

    @on(Input.Changed, "#prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        if self.prompt_mode == "/":
            err = self.pane().set_filter(event.value)
            self._hints(event.value, err or "")
        elif self.prompt_mode == ":":
            self._hints(event.value)

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        mode = self.prompt_mode
        value = event.value
        if mode == "/":
            err = self.pane().set_filter(value)
            if err:
                self._hints(value, err)
                return
            self.close_prompt()
            return
        try:
            cmd = parse_command(value)
        except CommandError as e:
            self._hints(value)
            self.notify(str(e), severity="warning", timeout=4)
            return
        self.close_prompt()
        self.run_command(cmd)

    def run_command(self, cmd: Command) -> None:
        if cmd.verb == "quit":
            self.run_worker(self.action_quit(), exit_on_error=False)
        elif cmd.verb == "help":
            self.action_help()
        elif cmd.verb == "view":
            view, _, rest = cmd.arg.partition(" ")
            self.nav.clear()
            self._activate(view)
            if rest:
                err = self.pane().set_filter(rest, None)
                if err:
                    self.notify(err, severity="warning")
        elif cmd.verb == "theme":
            if not cmd.arg:
                self.notify("themes: " + ", ".join(sorted(self.available_themes)), timeout=6)
            elif cmd.arg not in self.available_themes:
                self.notify(f"no theme {cmd.arg!r}", severity="warning")
            else:
                self.theme = cmd.arg
        elif cmd.verb == "ctx":
            self.switch_context(cmd.arg)
        elif cmd.verb in ("ns", "project"):
            self.set_scope(cmd.verb, cmd.arg)

    # ------------------------------------------------------------------ :ns and :project
    def set_scope(self, kind: str, name: str) -> None:
        """`:ns NAME` / `:project NAME` narrow every pane (k9s's `:ns`); `all` lifts it; a name the model does
        not know is refused with the names it does know."""
        self._refresh_scope_names()
        known = self._namespace_names if kind == "ns" else self._project_names
        what = "namespace" if kind == "ns" else "project"
        current = self.scope_ns if kind == "ns" else self.scope_project
        if not name:
            self.notify(f"{what}: {current or 'all'} (have: {', '.join(known) or 'none yet'}); "
                        f":{kind} NAME narrows, :{kind} all lifts", timeout=6)
            return
        if name != "all" and name not in known:
            shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
            self.notify(f"no {what} {name!r} in this cluster (have: {shown or 'none yet'})", severity="warning")
            return
        value = None if name == "all" else name
        ns, project = (value, self.scope_project) if kind == "ns" else (self.scope_ns, value)
        self._apply_scope(ns, project)

    def scope_text(self) -> str:
        parts = ([f"ns {self.scope_ns}"] if self.scope_ns else []) + \
            ([f"project {self.scope_project}"] if self.scope_project else [])
        return " · ".join(parts)

    def _apply_scope(self, ns: str | None, project: str | None) -> None:
        """Give each pane the field terms of the scope it can be narrowed by (see `scope_terms`); nothing changes
        when the model cannot be read now."""
        lock = self.ctx.lock
        # One walk of the workload rows under the model's lock; the informers' thread holds it for seconds while
        # a large cluster's first lists come in, and the screen must not wait that long.
        if not lock.acquire(timeout=0.5):
            self.notify("the cluster model is busy with its first lists; give the command again in a moment",
                        severity="warning")
            return
        try:
            terms = scope_terms(self.ctx.store, {n: PANES[n].fields for n in VIEW_ORDER}, ns, project)
        finally:
            lock.release()
        self.scope_ns, self.scope_project = ns, project
        label = self.scope_text()
        for name in VIEW_ORDER:
            t = terms.get(name, ())
            self.pane(name).set_scope(t, label if t else "")
        self.update_header()

    def switch_context(self, name: str) -> None:
        names = self._contexts()
        if not name:
            self.notify("contexts: " + (", ".join(names) or "none found"), timeout=6)
            return
        if names and name not in names:
            self.notify(f"no context {name!r} in the kubeconfig (have: {', '.join(names)})", severity="warning")
            return
        self.context = name
        self.nav.clear()
        self.scope_ns = self.scope_project = None  # another cluster: its namespaces and projects are its own
        for v in VIEW_ORDER:
            self.pane(v).set_scope((), "")
        for v in VIEW_ORDER:
            self.pane(v).set_filter("", None)
        self.conn_state, self.conn_message = "connecting", f"to {name}"
        self._gpu = {}
        self.connect()

    # ------------------------------------------------------------------ row actions
    def _target(self):  # type: ignore[no-untyped-def]
        p = self.pane()
        key = p.table.cursor_key
        return p.model.target(key) if key is not None else None

    def _fetched_text(self, title: str, render: Callable[[Any, Any, dict], Any], yaml_syntax: bool = False) -> None:
        """A text screen for the object under the cursor, fetched fresh when the screen opens."""
        from console.ui.screens import TextScreen

        ref = self._target()
        if ref is None or self.session is None:
            self.notify("no object under the cursor", timeout=2)
            return
        session = self.session

        async def load() -> str:
            text = render(session, ref, await session.fetch(ref.group, ref.plural, ref.kind, ref.namespace, ref.name))
            return await text if asyncio.iscoroutine(text) else text

        self.push_screen(TextScreen(title.format(label=ref.label), load, yaml_syntax=yaml_syntax))

    def action_describe(self) -> None:
        from console.ui.describe import describe_text

        async def render(session: Any, ref: Any, obj: dict) -> str:
            events = await session.read(lambda: session.events.for_object(ref.kind, ref.namespace or "", ref.name))
            return describe_text(obj, events, self.ctx.now())

        self._fetched_text("describe {label}", render)

    def action_yaml(self) -> None:
        from console.ui.describe import yaml_text

        self._fetched_text(f"YAML {{label}} (fetched {time.strftime('%H:%M:%S')})",
                           lambda session, ref, obj: yaml_text(obj), yaml_syntax=True)

    async def action_logs(self) -> None:
        from console.ui.screens import LogScreen

        p = self.pane()
        key = p.table.cursor_key
        s = self.session
        pod = None
        if key is not None:   # a workload's pods are walked in the model: with its lock, off this thread
            pod = await s.read(lambda: p.model.log_pod(key)) if s is not None else p.model.log_pod(key)
        if pod is None:
            self.notify("no pod under the cursor (expand a workload with enter)", timeout=3)
            return
        if s is None or s.client is None:
            self.notify("logs need a live cluster connection", severity="warning", timeout=3)
            return
        client = s.client
        ns, name = pod

        async def stream():  # type: ignore[no-untyped-def]
            container = await client.default_container(name, ns)
            async for line in client.logs(name, ns, container=container, tail_lines=200, follow=True):
                yield line

        self.push_screen(LogScreen(f"logs {ns}/{name}", stream))

    # ------------------------------------------------------------------ action keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Space marks only on the workloads pane with no prompt or dialog open; elsewhere it pages."""
        if action == "mark":
            return self.view == "workloads" and not self.prompt_mode and self.screen is self.screen_stack[0]
        return True

    def on_virtual_table_cursor_moved(self, event: object) -> None:
        """A row in another namespace: ask what may be done there (the footer follows on the next flush)."""
        if self.view == "workloads":
            self.actions.verdict("submit")

    def action_submit(self) -> None:
        self.actions.submit()

    def action_scale(self) -> None:
        self.actions.scale()

    def action_preempt(self) -> None:
        self.actions.preempt()

    def action_delete(self) -> None:
        self.actions.delete()

    def action_mark(self) -> None:
        self.actions.toggle_mark()

    def action_help(self) -> None:
        from console.ui.screens import HelpScreen

        self.push_screen(HelpScreen(self.help_rows()))

    def palette_entries(self) -> list[PaletteEntry]:
        """Every view and action of the console, for the command palette (ctrl+p)."""
        out: list[PaletteEntry] = []
        for v in VIEW_ORDER:
            out.append((f"View: {v}", f"show the {v} pane", partial(self.show_view, v)))
        for name, desc, action in (
            ("Describe selected row", "kubectl-describe-like text, fetched fresh", self.action_describe),
            ("YAML of selected row", "the object as YAML, fetched fresh", self.action_yaml),
            ("Logs of selected pod", "follow the pod's log", self.action_logs),
            ("Events of selected row", "the events about this object", self.action_events),
            ("Drill in", "project → workloads, node → GPUs, workload → pods, process → workload", self.action_drill),
            ("Back", "leave the drill-down", self.action_back),
            ("Filter", "type a filter for this pane", self.action_filter),
            ("Command", "type a : command", self.action_command),
            ("Sort by next column", "cycle the sort column", self.action_sort_next),
            ("Reverse sort", "flip the sort order", self.action_sort_reverse),
            ("Switch context", "choose a kubeconfig context", partial(self.open_prompt, ":", "ctx ")),
            ("Namespace", "narrow every pane to a namespace (:ns NAME, :ns all)", partial(self.open_prompt, ":", "ns ")),
            ("Project", "narrow every pane to a project (:project NAME, :project all)",
             partial(self.open_prompt, ":", "project ")),
            ("Retry connection", "reconnect now", self.action_retry),
            ("Help", "every key", self.action_help),
        ):
            out.append((name, desc, action))
        for name, act, desc, fn in (
            ("Submit a workload", "submit", "form or YAML; shows manifest, dry run and KAI preview",
             self.action_submit),
            ("Scale selected workload", "scale", "set replicas (+/- step); preview before sending", self.action_scale),
            ("Preempt selected workload", "preempt", "evict its pods through the Eviction API", self.action_preempt),
            ("Delete selected or marked workloads", "delete", "with dependents; marked rows need a typed phrase",
             self.action_delete),
        ):
            why = self.actions.reason(act)
            out.append((name, f"disabled: {why}" if why else desc, fn))
        out.append(("Mark row for bulk delete", "toggle the mark on the workload under the cursor", self.action_mark))
        return out

    def help_rows(self) -> list[tuple[str, str, str, str]]:
        """(section, keys, description, binding id) for every binding, with the keys now in effect."""
        from widgets.vtable import VirtualTable

        keymap = self._keymap if hasattr(self, "_keymap") else {}
        rows: list[tuple[str, str, str, str]] = []
        for section, bindings in (("Console", self.BINDINGS), ("Table", VirtualTable.BINDINGS)):
            for b in bindings:
                if not isinstance(b, Binding) or b.id == "prompt.complete":
                    continue
                keys = keymap.get(b.id, b.key) if b.id else b.key
                desc = b.description
                why = self.actions.reason(b.id[7:]) if b.id and b.id.startswith("action.") else None
                if why:
                    desc += f" (disabled: {why})"
                rows.append((section, _keys(keys), desc, b.id or ""))
            if section == "Console":
                rows.append(("Console", "ctrl+p", "Command palette: every view and action", "(textual)"))
                rows.append(("Console", "ctrl+q", "Quit", "(textual)"))
        return rows


async def _close_feed(feed: TelemetryFeed | ServingFeed) -> None:
    """Close a sampler on the loop its HTTP client was opened on (the session's informers' loop)."""
    try:
        await asyncio.wait_for(feed.session.off_ui(feed.close()), 5)
    except Exception:
        pass


def _show_line(line: Static, text: str) -> None:
    """A one-line Static, updated only when its text changed and without a layout pass (the height is fixed):
    the header lines are rewritten on every flush and key, and a layout pass repaints the whole screen."""
    if getattr(line, "_shown", None) != text:
        line._shown = text  # type: ignore[attr-defined]
        line.update(text, layout=False)


def _keys(keys: str) -> str:
    names = {"colon": ":", "slash": "/", "question_mark": "?", "escape": "esc", "enter": "enter"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def _one_line(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    text = str(e) or type(e).__name__
    return " ".join(text.split())[:300]


def _gpu_figures(s: Session, sync: SyncSnapshot) -> dict[str, float | int | None]:
    """The header's GPU figures, as the GPUs pane and `gpuconsole snapshot` count them (`gpu_summary`):
    shares held over GPUs, GPUs in use, free slivers; None for what is not known yet. The GPU count is
    the nodes' capacity once the nodes are listed, and the GPU rows once every list is complete."""
    if sync.known(KNOWN_KINDS):
        g = s.store.gpus.summary()
        return {"allocated": g["allocated_share"], "capacity": g["gpus"], "in_use": g["in_use"],
                "slivers": g["sliver_share"], "stale": sync.stale(KNOWN_KINDS)}
    if sync.known({"nodes"}):
        return {"capacity": sum(r.gpu_capacity or 0 for r in s.store.nodes_view.rows.values())}
    return {}

