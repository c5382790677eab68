"""Rich styles for rendered cells, taken from the current theme's variables (never hard-coded colours).

Themes may define `holder-1` … `holder-8` (one colour per workload on the GPU bars), `gpu-free` and
`quota-over`; themes that do not (Textual's own, picked from the theme picker) fall back to the
standard variables, so every theme works.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.style import Style
from textual.color import Color

HOLDER_FALLBACK = ("primary", "accent", "success", "secondary", "warning", "error")


def _color(value: str | None) -> Color | None:
    if not value:
        return None
    try:
        return Color.parse(value.split()[0])
    except Exception:
        return None


def _fg(value: str | None, **kw: bool) -> Style:
    c = _color(value)
    return Style(color=c.rich_color if c is not None and c.a > 0 else None, **kw)


@dataclass
class Palette:
    ok: Style = field(default_factory=Style)
    warn: Style = field(default_factory=Style)
    bad: Style = field(default_factory=Style)
    info: Style = field(default_factory=Style)
    accent: Style = field(default_factory=Style)
    muted: Style = field(default_factory=Style)
    bold: Style = field(default_factory=lambda: Style(bold=True))
    free: Style = field(default_factory=Style)
    over: Style = field(default_factory=Style)
    holders: tuple[Style, ...] = (Style(),)

    @classmethod
    def from_variables(cls, v: Mapping[str, str]) -> "Palette":
        holders = tuple(_fg(v.get(f"holder-{i}")) for i in range(1, 9) if v.get(f"holder-{i}"))
        if not holders:
            holders = tuple(_fg(v.get(n)) for n in HOLDER_FALLBACK)
        return cls(
            ok=_fg(v.get("success")), warn=_fg(v.get("warning")), bad=_fg(v.get("error"), bold=True),
            info=_fg(v.get("primary")), accent=_fg(v.get("accent")),
            muted=_fg(v.get("text-muted") or v.get("foreground-darken-2"), dim=not v.get("text-muted")),
            free=_fg(v.get("gpu-free") or v.get("foreground-darken-3") or v.get("text-muted"), dim=True),
            over=_fg(v.get("quota-over") or v.get("warning")), holders=holders,
        )

    def holder(self, name: str) -> Style:
        """A stable colour per workload name, the same on every bar and every run."""
        return self.holders[zlib.crc32(name.encode()) % len(self.holders)]
