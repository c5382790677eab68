"""A virtualised, keyed table on Textual's line API: only the visible rows are ever rendered.

DataTable re-measures and invalidates its caches on every mutation and its `clear()` loses the cursor,
which does not keep up with 16,000 live GPU rows. Here the owner hands in the row order (a list of keys)
and a function that renders one row's cells; the table caches rendered rows by key, keeps the cursor on
the same key when the order changes, and never moves the scroll position on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Key = Hashable
Cells = Sequence[Text | str]
CACHE_PAGES = 6      # rendered rows kept: this many screens' worth around the cursor ...
CACHE_MIN = 256      # ... and at least this many


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    align: str = "left"          # left | right
    priority: int = 0            # lower numbers are dropped last when the terminal is narrow
    flex: bool = False           # takes what is left of the width
    sortable: bool = True


def layout(columns: Sequence[Column], width: int) -> list[tuple[int, int]]:
    """(column index, width) for the columns that fit, in display order; a flex column takes the rest."""
    chosen: set[int] = set()
    used = 0
    for i in sorted(range(len(columns)), key=lambda i: (columns[i].priority, i)):
        need = columns[i].width + (1 if chosen else 0)
        if used + need <= width or not chosen:
            chosen.add(i)
            used += need
    out = [(i, columns[i].width) for i in range(len(columns)) if i in chosen]
    spare = width - used
    flex = next((n for n, (i, _) in enumerate(out) if columns[i].flex), None)
    if spare > 0 and flex is not None:
        i, w = out[flex]
        out[flex] = (i, w + spare)
    return out


class VirtualTable(ScrollView, can_focus=True):
    """Rows by key in a given order; a fixed header line; a cursor that follows its key."""

    DEFAULT_CSS = """
    VirtualTable { background: $surface; scrollbar-size-vertical: 1; }
    VirtualTable > .vtable--header { text-style: bold; color: $text-primary; background: $panel; }
    VirtualTable > .vtable--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .vtable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    VirtualTable > .vtable--sorted { text-style: bold underline; color: $accent; background: $panel; }
    VirtualTable > .vtable--empty { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {"vtable--header", "vtable--cursor", "vtable--sorted", "vtable--empty"}

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "edge(0)", "Top", show=False, id="table.top"),
        Binding("end,G", "edge(1)", "Bottom", show=False, id="table.bottom"),
    ]

    class CursorMoved(Message):
        """The cursor is on another key (or on none)."""

        def __init__(self, table: "VirtualTable", key: Key | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> "VirtualTable":
            return self.table

    def __init__(self, columns: Sequence[Column], render_cells: Callable[[Key], Cells], *,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.render_cells = render_cells
        self.order: list[Key] = []
        self._index_of: dict[Key, int] | None = {}   # key → row, built when first asked after a new order
        self._cursor = 0
        self._cursor_key: Key | None = None
        self._cache: dict[Key, Strip] = {}
        self._layout: list[tuple[int, int]] = []
        self._layout_width = -1
        self._styles: tuple[Style, Style, Style, Style, Style] | None = None
        self._base_style: Style | None = None
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.empty_message = ""

    # ------------------------------------------------------------------ data
    @property
    def cursor_key(self) -> Key | None:
        return self._cursor_key

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def __len__(self) -> int:
        return len(self.order)

    def set_order(self, keys: list[Key]) -> None:
        """New row order. The cursor stays on its key if the key is still there, else on the same line."""
        self.order = keys
        self._index_of = None
        old_key = self._cursor_key
        at = self._find(old_key) if old_key is not None else None
        if at is not None:
            self._cursor = at
        else:
            self._cursor = min(self._cursor, max(0, len(keys) - 1))
        self._cursor_key = keys[self._cursor] if keys else None
        self.virtual_size = Size(self._layout_width if self._layout_width > 0 else self.size.width, len(keys) + 1)
        if self._cursor_key != old_key:
            self.post_message(self.CursorMoved(self, self._cursor_key))
        self.refresh()

    def invalidate(self, keys: Any = None) -> None:
        """Forget rendered rows (all, or these keys) and repaint if any is on screen."""
        if keys is None:
            self._cache.clear()
            self.refresh()
            return
        top = int(self.scroll_offset.y)
        on_screen = set(self.order[top:top + self.size.height + 1])
        hit = False
        for k in keys:
            if self._cache.pop(k, None) is not None and k in on_screen:
                hit = True
        if hit:
            self.refresh()

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self._layout_width = -1
        self.invalidate()

    def visible_cells(self, key: Key) -> list[str]:
        """The plain text of a row's cells, as laid out now (tests read panes through this)."""
        return [c.plain if isinstance(c, Text) else str(c) for c in self.render_cells(key)]

    # ------------------------------------------------------------------ cursor
    def move_to(self, index: int, *, center: bool = False) -> None:
        if not self.order:
            return
        index = max(0, min(len(self.order) - 1, index))
        old_key = self._cursor_key
        old_row = self._cursor
        top = int(self.scroll_offset.y)
        self._cursor = index
        self._cursor_key = self.order[index]
        self._scroll_to_cursor(center)
        if int(self.scroll_offset.y) == top:
            self.refresh_lines(old_row + 1)  # virtual line of row r is r + 1 (line 0 is the header)
            self.refresh_lines(index + 1)
        else:
            self.refresh()
        if self._cursor_key != old_key:
            self.post_message(self.CursorMoved(self, self._cursor_key))

    def move_to_key(self, key: Key) -> bool:
        i = self._find(key)
        if i is None:
            return False
        self.move_to(i, center=True)
        return True

    def _scroll_to_cursor(self, center: bool = False) -> None:
        rows_visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if center and not (top <= self._cursor < top + rows_visible):
            self.scroll_to(y=max(0, self._cursor - rows_visible // 2), animate=False)
        elif self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + rows_visible:
            self.scroll_to(y=self._cursor - rows_visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self._cursor + direction * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.order) - 1 if end else 0)

    def on_click(self, event: Click) -> None:
        row = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self.order):
            self.move_to(row)

    # ------------------------------------------------------------------ rendering
    def on_resize(self) -> None:
        # Rendered rows stay valid unless the width changed (`_ensure_layout` checks that): a pane that is
        # hidden and shown again keeps its cache.
        self.virtual_size = Size(self.size.width, len(self.order) + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None  # focus changes restyle the cursor only; cells are dropped if the base changed

    def _style_set(self) -> tuple[Style, Style, Style, Style, Style]:
        """Base, header, sorted header, cursor overlay, empty-message styles; resolved once per style change
        (resolving them walks the DOM, which per line would cost more than the line)."""
        if self._styles is None:
            old_base = self._base_style
            cur = self.get_component_rich_style("vtable--cursor")
            self._styles = (self.rich_style, self.get_component_rich_style("vtable--header"),
                            self.get_component_rich_style("vtable--sorted"), Style(bgcolor=cur.bgcolor, bold=True),
                            self.get_component_rich_style("vtable--empty"))
            self._base_style = self._styles[0]
            if old_base is not None and old_base != self._base_style:
                self._cache.clear()
        return self._styles

    def _ensure_layout(self) -> list[tuple[int, int]]:
        width = self.scrollable_content_region.width or self.size.width
        if width != self._layout_width:
            self._layout_width = width
            self._layout = layout(self.columns, width)
            self._cache.clear()
        return self._layout

    def _cells_strip(self, cells: Cells, base: Style | None = None) -> Strip:
        segs: list[Segment] = []
        total = 0
        console = self.app.console
        columns = self.columns
        for n, (i, w) in enumerate(self._layout):
            if n:
                segs.append(Segment(" "))
                total += 1
            col = columns[i]
            cell = cells[i] if i < len(cells) else ""
            if isinstance(cell, str) and cell.isascii() and cell.isprintable():
                # Fast path for plain cells: no Text object, no measuring.
                if len(cell) > w:
                    cell = cell[:w - 1] + "…" if w > 1 else cell[:w]
                segs.append(Segment(cell.rjust(w) if col.align == "right" else cell.ljust(w)))
            else:
                text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
                text.truncate(w, overflow="ellipsis")
                pad = w - text.cell_len
                if pad > 0:
                    if col.align == "right":
                        text.pad_left(pad)
                    else:
                        text.pad_right(pad)
                segs.extend(text.render(console))
            total += w
        if base is not None:
            segs = list(Segment.apply_style(segs, style=base))
        return Strip(segs, total)

    def _header_strip(self) -> Strip:
        _, style, sorted_style, _, _ = self._style_set()
        cells: list[Text] = []
        for col in self.columns:
            title = col.title
            st = style
            if col.key == self.sort_column:
                title += " ▼" if self.sort_reverse else " ▲"
                st = sorted_style
            cells.append(Text(title, style=st))
        return self._cells_strip(cells, style)

    @property
    def _index(self) -> dict[Key, int]:
        """Key → row; rebuilt lazily, since a flush may set a new order of 18,000 rows several times a
        second and only a jump to a key needs it."""
        if self._index_of is None:
            self._index_of = {k: i for i, k in enumerate(self.order)}
        return self._index_of

    def _find(self, key: Key) -> int | None:
        """The row of `key`: from the index when built, else one scan in C (the cursor after a new order)."""
        if self._index_of is not None:
            return self._index_of.get(key)
        try:
            return self.order.index(key)
        except ValueError:
            return None

    def _prune(self, row: int) -> None:
        """Keep the rendered rows of the pages around `row`: each cached row is a dozen objects the cyclic
        GC rescans on every full collection, and scrolling through 18,000 rows would keep them all."""
        reach = CACHE_PAGES * max(1, self.size.height) // 3   # two thirds kept: no prune on every new row
        near = set(self.order[max(0, row - reach):row + reach + 1])
        self._cache = {k: v for k, v in self._cache.items() if k in near}

    def render_line(self, y: int) -> Strip:
        self._ensure_layout()
        base, header, _, cursor, empty = self._style_set()
        width = self._layout_width
        if y == 0:
            return self._header_strip().extend_cell_length(width, header)
        row = int(self.scroll_offset.y) + y - 1
        if not self.order:
            if y == 2 and self.empty_message:
                return Strip([Segment(("  " + self.empty_message)[:width], empty)]).extend_cell_length(width)
            return Strip.blank(width, base)
        if row < 0 or row >= len(self.order):
            return Strip.blank(width, base)
        key = self.order[row]
        strip = self._cache.get(key)
        if strip is None:
            try:
                cells = self.render_cells(key)
            except Exception as e:  # a row that cannot render must not take the table down
                cells = [Text(f"<cannot render row: {type(e).__name__}: {e}>")]
            strip = self._cells_strip(cells, base).extend_cell_length(width, base)
            self._cache[key] = strip
            if len(self._cache) > max(CACHE_MIN, CACHE_PAGES * self.size.height):
                self._prune(row)
        if row == self._cursor:
            # Background only, laid over the cells, so coloured bars stay readable on the cursor row.
            strip = Strip(list(Segment.apply_style(list(strip), post_style=cursor)), strip.cell_length)
        return strip
