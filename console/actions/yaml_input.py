"""Manifests typed into an editor or read from a file: parsed safely, every failure a clear message.

Multi-document YAML and `kind: List` are accepted; anything else that is not a list of mappings is
refused with where and why, before the cluster is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ActionError

Obj = dict[str, Any]
MAX_BYTES = 4 * 1024 * 1024


def parse_documents(text: str, source: str = "input") -> list[Obj]:
    """The documents of a YAML (or JSON) text; raises ActionError naming the line of a syntax error."""
    if not isinstance(text, str):
        raise ActionError(f"{source}: expected YAML text, got {type(text).__name__}")
    if not text.strip():
        raise ActionError(f"{source}: is empty; expected at least one manifest (apiVersion, kind, metadata, spec)")
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ActionError(f"{source}: not valid YAML{where}: {problem}") from None
    if not docs:
        raise ActionError(f"{source}: holds no manifest (only comments or empty documents)")
    out: list[Obj] = []
    problems: list[str] = []
    for i, d in enumerate(docs):
        if isinstance(d, dict) and d.get("kind") == "List" and isinstance(d.get("items"), list):
            out.extend(d["items"])
        elif isinstance(d, dict):
            out.append(d)
        else:
            problems.append(f"{source}: document {i + 1} is a {type(d).__name__}, not a manifest (a mapping with "
                            "apiVersion, kind and metadata)")
    if problems:
        raise ActionError(problems)
    return out


def read_file(path: str | Path) -> str:
    """A manifest file's text; `-` reads standard input. Raises ActionError saying why it cannot be read."""
    if str(path) == "-":
        import sys
        return sys.stdin.read()
    p = Path(path)
    try:
        if p.is_dir():
            raise ActionError(f"{p}: is a directory; give a YAML file")
        if p.stat().st_size > MAX_BYTES:
            raise ActionError(f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MiB; not a manifest")
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ActionError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise ActionError(f"{p}: not UTF-8 text") from None
    except PermissionError:
        raise ActionError(f"{p}: permission denied") from None
    except OSError as e:
        raise ActionError(f"{p}: cannot read: {e.strerror or e}") from None


def load_file(path: str | Path) -> list[Obj]:
    return parse_documents(read_file(path), str(path))
