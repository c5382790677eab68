"""A pane: title with counts and filter, a state line (sync, forbidden, unreachable), the table, and a
detail line for the row under the cursor.

Keyed changes are applied at once when the pane is on screen and remembered otherwise, so hidden panes
cost nothing per flush and catch up in one step when shown.

While a list the pane's figures come from is under way, every cell that is not a fact of the row's own
object shows `…`, and the title's count does too; during a re-list the last complete figures stay,
dimmed, and the title says they are stale.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from widgets.glyphs import current as G
from widgets.vtable import VirtualTable

from .filter import Filter, FilterError, parse_filter
from .panes.base import Drill, PaneModel

STALE = Style(dim=True)


class Pane(Vertical):
    def __init__(self, model: PaneModel, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = model
        self.typed = ""                   # the `/` filter text
        self.drill: Drill | None = None   # the drill-down that led here
        self.scope: tuple[tuple[str, frozenset[str]], ...] = ()  # `:ns` / `:project`: field terms on every filter
        self.scope_label = ""             # how the title names the scope ("ns runai-a")
        self._stale: set[Hashable] = set()
        self._reorder = True
        self.active = False
        self.state_message = ""
        self._summary: str | None = None  # recomputed only after the rows changed (it walks every row)
        self._shown_summary = ""

    def compose(self) -> ComposeResult:
        yield Static(self.model.title, classes="pane-title")
        yield Static("", classes="pane-state -hidden")
        yield VirtualTable(self.model.columns, self.cells, id=f"table-{self.model.name}")
        yield Static("", classes="pane-detail")

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def on_mount(self) -> None:
        self.table.sort_column = self.model.sort

    # ------------------------------------------------------------------ data
    def cells(self, key: Hashable) -> list[Text | str]:
        """The model's cells, with `…` for what is not known yet and dimmed figures while stale."""
        m = self.model
        cells = list(m.cells(key))
        known = m.figures_known()
        if known and not m.figures_stale():
            return cells
        own = m.own(key)
        for i, col in enumerate(m.columns[:len(cells)]):
            if col.key in own:
                continue
            if not known:
                cells[i] = Text(G().unknown, m.ctx.palette.muted)
            else:
                c = cells[i]
                cells[i] = c.copy() if isinstance(c, Text) else Text(c)
                cells[i].stylize(STALE)
        return cells

    def sync_changed(self) -> None:
        """What is known changed: every row, the title and the detail render again."""
        self._summary = None
        self.table.invalidate()
        if self.active:
            self.refresh_chrome()

    def absorb(self, upserts: Iterable[Hashable], removed: Iterable[Hashable]) -> None:
        changed, reorder = self.model.absorb(upserts, removed)
        if changed:
            self._summary = None
        self._stale |= changed
        self._reorder = self._reorder or reorder
        if self.active:
            self.catch_up()

    @property
    def behind(self) -> bool:
        """Changes are waiting for this pane (a re-order or summary the lock was busy for, or stale rows)."""
        return self._reorder or bool(self._stale) or self._summary is None

    def catch_up(self, force: bool = False) -> None:
        table = self.table
        if self._reorder or force:
            # The order walks the model, which the informers' thread writes: the lock is only tried, and
            # when it is busy the rows stay as they are until the next flush (which holds it) orders them.
            lock = self.model.ctx.lock
            if lock.acquire(blocking=False):
                try:
                    keys = self.model.order()
                finally:
                    lock.release()
                table.set_order(keys)
                self._reorder = False
            else:
                self._reorder = True
        if self._stale:
            table.invalidate(self._stale)
            self._stale = set()
        self.refresh_chrome()

    def rebuild(self) -> None:
        self._summary = None
        self._reorder = True
        self._stale = set()
        self.table.invalidate()
        if self.active:
            self.catch_up()

    def refresh_chrome(self) -> None:
        m = self.model
        title = Text(m.title, style="bold")
        shown = len(self.table)
        title.append(f" [{shown}]" if m.rows_known() else f" [{G().unknown}]")
        if m.figures_known() and m.figures_stale():
            title.append(" · stale: re-listing", style=m.ctx.palette.warn)
        if self.scope_label:
            title.append(f" · {self.scope_label}")
        if self.drill is not None:
            title.append(f" · {self.drill.field}: {self.drill.crumb}")
        if self.typed:
            title.append(f" · /{self.typed}")
        sort = f" · sort {m.sort}{' ' + G().sort_desc if m.reverse else ''}"
        title.append(sort)
        if self._summary is None and m.ctx.lock.acquire(blocking=False):  # busy: the last one, till next flush
            try:
                self._summary = self._shown_summary = m.summary()
            except Exception as e:  # a summary must never break the pane
                self._summary = self._shown_summary = f"({type(e).__name__})"
            finally:
                m.ctx.lock.release()
        summary = self._shown_summary
        if summary:
            title.append(f" · {summary}", style="dim")
        part = self._part(".pane-title")
        if part is None:
            return
        _show(part, title)
        self._update_detail()

    def _part(self, selector: str) -> Static | None:
        """One of the pane's own lines, or None while they are not mounted (starting, or the App closing:
        a worker that finishes then may still ask the pane to redraw)."""
        found = self.query(selector)
        return found.first(Static) if found else None

    def _update_detail(self) -> None:
        try:
            m = self.model
            if m.figures_known() or self.table.cursor_key is None:
                text = m.detail(self.table.cursor_key)
            else:
                cells = m.cells(self.table.cursor_key)
                first = cells[0].plain if cells and isinstance(cells[0], Text) else str(cells[0] if cells else "")
                text = Text(first.strip(" ▾▸•└"), m.ctx.palette.bold)
                text.append(" · its figures show when every list is complete (the line under the header)",
                            m.ctx.palette.muted)
        except Exception as e:
            text = Text(f"{type(e).__name__}: {e}")
        part = self._part(".pane-detail")
        if part is not None:
            _show(part, text)

    def on_virtual_table_cursor_moved(self, event: VirtualTable.CursorMoved) -> None:
        self._update_detail()

    def set_state(self, message: str) -> None:
        if message == self.state_message:
            return
        st = self._part(".pane-state")
        if st is None:
            return
        self.state_message = message
        st.update(message)
        st.set_class(not message, "-hidden")
        self.table.empty_message = message or "nothing here"
        self.table.refresh()

    # ------------------------------------------------------------------ filter, sort, drill
    def effective_filter(self, typed: str | None = None, drill: Drill | None | bool = False) -> Filter:
        typed = self.typed if typed is None else typed
        d = self.drill if drill is False else drill
        f = parse_filter(typed, self.model.fields)
        if d is not None:
            f = f.with_fields(d.field, d.values)  # type: ignore[union-attr]
        for name, values in self.scope:
            f = f.also(name, values)
        return f

    def set_scope(self, terms: tuple[tuple[str, frozenset[str]], ...], label: str) -> None:
        """Narrow the pane to a namespace or project (field terms every filter then carries); () clears."""
        self.scope, self.scope_label = terms, label
        self.model.filter = self.effective_filter()
        self._summary = None
        self._reorder = True
        if self.active:
            self.catch_up()

    def set_filter(self, typed: str, drill: Drill | None | bool = False) -> str | None:
        """Apply filter text (and drill); returns an error message and changes nothing when it is bad."""
        try:
            f = self.effective_filter(typed, drill)
        except FilterError as e:
            return str(e)
        self.typed = typed
        if drill is not False:
            self.drill = drill  # type: ignore[assignment]
        self.model.filter = f
        self._reorder = True
        if self.active:
            self.catch_up()
        return None

    def sort_next(self) -> None:
        self.model.cycle_sort()
        self._sorted()

    def sort_reverse(self) -> None:
        self.model.reverse = not self.model.reverse
        self._sorted()

    def _sorted(self) -> None:
        self.table.sort_column = self.model.sort
        self.table.sort_reverse = self.model.reverse
        self.table.invalidate()
        self._reorder = True
        self.catch_up()


def _show(line: Static, text: Text) -> None:
    """A one-line part (title, detail): redrawn only when its text changed, and never laid out again (its
    height is fixed), so a cursor move repaints one line instead of the whole screen."""
    key = (text.plain, tuple(text.spans), str(text.style))
    if getattr(line, "_shown", None) != key:
        line._shown = key  # type: ignore[attr-defined]
        line.update(text, layout=False)
