"""A pane: title with counts and filter, a state line (sync, forbidden, unreachable), the table, and a
detail line for the row under the cursor.

Keyed changes are applied at once when the pane is on screen and remembered otherwise, so hidden panes
cost nothing per flush and catch up in one step when shown.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from widgets.vtable import VirtualTable

from .filter import Filter, FilterError, parse_filter
from .panes.base import Drill, PaneModel


class Pane(Vertical):
    def __init__(self, model: PaneModel, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = model
        self.typed = ""                   # the `/` filter text
        self.drill: Drill | None = None   # the drill-down that led here
        self._stale: set[Hashable] = set()
        self._reorder = True
        self.active = False
        self.state_message = ""
        self._summary: str | None = None  # recomputed only after the rows changed (it walks every row)

    def compose(self) -> ComposeResult:
        yield Static(self.model.title, classes="pane-title")
        yield Static("", classes="pane-state -hidden")
        yield VirtualTable(self.model.columns, self.model.cells, id=f"table-{self.model.name}")
        yield Static("", classes="pane-detail")

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def on_mount(self) -> None:
        self.table.sort_column = self.model.sort

    # ------------------------------------------------------------------ data
    def absorb(self, upserts: Iterable[Hashable], removed: Iterable[Hashable]) -> None:
        changed, reorder = self.model.absorb(upserts, removed)
        if changed:
            self._summary = None
        self._stale |= changed
        self._reorder = self._reorder or reorder
        if self.active:
            self.catch_up()

    def catch_up(self, force: bool = False) -> None:
        table = self.table
        if self._reorder or force:
            with self.model.ctx.lock:  # the order walks the model, which the informers' thread writes
                keys = self.model.order()
            table.set_order(keys)
            self._reorder = False
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
        title.append(f" [{shown}]")
        if self.drill is not None:
            title.append(f" · {self.drill.field}: {self.drill.crumb}")
        if self.typed:
            title.append(f" · /{self.typed}")
        sort = f" · sort {m.sort}{' ▼' if m.reverse else ''}"
        title.append(sort)
        if self._summary is None:
            try:
                with m.ctx.lock:
                    self._summary = m.summary()
            except Exception as e:  # a summary must never break the pane
                self._summary = f"({type(e).__name__})"
        summary = self._summary
        if summary:
            title.append(f" · {summary}", style="dim")
        self.query_one(".pane-title", Static).update(title)
        self._update_detail()

    def _update_detail(self) -> None:
        try:
            text = self.model.detail(self.table.cursor_key)
        except Exception as e:
            text = Text(f"{type(e).__name__}: {e}")
        self.query_one(".pane-detail", Static).update(text)

    def on_virtual_table_cursor_moved(self, event: VirtualTable.CursorMoved) -> None:
        self._update_detail()

    def set_state(self, message: str) -> None:
        if message == self.state_message:
            return
        self.state_message = message
        st = self.query_one(".pane-state", Static)
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
        return f

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
