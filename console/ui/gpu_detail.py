"""The GPU detail view: a GPU's utilisation, memory, temperature and power over the retained window.

A modal over the GPUs pane, redrawn once a second from the session's TelemetryView, so the plots move
on while it is open. The text is built by `history_text` (no widgets), which the tests read.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.sparkline import plot

from .panes.base import fmt_duration, fmt_mem

# (history field, title, unit, fixed low, fixed high: None scales to the series)
PLOTS = (("util_pct", "utilisation", "%", 0.0, 100.0), ("mem_used_mib", "memory used", "MiB", 0.0, None),
         ("temp_c", "temperature", "°C", None, None), ("power_w", "power", "W", 0.0, None))


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if unit != "MiB" else f"{v / 1024:.1f}GiB"


def device_label(tel: Any, row: Any) -> str:
    """`#3` by the device index the telemetry (or the API) names; `#?` while none does (the key's second
    part is the row's slot on its node, not the device)."""
    index = tel.index if tel is not None and tel.index is not None else (row.index if row is not None else None)
    return f"#{index}" if index is not None else "#?"


def history_text(feed: Any, key: tuple[str, int], row: Any, width: int = 72, height: int = 4) -> Text:
    """Header facts and one block plot per field, oldest point on the left."""
    t = Text()
    tel = feed.view.rows.get(key) if feed is not None else None
    t.append(f"{key[0]} {device_label(tel, row)}", "bold")
    if row is not None:
        t.append(f"  {row.uuid or 'device not reported by the API'}  {row.model or ''}")
        holders = ", ".join(f"{h.namespace}/{h.pod}" for h in row.holders) or "free"
        t.append(f"\nheld by {holders}")
    if tel is None or tel.sample_key is None:
        why = (tel.error if tel is not None and tel.error else
               "no telemetry for this GPU yet" if feed is not None else "no telemetry sampler for this session")
        t.append(f"\n\n{why}\n", "italic")
        return t
    if tel.idle:
        t.append(f"\nidle-allocated for {fmt_duration(tel.idle_for_s)} (under {feed.policy.threshold_pct:g}%)",
                 "bold")
    if tel.lost:
        t.append("\nGPU lost: the driver no longer reaches it", "bold")
    if tel.error:
        t.append(f"\ntelemetry: {tel.error}", "bold")
    hist = feed.view.history
    times = hist.times(tel.sample_key)
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    t.append(f"\n{len(times)} points over {fmt_duration(span)} (every {hist.step_s:g}s, window "
             f"{fmt_duration(hist.window_s)})\n")
    for field, title, unit, lo, hi in PLOTS:
        series = hist.series(tel.sample_key, field)
        known = [v for v in series if v is not None]
        now = getattr(tel, field)
        if field == "mem_used_mib":
            extra = f"  of {fmt_mem(None, tel.mem_total_mib).split('/')[1]}GiB" if tel.mem_total_mib else ""
            hi = tel.mem_total_mib or hi
        elif field == "power_w":
            extra = f"  limit {tel.power_limit_w:.0f}W" if tel.power_limit_w else ""
            hi = tel.power_limit_w or hi
        else:
            extra = ""
        t.append(f"\n{title}: {_fmt(now, unit)}", "bold")
        if known:
            t.append(f"  min {_fmt(min(known), unit)}  max {_fmt(max(known), unit)}{extra}")
        else:
            t.append("  no values (the source does not report this field)")
        t.append("\n")
        if known:
            for line in plot(series, width, height, lo, hi):
                t.append(f"  {line}\n")
    return t


class GpuDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,t", "dismiss", "Close", id="gpu.close")]

    def __init__(self, feed: Any, key: tuple[str, int], row_of: Any) -> None:
        super().__init__()
        self.feed = feed
        self.key = key
        self.row_of = row_of      # () -> GpuRow | None, read at each redraw

    def compose(self) -> ComposeResult:
        with Vertical(id="gpu-detail-body"):
            tel = self.feed.view.rows.get(self.key) if self.feed is not None else None
            label = device_label(tel, self.row_of())
            yield Static(f"GPU {self.key[0]} {label} · history (esc closes)", classes="screen-title")
            yield Static(self.render_text(), id="gpu-detail-text")

    def render_text(self) -> Text:
        return history_text(self.feed, self.key, self.row_of())

    def on_mount(self) -> None:
        self.set_interval(1.0, self.redraw, name="gpu-detail")

    def redraw(self) -> None:
        self.query_one("#gpu-detail-text", Static).update(self.render_text())

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)
