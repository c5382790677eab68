"""The wheel is what an operator installs (pipx / uv tool): it must hold every data file and run outside
the checkout. Built here without network (no build isolation: setuptools comes with the test extras)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("console", "widgets", "themes")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources, so no build/ left in the checkout (stale or new) is involved."""
    src = tmp_path_factory.mktemp("src")
    for item in (*PACKAGES, "pyproject.toml", "README.md"):
        if (REPO / item).is_dir():
            shutil.copytree(REPO / item, src / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / item, src / item)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-w", str(out), str(src)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PIP_NO_INPUT": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("gpuconsole-*.whl")
    return whl


def _data_files() -> set[str]:
    """Every file the packages need at run time that is not Python source (themes, tcss, ...)."""
    out = set()
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*"):
            if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts:
                out.add(f.relative_to(REPO).as_posix())
    return out


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = _data_files()
    assert data, "expected data files (themes/*.tcss)"
    assert data <= names, f"missing from the wheel: {sorted(data - names)}"
    modules = {f.relative_to(REPO).as_posix() for pkg in PACKAGES for f in (REPO / pkg).rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in text
    entry = zipfile.ZipFile(wheel).read(meta.replace("METADATA", "entry_points.txt")).decode()
    assert "gpuconsole = console.cli:main" in entry


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv with only the wheel installed runs `gpuconsole --help` and `--version` from /tmp.

    The dependencies come from the test environment's site-packages through a .pth file (no network here);
    the product's own modules must come from the wheel, not the checkout.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                        "--no-compile", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = {"cwd": "/tmp", "env": env, "capture_output": True, "text": True, "timeout": 120}
    helped = subprocess.run([str(venv / "bin" / "gpuconsole"), "--help"], **run)  # type: ignore[call-overload]
    assert helped.returncode == 0, helped.stderr
    assert "snapshot" in helped.stdout and "--demo" in helped.stdout
    version = subprocess.run([str(venv / "bin" / "gpuconsole"), "--version"], **run)  # type: ignore[call-overload]
    assert version.returncode == 0 and version.stdout.startswith("gpuconsole 0."), version.stdout + version.stderr
    where = subprocess.run([str(py), "-c", "import console, themes, widgets; print(console.__file__); "
                            "print(themes.CSS_PATH.is_file())"], **run)  # type: ignore[call-overload]
    lines = where.stdout.split()
    assert lines[0].startswith(str(venv)) and lines[1] == "True", where.stdout + where.stderr
