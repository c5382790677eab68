"""Sparklines and small block plots for GPU history, as plain strings.

Pure functions from a series (None for a missing point) to text, so the GPUs pane, the detail view and
the tests share one rendering. A missing point is a space rather than a zero: an exporter that did not
answer is not an idle GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .glyphs import UNICODE, current

BLOCKS = UNICODE.blocks      # drawing reads current(): ASCII levels where the locale is not UTF-8
EIGHTHS = UNICODE.eighths


def _scale(values: Sequence[float | None], lo: float | None, hi: float | None) -> tuple[float, float]:
    known = [v for v in values if v is not None and not math.isnan(v)]
    low = lo if lo is not None else (min(known) if known else 0.0)
    high = hi if hi is not None else (max(known) if known else 1.0)
    if high <= low:
        high = low + 1.0
    return low, high


def sparkline(values: Sequence[float | None], width: int, lo: float | None = 0.0,
              hi: float | None = 100.0) -> str:
    """The last `width` points, one block each (▁ at `lo`, █ at `hi`), right-aligned.

    `lo`/`hi` None: the series' own minimum/maximum. Values outside the range are clamped.
    """
    if width <= 0:
        return ""
    pts = list(values)[-width:]
    low, high = _scale(pts, lo, hi)
    blocks = current().blocks
    out = []
    for v in pts:
        if v is None or math.isnan(v):
            out.append(" ")
            continue
        f = min(1.0, max(0.0, (v - low) / (high - low)))
        out.append(blocks[min(len(blocks) - 1, int(f * len(blocks)))])
    return " " * (width - len(out)) + "".join(out)


def plot(values: Sequence[float | None], width: int, height: int, lo: float | None = None,
         hi: float | None = None) -> list[str]:
    """A `height`-line bar plot of the last `width` points (top line first), eighth-block resolution."""
    if width <= 0 or height <= 0:
        return []
    pts = list(values)[-width:]
    pts = [None] * (width - len(pts)) + pts
    low, high = _scale(pts, lo, hi)
    levels: list[int | None] = []
    for v in pts:
        if v is None or math.isnan(v):
            levels.append(None)
        else:
            f = min(1.0, max(0.0, (v - low) / (high - low)))
            levels.append(max(1, round(f * height * 8)))   # a known value is never invisible
    eighths = current().eighths
    lines = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        line = []
        for lv in levels:
            if lv is None:
                line.append(" ")
            else:
                line.append(eighths[min(8, max(0, lv - base))])
        lines.append("".join(line))
    return lines
