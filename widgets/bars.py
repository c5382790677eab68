"""Text bars: a GPU split into its holders' shares, and a project's quota against its use.

Pure functions from numbers to styled Text, so panes and tests share them and they render the same in
every theme (the styles come from the palette). The glyphs come from the table chosen at start (glyphs.py):
ASCII where the locale is not UTF-8, and fills that tell holders apart where colour cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

from .glyphs import UNICODE, current

# The Unicode table's bar glyphs, for readers of the code; drawing reads `current()`.
FULL, FREE, UNUSED_QUOTA, LIMIT = UNICODE.full, UNICODE.free, UNICODE.unused, UNICODE.limit
RELEASING = UNICODE.releasing  # a share still held by a pod being deleted: taken until its grace period ends


def _cells(share: float, width: int) -> int:
    return max(0, int(round(share * width)))


def share_bar(shares: Sequence[tuple[float | None, Style] | tuple[float | None, Style, str]], width: int,
              free_style: Style, unknown_style: Style | None = None) -> Text:
    """One GPU as `width` cells: each holder's share in its colour, then the free remainder.

    A holder whose share cannot be known gets one `?` cell so it is never invisible; a holder with a
    tiny share still gets one cell. A third item draws that share with another glyph (a holder's fill, or
    `releasing`).
    """
    g = current()
    t = Text()
    used = 0
    for share, style, *glyph in shares:
        if share is None:
            n, ch, st = 1, "?", unknown_style or style
        else:
            n, ch, st = max(1, _cells(share, width)), glyph[0] if glyph else g.full, style
        n = min(n, width - used)
        if n > 0:
            t.append(ch * n, st)
            used += n
    if used < width:
        t.append(g.free * (width - used), free_style)
    return t


def quota_bar(allocated: float, quota: float | None, limit: float | None, width: int, *,
              ok: Style, over: Style, unused: Style, limit_style: Style) -> Text:
    """Allocated GPUs against the project's quota: in-quota use, over-quota use, unused quota, limit mark.

    The bar's span is the largest of quota, allocation and a finite limit, so the limit mark shows where
    the project would stop; -1 (unlimited) and None draw no mark.
    """
    g = current()
    q = quota if quota is not None and quota > 0 else 0.0
    lim = limit if limit is not None and limit > 0 else None
    span = max(q, allocated, lim or 0.0)
    t = Text()
    if span <= 0:
        return Text(g.free * width, unused)

    def cells(x: float) -> int:
        return min(width, _cells(x / span, width))

    in_quota = cells(min(allocated, q))
    over_n = cells(allocated) - in_quota if allocated > q else 0
    unused_n = cells(q) - in_quota if q > allocated else 0
    t.append(g.full * in_quota, ok)
    t.append(g.over * over_n, over)
    t.append(g.unused * unused_n, unused)
    rest = width - in_quota - over_n - unused_n
    if rest > 0:
        t.append(" " * rest)
    if lim is not None:
        pos = min(width - 1, cells(lim))
        if pos >= t.cell_len:
            t.append(" " * (pos - t.cell_len + 1))
        plain = t.plain
        if pos < len(plain) and plain[pos] == " ":
            t = t[:pos] + Text(g.limit, limit_style) + t[pos + 1:]
    return t


def fmt_gpu(x: float | None) -> str:
    """GPU amounts as operators write them: 2, 0.5, 1.25; '-' when unknown; '∞' (ASCII: inf) for -1."""
    if x is None:
        return "-"
    if x == -1:
        return current().infinity
    if abs(x - round(x)) < 1e-6:
        return str(int(round(x)))
    return f"{x:.2f}".rstrip("0").rstrip(".")
