"""What HTTPS costs: the console's full sync and kubectl's list over TLS, side by side with plain HTTP.

Two simulator processes serve the same scenario, one with `--plain-http`; each side is synced `runs` times
in a fresh process (bench.sync_child) and kubectl lists every pod. Medians are reported with their ratio.
Last line: `tls_sync_s=<x> plain_sync_s=<y> tls_kubectl_s=<z> plain_kubectl_s=<w>`.
"""

from __future__ import annotations

import subprocess
import sys
import time

import orjson

from .common import SimProcess, kubectl, median


def _side(plain: bool, runs: int, knobs: list[str]) -> tuple[float, float]:
    with SimProcess("--scenario", "large", *knobs, *(["--plain-http"] if plain else [])) as sim:
        syncs, lists = [], []
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-m", "bench.sync_child", sim.kubeconfig, "0"],
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            syncs.append(orjson.loads(out.stdout.strip().splitlines()[-1])["sync_s"])
            if kubectl():
                t0 = time.perf_counter()
                subprocess.run([kubectl(), "--kubeconfig", sim.kubeconfig, "get", "pods", "-A", "-o", "name"],
                               check=True, stdout=subprocess.DEVNULL, timeout=900)
                lists.append(time.perf_counter() - t0)
        return median(syncs), median(lists)


def main(runs: int = 3, pods: int = 20000, nodes: int = 700, queues: int = 150) -> str:
    knobs = ["--pods", str(pods), "--nodes", str(nodes), "--queues", str(queues)]
    ts, tk = _side(False, runs, knobs)
    ps, pk = _side(True, runs, knobs)
    print(f"tls: medians of {runs} on {pods} pods: console full sync HTTPS {ts:.2f} s vs plain HTTP {ps:.2f} s "
          f"({ts / ps:.2f}x); kubectl get pods -A HTTPS {tk:.2f} s vs plain HTTP {pk:.2f} s ({tk / pk:.2f}x)")
    return f"tls_sync_s={ts:.2f} plain_sync_s={ps:.2f} tls_kubectl_s={tk:.2f} plain_kubectl_s={pk:.2f}"


if __name__ == "__main__":
    print(main())
