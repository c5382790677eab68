"""The installed version, from the package metadata (one source: pyproject.toml's `version`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _dist_version


def version() -> str:
    """`0.1.0`, or `unknown` when the package runs from a tree that was never installed."""
    try:
        return _dist_version("gpuconsole")
    except PackageNotFoundError:
        return "unknown"
