"""The footer line: the keys that work in this view, with the keys now in effect after remaps.

Textual's Footer recomposes a widget per key whenever focus moves, which costs a frame's worth of time on
every view switch; this is one line of text, re-rendered only when it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class KeyHints(Static):
    DEFAULT_CSS = """
    KeyHints { dock: bottom; height: 1; background: $panel; color: $foreground; padding: 0 1;
               text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self._last: tuple[tuple[str, str], ...] = ()
        self.key_style = "bold"

    def show(self, items: Sequence[tuple[str, str]], key_style: str = "bold") -> None:
        items = tuple(items)
        if items == self._last and key_style == self.key_style:
            return
        self._last, self.key_style = items, key_style
        t = Text()
        for i, (key, desc) in enumerate(items):
            if i:
                t.append("  ")
            t.append(key, key_style)
            t.append(f" {desc}")
        self.update(t, layout=False)   # one docked line: the height never changes

    @property
    def items(self) -> tuple[tuple[str, str], ...]:
        return self._last
