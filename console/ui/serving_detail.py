"""An inference workload's serving history: requests per second, p50/p95/p99 and errors over the points the
serving view keeps (one per scrape), with its SLO drawn as the top of the latency plots' scale.

A modal over the Inference pane, redrawn once a second from the App's newest serving snapshot (an immutable
value, swapped whole), so it moves on while open. The text is built by `serving_history_text` (no widgets),
which the tests read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.sparkline import plot

from .panes.base import fmt_duration

# (history field, title, unit, scale)
PLOTS = (("rps", "requests/s", "", 1.0), ("p95_s", "p95", "ms", 1000.0), ("p99_s", "p99", "ms", 1000.0),
         ("p50_s", "p50", "ms", 1000.0), ("error_ratio", "errors", "%", 100.0))


def serving_history_text(snap: Any, key: tuple[str, str, str], width: int = 72, height: int = 4) -> Text:
    t = Text()
    t.append(f"{key[1]} {key[0]}/{key[2]}", "bold")
    w = snap.workloads.get(key) if snap is not None else None
    if w is None:
        t.append("\n\nno serving figures for this workload yet\n", "italic")
        return t
    if w.slo is not None:
        target = " ".join(x for x in (f"p95 < {w.slo.p95_ms:g} ms" if w.slo.p95_ms is not None else "",
                                      f"errors < {w.slo.error_ratio * 100:g}%" if w.slo.error_ratio is not None
                                      else "") if x)
        t.append(f"\nSLO {target} ({w.slo.source}): {w.slo_state or 'none'}")
        if w.slo_why:
            t.append(f", {w.slo_why}")
    times = [h.t for h in w.history]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    t.append(f"\n{len(times)} points over {fmt_duration(span)} (one per scrape; each is the window of "
             f"{snap.window_s:g}s before it)\n")
    slo_ms = w.slo.p95_ms if w.slo is not None else None
    lat_hi = max([(h.p99_s or 0.0) * 1000.0 for h in w.history] + [slo_ms or 0.0, 1.0])
    for field, title, unit, scale in PLOTS:
        series = [None if getattr(h, field) is None else getattr(h, field) * scale for h in w.history]
        known = [v for v in series if v is not None]
        t.append(f"\n{title}: {known[-1]:.1f}{unit}" if known and series[-1] is not None else f"\n{title}: —",
                 "bold")
        if known:
            t.append(f"  min {min(known):.1f}{unit}  max {max(known):.1f}{unit}")
            if field == "p95_s" and slo_ms:
                t.append(f"  (scale to {lat_hi:.0f} ms; the SLO is {slo_ms:g} ms)")
        else:
            t.append("  no values (the server does not give this figure, or no replica answered)")
        t.append("\n")
        if known:
            hi = lat_hi if unit == "ms" else (100.0 if unit == "%" else None)
            for line in plot(series, width, height, 0.0, hi):
                t.append(f"  {line}\n")
    return t


class ServingDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,t", "dismiss", "Close", id="serving.close")]

    def __init__(self, snapshot_of: Callable[[], Any], key: tuple[str, str, str]) -> None:
        super().__init__()
        self.snapshot_of = snapshot_of   # () -> the newest ServingSnapshot, read at each redraw
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical(id="gpu-detail-body"):
            yield Static(f"{self.key[2]} · serving history (esc closes)", classes="screen-title")
            yield Static(self.render_text(), id="serving-detail-text")

    def render_text(self) -> Text:
        return serving_history_text(self.snapshot_of(), self.key)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.redraw, name="serving-detail")

    def redraw(self) -> None:
        self.query_one("#serving-detail-text", Static).update(self.render_text())

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)
