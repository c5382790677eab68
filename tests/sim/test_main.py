"""`gpuconsole sim` as a process: `ready <url>` on stdout, and no simulator outlives its parent."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO

PARENT = """
import subprocess, sys, time
p = subprocess.Popen([sys.executable, '-m', 'console.cli', 'sim', '--port', '0', '--static', '--scenario', 'empty',
                      '--exit-with-parent'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     start_new_session=True, text=True)
print(p.pid, p.stdout.readline().strip(), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds to await another process's exit")
def test_simulator_stops_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert parent.stdout is not None
    pid_s, ready, url = parent.stdout.readline().split()
    assert ready == "ready" and url.startswith("https://127.0.0.1:")
    child = int(pid_s)
    fd = os.pidfd_open(child)
    try:
        parent.send_signal(signal.SIGKILL)  # no chance to clean up: the child must notice by itself
        parent.wait(10)
        readable, _, _ = select.select([fd], [], [], 20)  # a pidfd turns readable when the process exits
        if not readable:
            os.kill(child, signal.SIGTERM)
        assert readable, "the simulator outlived its parent"
    finally:
        os.close(fd)
