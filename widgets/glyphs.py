"""Every glyph the console draws with, as one table chosen at start: Unicode, or ASCII for a terminal whose
locale is not UTF-8 (LANG=C, LC_ALL=POSIX…), where blocks and arrows would come out as boxes of `?`.

The bars (bars.py), sparklines (sparkline.py), the header's resource marks and the panes' markers read
`current()` when they draw. Where colour cannot tell a GPU's holders apart (NO_COLOR, or ASCII), each holder
gets its own fill in the bar and the same glyph before its name in the holders column.

`to_ascii` is the net under the table: Textual's own borders, scrollbars and any text written with `·`, `…`
or `→` map to one ASCII character per cell, so the screen's layout is unchanged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

from rich.cells import cell_len


@dataclass(frozen=True)
class Glyphs:
    ascii: bool
    # bars: a GPU's holders and free part; a project's use against its quota and limit
    full: str
    free: str
    unused: str
    limit: str
    releasing: str                 # a share still held by a pod being deleted
    over: str                      # quota bar: use above quota (colour alone says it otherwise)
    fills: tuple[str, ...]         # one per holder, when colour cannot tell them apart
    holder: str                    # before a holder's name, when colour tells them apart
    # sparklines and history plots
    blocks: str                    # 8 levels, low to high
    eighths: str                   # 9: empty, then 1/8 … 8/8 of a cell
    # pane markers
    expanded: str
    collapsed: str
    leaf: str
    child: str
    revision: str
    idle: str
    warn: str
    reclaim: str                   # preemptible / reclaimed next
    mismatch: str
    local: str                     # this host (the GPUs NVML sees here)
    pending: str                   # an action sent, the cluster not there yet
    marked: str
    ok: str
    refused: str
    terminating: str
    at_max: str
    scaled_to_zero: str
    sort_desc: str
    unknown: str                   # a figure not known yet
    infinity: str
    degree: str
    sep: str
    # header: the state of each watched resource
    synced: str
    syncing: str
    reconnecting: str
    forbidden: str
    absent: str

    def fill(self, i: int) -> str:
        """The fill of the i-th holder on a GPU (all `full` while colour tells them apart)."""
        return self.fills[i % len(self.fills)]

    def holder_mark(self, i: int) -> str:
        """The mark before the i-th holder's name: its bar fill when colour cannot tell holders apart."""
        return self.holder if len(self.fills) == 1 else self.fill(i)

    def state(self, state: str) -> str:
        return {"synced": self.synced, "syncing": self.syncing, "relisting": self.syncing,
                "reconnecting": self.reconnecting, "forbidden": self.forbidden, "absent": self.absent}.get(state, "?")


UNICODE = Glyphs(
    ascii=False, full="█", free="·", unused="░", limit="│", releasing="▒", over="█", fills=("█",), holder="■",
    blocks="▁▂▃▄▅▆▇█", eighths=" ▁▂▃▄▅▆▇█",
    expanded="▾", collapsed="▸", leaf="•", child="└", revision="◇", idle="◌", warn="⚠", reclaim="⇣",
    mismatch="≠", local="⌂", pending="⧗", marked="◆", ok="✓", refused="✗", terminating="⌛", at_max="⤒", scaled_to_zero="○",
    sort_desc="▼", unknown="…", infinity="∞", degree="°", sep="·",
    synced="✓", syncing="…", reconnecting="↻", forbidden="⊘", absent="–",
)
# NO_COLOR on a UTF-8 terminal: the same glyphs, each holder its own fill, over-quota use its own shade.
MONO_FILLS = ("█", "▓", "▚", "▞", "▙", "▟", "▛", "▜")
ASCII = Glyphs(
    ascii=True, full="#", free=".", unused=":", limit="|", releasing="%", over="!",
    fills=("#", "=", "@", "+", "*", "&", "$", "o"), holder="#",
    blocks="_.-:=+*#", eighths=" ._-:=+*#",
    expanded="-", collapsed="+", leaf="*", child="`", revision=":", idle="o", warn="!", reclaim="v",
    mismatch="#", local="H", pending="@", marked="*", ok="+", refused="x", terminating="%", at_max="^", scaled_to_zero="0",
    sort_desc="v", unknown="...", infinity="inf", degree="", sep="|",
    synced="+", syncing="~", reconnecting="r", forbidden="x", absent="-",
)

_current = UNICODE


def current() -> Glyphs:
    return _current


def select(*, ascii: bool = False, mono: bool = False) -> Glyphs:
    """Choose the table for this run (at start, before the first frame); `mono`: no colour to tell by."""
    global _current
    if ascii:
        _current = ASCII
    elif mono:
        _current = replace(UNICODE, fills=MONO_FILLS, over="▓")
    else:
        _current = UNICODE
    return _current


# ------------------------------------------------------------------------------------------- the ASCII net
_BY_GLYPH: dict[str, str] = {}
for _ascii_value, _unicode_value in ((getattr(ASCII, f), getattr(UNICODE, f)) for f in (
        "full", "free", "unused", "limit", "releasing", "holder", "expanded", "collapsed", "leaf", "revision",
        "idle", "warn", "reclaim", "mismatch", "pending", "marked", "ok", "refused", "terminating", "at_max",
        "scaled_to_zero", "sort_desc", "sep", "reconnecting", "forbidden", "absent", "local")):
    if len(_ascii_value) == 1 and len(_unicode_value) == 1:
        _BY_GLYPH[_unicode_value] = _ascii_value
_BY_GLYPH.update({
    "…": ".", "×": "x", "°": "o", "–": "-", "—": "-", "∞": "~", "›": ">", "‹": "<", "→": ">", "←": "<",
    "↑": "^", "↓": "v", "▲": "^", "▼": "v", "▶": ">", "◀": "<", "▓": "@", "▒": "%", "░": ":", "●": "*",
    "◆": "*", "■": "#", "✔": "+", "✘": "x", "⏎": "<", "“": '"', "”": '"', "‘": "'", "’": "'", "\u00a0": " ",
    "⌛": "%", "⧗": "@", "⤒": "^", "○": "o", "◌": "o", "◇": ":", "≠": "#", "⇣": "v", "⊘": "x", "↻": "r",
})
for _i, _g in enumerate(UNICODE.blocks):
    _BY_GLYPH[_g] = ASCII.blocks[_i]
for _g in MONO_FILLS[1:]:
    _BY_GLYPH[_g] = "@"


def _ascii_for(ch: str) -> str:
    hit = _BY_GLYPH.get(ch)
    if hit is None:
        name = unicodedata.name(ch, "")
        if name.startswith("BOX DRAWINGS"):
            hit = "-" if "HORIZONTAL" in name and "VERTICAL" not in name else \
                "|" if "VERTICAL" in name and "HORIZONTAL" not in name else "+"
        elif name.startswith(("BLOCK", "UPPER", "LOWER", "LEFT", "RIGHT", "FULL BLOCK", "QUADRANT")):
            hit = "#"
        else:
            decomposed = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            hit = decomposed[:1] or "?"
        hit *= max(1, cell_len(ch))  # a wide character keeps its two cells
        _BY_GLYPH[ch] = hit
    return hit


_TABLE: dict[int, str] = {}  # str.translate's table: every character met so far, filled as new ones appear


def to_ascii(text: str) -> str:
    """`text` with every non-ASCII character replaced, cell for cell (the layout does not move)."""
    if text.isascii():
        return text
    out = text.translate(_TABLE)
    if not out.isascii():
        for c in set(out):
            if c >= "\x80":
                _TABLE[ord(c)] = _ascii_for(c)
        out = out.translate(_TABLE)
    return out
