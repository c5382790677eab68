"""How long the `large` scenario takes to load and serve, and what the simulator holds in memory.

Prints one line per figure; the full pod list is fetched with our HTTP stack and with kubectl, side by side.
"""

from __future__ import annotations

import subprocess
import time

import httpx
import orjson

from console.kube import config

from .common import SimProcess, kubectl, median


def main(runs: int = 3) -> dict[str, float]:
    with SimProcess("--scenario", "large") as sim:
        print(f"sim_large: ready in {sim.ready_s:.1f} s, simulator RSS {sim.rss_mb:.0f} MB")
        creds = config.load(sim.kubeconfig, None)   # the simulator's CA and the admin's token, as kubectl has them
        http_s, n, size = [], 0, 0
        for _ in range(runs):
            t0 = time.perf_counter()
            r = httpx.get(f"{creds.server}/api/v1/pods", headers=creds.headers(), verify=creds.ssl_context(),
                          timeout=300)
            r.raise_for_status()
            body = r.content
            n = len(orjson.loads(body)["items"])
            http_s.append(time.perf_counter() - t0)
            size = len(body)
        print(f"sim_large: full pod list {n} pods, {size / 1e6:.0f} MB, served in median {median(http_s):.2f} s")
        kc_s: list[float] = []
        if kubectl():
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run([kubectl(), "--kubeconfig", sim.kubeconfig, "get", "pods", "-A", "-o", "name"],
                               check=True, stdout=subprocess.DEVNULL, timeout=600)
                kc_s.append(time.perf_counter() - t0)
            print(f"sim_large: kubectl get pods -A -o name median {median(kc_s):.2f} s")
        rss = sim.rss_mb
        print(f"sim_large: simulator RSS after serving {rss:.0f} MB")
        return {"ready_s": sim.ready_s, "pods": n, "list_s": median(http_s), "kubectl_s": median(kc_s),
                "rss_mb": rss}


if __name__ == "__main__":
    main()
