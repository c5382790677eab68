"""What the terminal can show, read from the environment the user set: colour, truecolor, UTF-8.

- `NO_COLOR` (no-color.org): Textual turns the App monochrome; the glyph table then tells GPU holders apart
  by their fills (widgets/glyphs.py).
- Truecolor only when `COLORTERM` says `truecolor`/`24bit` (or TERM ends in `-direct`): TERM=xterm, screen, tmux
  and their -256color forms without it get the `gpuconsole-ansi` theme (the terminal's own 16 colours) unless
  the user chose a theme.
- UTF-8 from the first of LC_ALL, LC_CTYPE, LANG that is set. Python's C-locale coercion (PEP 538) writes
  `LC_CTYPE=C.UTF-8` into os.environ at start when the locale was C or POSIX, and turns on its UTF-8 mode
  (PEP 540) for the same reason, so a `C.UTF-8` LC_CTYPE next to an active UTF-8 mode is Python's, not the
  user's, and is passed over. Not UTF-8: ASCII glyphs. `GPUCONSOLE_GLYPHS=ascii|unicode` or the config key
  `glyphs:` force either.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter, Monochrome, monochrome_style

from widgets.glyphs import to_ascii

GLYPH_MODES = ("auto", "unicode", "ascii")
ENV_GLYPHS = "GPUCONSOLE_GLYPHS"
ANSI_THEME = "gpuconsole-ansi"


@dataclass(frozen=True)
class TerminalCaps:
    no_color: bool
    truecolor: bool
    utf8: bool
    locale: str              # the locale setting the answer came from ("" when none is set: C)


def user_locale(environ: Mapping[str, str], utf8_mode: bool) -> str:
    """The LC_ALL / LC_CTYPE / LANG value the user set, passing over the LC_CTYPE Python's coercion wrote."""
    coerced = utf8_mode and environ.get("LC_CTYPE", "") in ("C.UTF-8", "C.utf8")
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        if var == "LC_CTYPE" and coerced:
            continue
        value = environ.get(var, "")
        if value:
            return value
    return ""


def is_utf8(locale: str) -> bool:
    codeset = locale.partition(".")[2].partition("@")[0].lower().replace("-", "")
    return codeset == "utf8"


def detect(environ: Mapping[str, str], utf8_mode: bool | None = None, glyphs: str = "auto") -> TerminalCaps:
    """The terminal's capabilities; `glyphs` (the config key) and GPUCONSOLE_GLYPHS force the glyph choice."""
    if utf8_mode is None:
        utf8_mode = bool(sys.flags.utf8_mode)
    loc = user_locale(environ, utf8_mode)
    forced = environ.get(ENV_GLYPHS, "").strip().lower() or glyphs
    utf8 = is_utf8(loc) if forced not in ("unicode", "ascii") else forced == "unicode"
    colorterm = environ.get("COLORTERM", "").lower()
    truecolor = colorterm in ("truecolor", "24bit") or environ.get("TERM", "").endswith("-direct")
    return TerminalCaps(no_color="NO_COLOR" in environ, truecolor=truecolor, utf8=utf8, locale=loc)


class GlyphsError(ValueError):
    """GPUCONSOLE_GLYPHS names no glyph mode."""


def check_env(environ: Mapping[str, str]) -> None:
    value = environ.get(ENV_GLYPHS, "").strip().lower()
    if value and value not in GLYPH_MODES:
        raise GlyphsError(f"{ENV_GLYPHS}={environ[ENV_GLYPHS]!r}: use {', '.join(GLYPH_MODES)}")


class AsciiOnly(LineFilter):
    """Every character the App writes as ASCII, cell for cell: Textual's borders and scrollbars included."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [s if s.control or s.text.isascii() else Segment(to_ascii(s.text), s.style, None)
                for s in segments]


class PlainMonochrome(Monochrome):
    """Textual's NO_COLOR filter, for segments without a style too (Textual 8.2's reads `style.color` of every
    segment, and our tables draw unstyled padding: the App would stop at its first frame)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [Segment(text, monochrome_style(style) if style is not None else None, None)
                for text, style, _ in segments]


def safe_filters(filters: list[LineFilter]) -> list[LineFilter]:
    """The App's line filters with Textual's Monochrome swapped for `PlainMonochrome` (same switch)."""
    return [PlainMonochrome(enabled=f.enabled) if type(f) is Monochrome else f for f in filters]
