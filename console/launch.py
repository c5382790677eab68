"""Open the interactive console on one kubeconfig context: config file, theme check, then the App.

Called by the command line for a real cluster and by the demo for the simulated one.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from textual.theme import BUILTIN_THEMES

import themes
from console import config as console_config
from console.app import ClusterConsole
from console.kube import config as kube_config
from console.model.local_source import LocalSource, fake_mode
from console.ui import terminal
from console.ui.session import LiveSession, LocalOnlySession, Session
from widgets import glyphs
from widgets.vtable import VirtualTable


def run_console(args: argparse.Namespace, *, kubeconfig: str | None, context: str | None,
                fake_nvml: str | None = None) -> int:
    """The interactive console on one kubeconfig context (the demo passes the simulator's), or with
    `--local` on no cluster at all. `fake_nvml`: sample the fake NVML (the demo) whatever the environment
    says; else GPUCONSOLE_FAKE_NVML decides."""
    ids = [b.id for b in ClusterConsole.BINDINGS if b.id]
    ids += [b.id for b in VirtualTable.BINDINGS if b.id]
    try:
        cfg = console_config.load(getattr(args, "config", None), binding_ids=ids)
    except console_config.ConfigError as e:
        print(f"gpuconsole: {e.path}:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    theme = getattr(args, "theme", None)
    if theme:
        known = set(themes.THEME_NAMES) | set(BUILTIN_THEMES)
        if theme not in known:
            print(f"gpuconsole: unknown theme {theme!r}; choose one of {', '.join(sorted(known))}", file=sys.stderr)
            return 2

    try:
        terminal.check_env(os.environ)
    except terminal.GlyphsError as e:
        print(f"gpuconsole: {e}", file=sys.stderr)
        return 2
    caps = terminal.detect(os.environ, glyphs=cfg.glyphs)
    glyphs.select(ascii=not caps.utf8, mono=caps.no_color)  # one table for the whole run, before any frame
    if not theme and not cfg.theme and not caps.truecolor:
        theme = terminal.ANSI_THEME  # the terminal's own colours where it cannot show the themes' 24-bit ones
    logging.getLogger("gpuconsole.ui").info(
        "terminal: locale %r, %s glyphs, %s, %s; theme %s", caps.locale or "C", "unicode" if caps.utf8 else "ascii",
        "truecolor" if caps.truecolor else "no truecolor", "NO_COLOR" if caps.no_color else "colour",
        theme or cfg.theme or "default")
    local_only = bool(getattr(args, "local", False))

    def contexts() -> list[str]:
        return [] if local_only else kube_config.list_contexts(kubeconfig)[0]

    def session(ctx: str | None) -> Session:
        return LocalOnlySession() if local_only else LiveSession(kubeconfig, ctx)

    def local_source() -> LocalSource:
        return LocalSource(fake_nvml or fake_mode())

    if local_only:
        cfg.default_view = "local"
    app = ClusterConsole(session, context=context, config=cfg, readonly=bool(getattr(args, "readonly", False)),
                         theme=theme, contexts=contexts, local_factory=local_source, ascii_only=not caps.utf8)
    app.run()
    return 0
