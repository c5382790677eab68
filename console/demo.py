"""`gpuconsole --demo`: the simulator as a child process, reached exactly like a real cluster.

The child serves the demo cluster on a free loopback port and writes a kubeconfig; the console then
connects through that kubeconfig with its normal code path. The child's log goes to a file (it would
garble the terminal) and the child is stopped when the console exits, however it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


class DemoError(RuntimeError):
    """The simulator did not start: the message carries the end of its log."""


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    d = Path(base) / "gpuconsole"
    d.mkdir(parents=True, exist_ok=True)
    return d


class DemoCluster:
    """Start with `with DemoCluster() as demo:`; `demo.kubeconfig` and `demo.url` are then ready."""

    def __init__(self, scenario: str = "demo", seed: int = 42, *, static: bool = False,
                 start_timeout: float = 120.0, log_path: Path | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.static = static
        self.start_timeout = start_timeout
        self.dir = tempfile.mkdtemp(prefix="gpuconsole-demo-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig.yaml")
        self.log_path = log_path or state_dir() / "demo-sim.log"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> "DemoCluster":
        cmd = [sys.executable, "-m", "console.cli", "sim", "--port", "0", "--kubeconfig-out", self.kubeconfig,
               "--scenario", self.scenario, "--seed", str(self.seed), "--exit-with-parent"]
        if self.static:
            cmd.append("--static")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        log.close()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        first = line[0] if line else ""
        if not first.startswith("ready "):
            self.stop()
            tail = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            why = "timed out" if not line else f"said {first.strip()!r}"
            raise DemoError(f"the simulated cluster did not start ({why}); its log ({self.log_path}):\n{tail}")
        self.url = first.split()[1]
        return self

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p is not None and p.stdout is not None:
            p.stdout.close()
        try:
            os.remove(self.kubeconfig)
            os.rmdir(self.dir)
        except OSError:
            pass

    def __enter__(self) -> "DemoCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(args: object) -> int:
    """Start the simulator, run the console on it, stop the simulator."""
    from console.launch import run_console

    scenario = getattr(args, "demo_scenario", None) or "demo"
    print(f"gpuconsole: starting the simulated cluster ({scenario})…", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        demo = DemoCluster(scenario).start()
    except DemoError as e:
        print(f"gpuconsole --demo: {e}", file=sys.stderr)
        return 1
    try:
        print(f"gpuconsole: simulator ready in {time.perf_counter() - t0:.1f} s at {demo.url}", file=sys.stderr)
        # This machine's GPUs are played by a fake NVML standing in for a node of the simulated cluster.
        return run_console(args, kubeconfig=demo.kubeconfig, context=None, fake_nvml="demo")
    finally:
        demo.stop()
