"""The data layers never import the UI: checked in a fresh interpreter through sys.modules."""

from __future__ import annotations

import subprocess
import sys

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
