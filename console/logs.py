"""The log file: where to look, or what to attach to a ticket, when something went wrong.

`$XDG_STATE_HOME/gpuconsole/gpuconsole.log` (else `~/.local/state/…`; `--log-file F` names another), rotated at
5 MiB with three old files kept, so it never grows without bound. `GPUCONSOLE_LOG` sets the level (debug, info,
warning, error; info by default; debug adds every HTTP request). Every line passes through the redacting
formatter (console/kube/redact.py): no token, password, client key or Authorization header is ever written.
The simulator child of `--demo` keeps its own log (`demo-sim.log` beside this one).
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from console.kube.redact import RedactingFormatter

ENV_LEVEL = "GPUCONSOLE_LOG"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
          "error": logging.ERROR}
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
# Libraries that log every request at INFO: only at debug do we want each of them.
CHATTY = ("httpx", "httpcore", "hpack", "asyncio", "kubernetes", "urllib3", "aiohttp.access")


class LogLevelError(ValueError):
    """GPUCONSOLE_LOG names no level (a usage error)."""


def default_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gpuconsole" / "gpuconsole.log"


def level_from_env() -> int:
    raw = os.environ.get(ENV_LEVEL, "").strip().lower()
    if not raw:
        return logging.INFO
    if raw not in LEVELS:
        raise LogLevelError(f"{ENV_LEVEL}={os.environ[ENV_LEVEL]!r} is not a level: use debug, info, warning or "
                            "error")
    return LEVELS[raw]


def setup(path: str | os.PathLike[str] | None = None, level: int | None = None) -> Path | None:
    """Send the `gpuconsole` loggers (and libraries' warnings) to the rotating, redacting log file.

    Idempotent: a second call replaces the handler the first installed. A file that cannot be opened is said
    once on stderr and the command goes on without a log (None returned).
    """
    target = Path(path).expanduser() if path else default_path()
    lvl = level_from_env() if level is None else level
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_gpuconsole", False)]:
        root.removeHandler(h)
        h.close()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8",
                                      delay=False)
    except OSError as e:
        print(f"gpuconsole: no log file: cannot open {target}: {e.strerror or e}", file=sys.stderr)
        return None
    handler._gpuconsole = True  # type: ignore[attr-defined]
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.setLevel(lvl)
    root.addHandler(handler)
    root.setLevel(min(lvl, logging.WARNING))
    logging.getLogger("gpuconsole").setLevel(lvl)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if lvl <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)
    return target


def teardown() -> None:
    """Remove the log handler and the levels `setup` set (tests run many commands in one process)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_gpuconsole", False)]:
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.WARNING)
    for name in ("gpuconsole", *CHATTY):
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.captureWarnings(False)
