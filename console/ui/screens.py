"""Screens over the panes: help, describe / YAML text, and following logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Log, Static

from console.version import version


class HelpScreen(ModalScreen[None]):
    """Every key that works, with its binding id (the name to use in the config file's `keys:`)."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        t = Text()
        section = None
        for sec, keys, desc, bid in self.rows:
            if sec != section:
                if section is not None:
                    t.append("\n")
                t.append(f"{sec}\n", "bold")
                section = sec
            t.append(f"  {keys:<18}", "bold")
            t.append(f"{desc:<44}")
            t.append(f"{bid}\n", "dim")
        t.append("\nCommands (:)  projects gpus workloads nodes events · ns NAME|all · project NAME|all · ctx [NAME] · "
                 "theme [NAME] · q\n", "bold")
        t.append("Filter (/)    text · -l key=value,key2!=v · field:value (project: node: model: status: ...)\n")
        t.append("Actions (n s p ctrl+d, space marks) confirm in a dialog that opens on Cancel; each is planned, "
                 "dry-run and previewed first, and written to the audit log\n")
        t.append("Keys are remapped by binding id in the config file: keys: {row.logs: L}\n", "dim")
        with Vertical(id="help-body"):
            yield Static(f"Keys · gpuconsole {version()}", classes="screen-title")
            with VerticalScroll():
                yield Static(t, id="help-text")

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class TextScreen(Screen[None]):
    """A describe or YAML text, fetched fresh; scrolls with the usual keys."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="text.back"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="text.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="text.up"),
    ]

    def __init__(self, title: str, loader: Callable[[], Any], *, yaml_syntax: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.loader = loader
        self.yaml_syntax = yaml_syntax
        self.content = ""

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="screen-title")
        with VerticalScroll():
            yield Static("loading…", id="text-body")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="text")
    async def load(self) -> None:
        body = self.query_one("#text-body", Static)
        try:
            text = await self.loader()
        except Exception as e:  # shown in place; the console carries on
            self.content = f"cannot load: {e}"
            body.update(Text(self.content, style="bold"))
            return
        self.content = text
        if self.yaml_syntax:
            theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
            body.update(Syntax(text, "yaml", theme=theme, word_wrap=False, background_color="default"))
        else:
            body.update(Text(text))

    def action_scroll(self, n: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=n, animate=False)


class LogScreen(Screen[None]):
    """A pod's log, following; the stream ends when the screen closes."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="logs.back"),
        Binding("f", "toggle_follow", "Follow on/off", id="logs.follow"),
    ]
    MAX_LINES = 5000

    def __init__(self, title: str, stream: Callable[[], AsyncIterator[str]]) -> None:
        super().__init__()
        self.title_text = title
        self.stream = stream
        self.lines = 0

    def compose(self) -> ComposeResult:
        yield Static(self.title_text + " · following", classes="screen-title", id="log-title")
        yield Log(max_lines=self.MAX_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.follow()

    @work(exclusive=True, exit_on_error=False, group="logs")
    async def follow(self) -> None:
        log = self.query_one(Log)
        try:
            async for line in self.stream():
                log.write_line(line)
                self.lines += 1
        except Exception as e:
            log.write_line(f"--- log stream ended: {e}")
            return
        log.write_line("--- log stream ended")

    def action_toggle_follow(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = not log.auto_scroll
        state = "following" if log.auto_scroll else "paused"
        self.query_one("#log-title", Static).update(f"{self.title_text} · {state}")
