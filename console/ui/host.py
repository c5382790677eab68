"""What the UI helpers may use of the App that hosts them, as narrow interfaces.

The action keys and the command palette are driven by the App, but they do not import it: they see
only the few members named here, so the App depends on them and never the other way round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .pane_widget import Pane
from .panes.base import PaneContext
from .session import Session

PaletteEntry = tuple[str, str, Callable[[], Any]]   # (name, help, what choosing it does)


class ActionHost(Protocol):
    """The App as the action keys see it: the connection, the panes, dialogs, workers and messages."""

    session: Session | None
    view: str
    ctx: PaneContext

    @property
    def readonly(self) -> bool: ...

    def pane(self, name: str | None = None) -> Pane: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def push_screen(self, screen: Any, callback: Callable[[Any], Any] | None = None) -> Any: ...

    def run_worker(self, work: Awaitable[Any], *, group: str = "default", exit_on_error: bool = True) -> Any: ...

    def update_header(self) -> None: ...


class PaletteSource(Protocol):
    """The App as the command palette sees it: the entries to offer."""

    def palette_entries(self) -> list[PaletteEntry]: ...
