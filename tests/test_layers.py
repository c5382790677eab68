"""The layers import one way: the data layers never load the UI (sys.modules in a fresh interpreter), and
import-linter keeps pyproject.toml's contracts (layer order, the simulator only started, no circles)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DATA_LAYERS = ["console.kube", "console.model", "console.telemetry", "console.actions", "console.sim"]
UI_PACKAGES = ("textual", "widgets", "themes")


def _submodules(pkg: str) -> list[str]:
    base = REPO / pkg.replace(".", "/")
    mods = [pkg]
    for f in sorted(base.rglob("*.py")):
        rel = f.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        mods.append(".".join(parts))
    return sorted(set(mods))


@pytest.mark.parametrize("layer", DATA_LAYERS)
def test_data_layer_does_not_import_ui(layer: str) -> None:
    mods = _submodules(layer)
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_PACKAGES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{layer} pulls in UI modules: {out.stdout.strip()}"


def test_layer_check_catches_a_ui_import(tmp_path) -> None:
    """The check itself must fail when a data module imports textual."""
    code = "import sys, textual\nprint(','.join(m for m in sys.modules if m.split('.')[0]=='textual')[:20])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().startswith("textual")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over `root`'s packages with the contracts in its pyproject.toml (no cache: a clean read)."""
    code = "import sys\nfrom importlinter.cli import lint_imports\nsys.exit(lint_imports(no_cache=True, no_logo=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_import_contracts_are_kept() -> None:
    """pyproject.toml's contracts: one-way layers, the simulator only started, no import circles anywhere."""
    out = _lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout and "No import circles" in out.stdout


@pytest.mark.parametrize("where,line,broken", [
    ("console/model/views_nodes.py", "from console.model.cluster_store import ClusterStore", "No import circles"),
    ("console/kube/discovery.py", "from console.model import records", "One-way layers"),
    ("console/model/records.py", "import console.ui.session", "never import Textual or the UI"),
    ("console/ui/filter.py", "from console.sim import clock", "only to start it"),
])
def test_import_contracts_catch_a_wrong_import(tmp_path: Path, where: str, line: str, broken: str) -> None:
    """Each contract fails on a copy of the tree with one wrong import, lazy ones included."""
    for item in ("console", "widgets", "themes", "pyproject.toml"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / item)
    target = tmp_path / where
    target.write_text(target.read_text() + f"\n\ndef _wrong() -> None:\n    {line}  # noqa\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert any(broken in ln and "BROKEN" in ln for ln in out.stdout.splitlines()), out.stdout
