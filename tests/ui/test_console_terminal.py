"""Terminals without UTF-8, truecolor or colour at all: what is detected from the environment the user set, the
glyph table it picks, and the console run for real in a pseudo-terminal under LANG=C and under NO_COLOR."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import struct
import sys
import threading
import time
from pathlib import Path

import fcntl
import pytest
import termios
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from console.ui.terminal import AsciiOnly, GlyphsError, PlainMonochrome, check_env, detect, user_locale
from widgets import glyphs
from widgets.bars import quota_bar, share_bar
from widgets.sparkline import plot, sparkline


@pytest.fixture(autouse=True)
def _unicode_after() -> None:
    yield
    glyphs.select()


# --------------------------------------------------------------------------------------------- detection
@pytest.mark.parametrize("env, utf8_mode, utf8", [
    ({"LANG": "C", "LC_CTYPE": "C.UTF-8"}, True, False),        # LANG=C: Python coerced LC_CTYPE (PEP 538)
    ({"LANG": "", "LC_CTYPE": "C.UTF-8"}, True, False),         # nothing set at all: C
    ({"LC_ALL": "C", "LANG": "C"}, True, False),
    ({"LC_ALL": "POSIX"}, True, False),
    ({"LANG": "en_US.UTF-8", "LC_CTYPE": "C.UTF-8"}, True, True),  # a UTF-8 locale this host lacks: still UTF-8
    ({"LANG": "C.UTF-8"}, False, True),
    ({"LC_CTYPE": "C.UTF-8"}, False, True),                     # set by the user: no coercion, UTF-8 mode off
    ({"LC_ALL": "de_DE.utf8", "LANG": "C"}, False, True),
    ({"LANG": "en_US.ISO-8859-1"}, False, False),
])
def test_utf8_is_read_from_what_the_user_set(env: dict, utf8_mode: bool, utf8: bool) -> None:
    assert detect(env, utf8_mode).utf8 is utf8, user_locale(env, utf8_mode)


def test_truecolor_no_color_and_the_forcing_switches() -> None:
    assert not detect({"TERM": "xterm-256color"}, False).truecolor
    assert not detect({"TERM": "screen"}, False).truecolor and not detect({"TERM": "tmux-256color"}, False).truecolor
    assert detect({"TERM": "tmux-256color", "COLORTERM": "truecolor"}, False).truecolor
    assert detect({"COLORTERM": "24bit"}, False).truecolor and detect({"TERM": "xterm-direct"}, False).truecolor
    assert detect({"NO_COLOR": ""}, False).no_color and not detect({}, False).no_color
    assert detect({"LANG": "C"}, False, glyphs="unicode").utf8
    assert not detect({"LANG": "en_US.UTF-8"}, False, glyphs="ascii").utf8
    assert detect({"LANG": "C", "GPUCONSOLE_GLYPHS": "unicode"}, False, glyphs="ascii").utf8, "the variable wins"
    with pytest.raises(GlyphsError, match="GPUCONSOLE_GLYPHS='fancy': use auto, unicode, ascii"):
        check_env({"GPUCONSOLE_GLYPHS": "fancy"})


# --------------------------------------------------------------------------------------------- the glyph table
def test_ascii_table_draws_bars_sparklines_and_plots_in_ascii() -> None:
    g = glyphs.select(ascii=True)
    a, b = Style(color="red"), Style(color="blue")
    bar = share_bar([(0.25, a, g.fill(0)), (0.5, b, g.fill(1))], 20, Style())
    assert bar.plain == "#####" + "=" * 10 + "....."
    quota = quota_bar(6, 4, 8, 16, ok=a, over=b, unused=Style(), limit_style=Style())
    assert quota.plain.isascii() and "!" in quota.plain and "|" in quota.plain
    assert sparkline([0, 50, 100, None], 4) == "_=# "  # levels _.-:=+*#, a gap where no value came
    assert all(line.isascii() for line in plot([10, 50, 90, None, 100], 5, 3))
    g = glyphs.select(mono=True)
    assert not g.ascii and share_bar([(0.5, a, g.fill(0)), (0.5, b, g.fill(1))], 4, Style()).plain == "██▓▓"
    assert g.holder_mark(1) == "▓" and glyphs.select().holder_mark(1) == "■"


def test_the_ascii_net_keeps_every_cell() -> None:
    for text in ("┌──┐│ ╰─╯", "GPU 94.5/96 · 95 in use · …", "▁▂▃▄▅▆▇█ ░▒▓ ⇣ ≠ ⧗ ◆ ✓ ✗ ⚠ ◌ ▾ ▸ • ■", "日本"):
        out = glyphs.to_ascii(text)
        assert out.isascii() and Text(out).cell_len == Text(text).cell_len, (text, out)
    assert glyphs.to_ascii("┌─┐") == "+-+" and glyphs.to_ascii("a · b") == "a | b"
    segs = AsciiOnly().apply([Segment("▾ node", Style(bold=True)), Segment("\x1b[?25l", None, [(1,)]),
                              Segment("plain")], None)  # type: ignore[arg-type]
    assert [s.text for s in segs] == ["- node", "\x1b[?25l", "plain"] and segs[0].style == Style(bold=True)
    mono = PlainMonochrome().apply([Segment("x", None), Segment("y", Style(color="red"))], None)  # type: ignore
    assert mono[0].style is None and mono[1].style is not None and mono[1].style.color.triplet is not None


# --------------------------------------------------------------------------------------------- for real
def _run_in_pty(argv: list[str], env: dict[str, str], keys: list[tuple[str, bytes]], until: str,
                timeout: float = 90.0) -> bytes:
    """Run `argv` on a 160x40 pseudo-terminal; after each `(marker, key)` pair's marker shows on screen, type
    the key; return everything the terminal received once `until` (a regex) matches the screen's text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    import subprocess

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    got = bytearray()
    lock = threading.Lock()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with lock:
                got.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    end = time.monotonic() + timeout
    todo = list(keys)
    try:
        while time.monotonic() < end:
            with lock:
                text = re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", "", got.decode("utf-8", "replace"))
            if todo and todo[0][0] in text:
                os.write(master, todo.pop(0)[1])
                got.clear()  # what follows is the next pane
            elif not todo and re.search(until, text):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"{until!r} never showed; the terminal got:\n{text[-3000:]}")
        os.write(master, b"q")
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(5)
        os.close(master)
    return bytes(got)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("LANG", "LC_ALL", "LC_CTYPE", "COLORTERM", "NO_COLOR", "TERM", "GPUCONSOLE_GLYPHS")}
    return base | {"TERM": "xterm", "XDG_STATE_HOME": str(tmp_path / "state"),
                   "XDG_CONFIG_HOME": str(tmp_path / "config")} | extra


async def test_lang_c_gets_ascii_glyphs_and_the_ansi_theme(demo, tmp_path: Path) -> None:
    _, kubeconfig = demo
    env = _env(tmp_path, LANG="C", LC_ALL="C")
    argv = [sys.executable, "-m", "console.cli", "--kubeconfig", kubeconfig]
    # Projects first (quota bars), then the GPUs pane (share bars, holders), where a shared GPU shows two fills.
    out = await asyncio.to_thread(_run_in_pty, argv, env, [("chat-serving", b"2")], r"#+=+.*= \w")
    assert all(b < 0x80 for b in out), sorted({b for b in out if b >= 0x80})[:10]
    text = re.sub(rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]", b"", out).decode()
    assert "####" in text and "| sort name" in text and "- dgx-h100-01" in text
    log = (tmp_path / "state" / "gpuconsole" / "gpuconsole.log").read_text()
    assert "terminal: locale 'C', ascii glyphs, no truecolor, colour; theme gpuconsole-ansi" in log


async def test_no_color_on_utf8_tells_holders_apart_by_fill(demo, tmp_path: Path) -> None:
    _, kubeconfig = demo
    env = _env(tmp_path, LANG="C.UTF-8", NO_COLOR="1", COLORTERM="truecolor", TERM="xterm-256color")
    argv = [sys.executable, "-m", "console.cli", "--kubeconfig", kubeconfig]
    out = await asyncio.to_thread(_run_in_pty, argv, env, [("chat-serving", b"2")], r"█▓+.*▓ \w")
    text = re.sub(rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]", b"", out).decode("utf-8", "replace")
    assert "▾ dgx-h100-01" in text, "a shared GPU: one holder █, the next ▓, and ▓ before its name"
    colours = set(re.findall(rb"\x1b\[[0-9;]*?38;2;(\d+);(\d+);(\d+)", out))
    assert colours and all(r == g == b for r, g, b in colours), "NO_COLOR: greys only"
    log = (tmp_path / "state" / "gpuconsole" / "gpuconsole.log").read_text()
    assert "unicode glyphs, truecolor, NO_COLOR; theme default" in log


def test_config_key_glyphs() -> None:
    from console.config import ConfigError, parse

    assert parse({"glyphs": "ascii"}).glyphs == "ascii" and parse({}).glyphs == "auto"
    with pytest.raises(ConfigError, match="glyphs: 'boxes' is not one of auto, unicode, ascii"):
        parse({"glyphs": "boxes"})
