"""The audit log: one JSON line per action an operator took, appended, never rewritten, never a secret.

Lives in the XDG state directory (`$XDG_STATE_HOME/gpuconsole/audit.jsonl`, default
`~/.local/state/gpuconsole/audit.jsonl`), readable only by its owner. Each line holds time, context,
user, action, target, the manifest or diff sent, the dry-run result and the outcome. Tokens, passwords,
client keys and Secret data are removed before writing, by key name and by value.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

SECRET_KEYS = frozenset({"token", "password", "authorization", "client-key-data", "client-certificate-data",
                         "bearertoken", "id-token", "refresh-token", "access-token", "secret", "api_key"})
BEARER = re.compile(r"(?i)bearer\s+[^\s\"']+")
REDACTED = "[redacted]"


def default_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "gpuconsole" / "audit.jsonl"


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` with secret-named keys, Secret data and known secret strings replaced."""
    known = [s for s in secrets if s and len(s) >= 6]

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            is_secret = v.get("kind") == "Secret"
            out = {}
            for key, val in v.items():
                if str(key).lower() in SECRET_KEYS or (is_secret and key in ("data", "stringData")):
                    out[key] = REDACTED
                else:
                    out[key] = walk(val)
            return out
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, str):
            for s in known:
                if s in v:
                    v = v.replace(s, REDACTED)
            return BEARER.sub("Bearer " + REDACTED, v)
        return v
    return walk(value)


class AuditLog:
    """Append-only JSON lines. `secrets` are values (the session's token) that must never be written."""

    def __init__(self, path: str | Path | None = None, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path) if path else default_path()
        self.secrets = [s for s in secrets if s]

    def record(self, *, context: str, user: str, action: str, target: str, outcome: str,
               manifest: Any = None, diff: Any = None, dry_run: Any = None, detail: Any = None,
               now: dt.datetime | None = None) -> dict[str, Any]:
        """Append one entry and return it; raises OSError when the log cannot be written."""
        entry: dict[str, Any] = {
            "time": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="milliseconds"),
            "context": context, "user": user, "action": action, "target": target,
        }
        if manifest is not None:
            entry["manifest"] = manifest
        if diff is not None:
            entry["diff"] = diff
        entry["dry_run"] = dry_run
        entry["outcome"] = outcome
        if detail is not None:
            entry["detail"] = detail
        entry = scrub(entry, self.secrets)
        line = orjson.dumps(entry) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write per line: concurrent consoles never interleave within a line
        finally:
            os.close(fd)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first; unreadable lines are skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        return out
