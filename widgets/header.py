"""The header: who and where (context, server and whether TLS verifies it, cluster, user), the state of every
watched resource, cluster GPU totals, and the console's own load on the API server; under it, while lists are
under way, the sync progress line. They receive plain data only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from .bars import fmt_gpu
from .glyphs import current
from .palette import Palette

STATE_MARK = {"synced": "✓", "syncing": "…", "relisting": "…", "reconnecting": "↻", "forbidden": "⊘", "absent": "–"}
UNKNOWN = "…"   # a figure whose lists are not complete yet: never 0, never a partial count
SHORT = {"queues.scheduling.run.ai": "queues", "podgroups.scheduling.run.ai": "podgroups",
         "deployments.apps": "deploy", "replicasets.apps": "rs", "statefulsets.apps": "sts", "jobs.batch": "jobs",
         "priorityclasses.scheduling.k8s.io": "pc", "resourcequotas": "quotas", "namespaces": "ns",
         "services": "svc"}


@dataclass(frozen=True)
class ResourceState:
    kind: str
    state: str            # synced | syncing | relisting | reconnecting | forbidden | absent
    stale_s: float | None = None
    error: str = ""


@dataclass(frozen=True)
class HeaderData:
    context: str = ""
    cluster: str = ""
    user: str = ""
    server: str = ""
    tls: str = ""                       # verified | unverified | plain | "" (unknown)
    server_version: str = ""
    readonly: bool = False
    connection: str = "connecting"      # connecting | connected | unreachable | offline
    message: str = ""
    resources: tuple[ResourceState, ...] = ()
    # GPU figures as the GPUs pane and `gpuconsole snapshot` count them; None while not known yet
    gpus_allocated: float | None = None   # shares held, summed
    gpus_capacity: float | None = None    # GPUs
    gpus_in_use: int | None = None        # GPUs with any holder
    gpus_slivers: float | None = None     # free parts of GPUs in use
    gpus_stale: bool = False              # a list they come from is being taken again
    api_per_min: float = 0.0
    watches: int = 0
    extra: tuple[str, ...] = field(default=())
    telemetry: str = ""                 # the GPU sampler's state, e.g. "dcgm 14/14 nodes · 5s"
    telemetry_bad: bool = False         # a node's exporter fails, GPUs are lost, or no sampler works
    serving: str = ""                   # the inference scrape's state, e.g. "serving 31/32 pods · 10s"
    serving_bad: bool = False           # some inference pod did not answer
    slo_breaches: int | None = None     # inference workloads breaching their SLO now; None before a scrape
    scope: str = ""                     # `:ns` / `:project` in force, e.g. "ns runai-vision"


def merge_states(states: Sequence[ResourceState]) -> list[ResourceState]:
    """One state per kind (namespace-scoped users have one informer per namespace): the worst wins."""
    rank = {"forbidden": 0, "reconnecting": 1, "syncing": 2, "relisting": 2, "absent": 4, "synced": 3}
    out: dict[str, ResourceState] = {}
    for s in states:
        cur = out.get(s.kind)
        if cur is None or rank.get(s.state, 9) < rank.get(cur.state, 9):
            out[s.kind] = s
    return list(out.values())


def render_header(d: HeaderData, p: Palette) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("gpuconsole ", p.accent)
    t.append(f"ctx {d.context or '-'}", p.bold)
    if d.scope:
        t.append(f" · {d.scope}", p.accent)
    if d.server:
        t.append(f" · {d.server}")
    if d.tls == "unverified":
        t.append(" · TLS unverified", p.bad)
    elif d.tls == "plain":
        t.append(" · plain HTTP", p.warn)
    t.append(f" · cluster {d.cluster or '-'} · user {d.user or '-'} · k8s {d.server_version or '?'}")
    if d.readonly:
        t.append(" · read-only", p.warn)
    t.append("\n")
    conn_style = {"connected": p.ok, "unreachable": p.bad, "offline": p.muted}.get(d.connection, p.warn)
    t.append(d.connection, conn_style)
    if d.message:
        t.append(f": {d.message}", conn_style)
    gpu_figure(t, d, p)
    t.append(f" · API {d.api_per_min:.0f}/min · watches {d.watches}", p.muted)
    for e in d.extra:
        t.append(f" · {e}", p.muted)
    if d.telemetry:
        t.append(" · ")
        t.append(d.telemetry, p.warn if d.telemetry_bad else p.muted)
    if d.serving:
        t.append(" · ")
        t.append(d.serving, p.warn if d.serving_bad else p.muted)
    if d.slo_breaches:
        t.append(f" · ⚠{d.slo_breaches} SLO breached", p.bad)
    t.append("\n")
    states = merge_states(d.resources)
    if not states:
        t.append("no resources watched yet", p.muted)
    for i, s in enumerate(sorted(states, key=lambda s: s.kind)):
        if i:
            t.append(" ")
        style: Style = {"synced": p.ok, "forbidden": p.bad, "reconnecting": p.warn, "syncing": p.warn,
                        "relisting": p.warn}.get(
            s.state, p.muted)
        t.append(SHORT.get(s.kind, s.kind), p.muted if s.state == "synced" else style)
        mark = current().state(s.state)
        if s.state == "reconnecting" and s.stale_s is not None:
            mark += f"{s.stale_s:.0f}s"
        t.append(mark, style)
    return t


def gpu_figure(t: Text, d: HeaderData, p: Palette) -> None:
    """`GPU 94.5/96 · 96 in use · 1.5 free in slivers`: shares held over GPUs, the GPUs anyone holds, and
    the free fractions left on them; `…` for what is not known yet, dimmed and marked while stale."""
    unknown = current().unknown

    def num(x: float | None) -> str:
        return unknown if x is None else fmt_gpu(x)

    known = d.gpus_allocated is not None
    strong = p.muted if d.gpus_stale else p.bold
    t.append(" · GPU ")
    if d.gpus_capacity is None and not known:
        t.append(unknown, p.muted)
        return
    t.append(num(d.gpus_allocated), strong if known else p.muted)
    t.append("/")
    t.append(num(d.gpus_capacity), strong if d.gpus_capacity is not None else p.muted)
    t.append(" · ")
    t.append(unknown if d.gpus_in_use is None else str(d.gpus_in_use), p.muted if d.gpus_in_use is None else
             (p.muted if d.gpus_stale else Style()))
    t.append(" in use · ")
    t.append(num(d.gpus_slivers), p.muted if d.gpus_slivers is None or d.gpus_stale else Style())
    t.append(" free in slivers")
    if d.gpus_stale:
        t.append(" (stale)", p.warn)


PROGRESS_ROLES = ("label", "bar", "bar-empty", "count", "eta", "muted", "warn")


def render_progress(segments: Sequence[tuple[str, str]], p: Palette) -> Text:
    """The sync progress line from (text, role) segments (see console/kube/progress.py)."""
    styles = {"label": p.bold, "bar": p.info, "bar-empty": p.free, "count": Style(), "eta": p.accent,
              "muted": p.muted, "warn": p.warn}
    t = Text(no_wrap=True, overflow="ellipsis")
    for text, role in segments:
        t.append(text, styles.get(role, Style()))
    return t


class SyncProgress(Static):
    """One line under the header while lists are under way; hidden when everything is synced."""

    def __init__(self, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self.segments: tuple[tuple[str, str], ...] = ()
        self._last = ""

    def show(self, segments: Sequence[tuple[str, str]], palette: Palette) -> None:
        self.segments = tuple(segments)
        text = render_progress(self.segments, palette)
        key = text.plain + repr(palette.info)
        if key != self._last:
            self._last = key
            self.update(text, layout=False)   # one line: the height never changes
        self.display = bool(self.segments)


class ClusterHeader(Static):
    """Three lines; re-rendered only when the text changes."""

    def __init__(self, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self.data = HeaderData()
        self._last = ""

    def show(self, data: HeaderData, palette: Palette) -> None:
        self.data = data
        text = render_header(data, palette)
        key = text.plain + repr(palette.ok)
        if key != self._last:
            self._last = key
            self.update(text, layout=False)   # three lines: the height never changes
