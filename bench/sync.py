"""Full sync of the `large` scenario, side by side with kubectl and with plain read + orjson parse.

All three run against the same simulator process, three times each; medians are reported.
Last line: `sync_s=<x> kubectl_s=<y> parse_s=<z> rss_mb=<m>`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import orjson

from console.kube import config
from console.kube.client import Res
from console.kube.connection import CORE_RESOURCES, KAI_RESOURCES
from console.kube.informer import PAGE_SIZE
from console.snapshot_cmd import _models

from .common import SimProcess, kubectl, median


async def read_and_parse(kubeconfig: str, page: int = PAGE_SIZE) -> tuple[float, int]:
    """The floor: GET every list the console makes (same pages) and orjson-parse it, nothing else."""
    creds = config.load(kubeconfig, None)
    resources: list[Res] = [r for r in CORE_RESOURCES + KAI_RESOURCES if _models(r)]
    t0 = time.perf_counter()
    nbytes = 0
    async with httpx.AsyncClient(base_url=creds.server, headers=creds.headers(), timeout=600,
                                 verify=creds.ssl_context()) as http:
        async def one(res: Res) -> int:
            token, n = None, 0
            while True:
                params = {"limit": page, **({"continue": token} if token else {})}
                r = await http.get(res.path(), params=params)
                body = r.content
                n += len(body)
                doc = orjson.loads(body)
                token = (doc.get("metadata") or {}).get("continue")
                if not token:
                    return n
        nbytes = sum(await asyncio.gather(*(one(r) for r in resources)))
    return time.perf_counter() - t0, nbytes


def main(runs: int = 3, idle_s: float = 30.0, extra: list[str] | None = None) -> str:
    with SimProcess("--scenario", "large", *(extra or [])) as sim:
        print(f"sync: simulator ready in {sim.ready_s:.1f} s ({sim.rss_mb:.0f} MB)")
        syncs, rss, kc, parse = [], [], [], []
        idle = None
        for i in range(runs):
            out = subprocess.run([sys.executable, "-m", "bench.sync_child", sim.kubeconfig,
                                  str(idle_s if i == 0 else 0)], capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            d = orjson.loads(out.stdout.strip().splitlines()[-1])
            syncs.append(d["sync_s"])
            rss.append(d["rss_mb"])
            if i == 0:
                idle = d
            print(f"sync: console full sync {d['sync_s']:.2f} s, {d['sync_requests']} requests, "
                  f"peak RSS {d['rss_mb']:.0f} MB")
            if kubectl():
                t0 = time.perf_counter()
                subprocess.run([kubectl(), "--kubeconfig", sim.kubeconfig, "get", "pods", "-A", "-o", "name"],
                               check=True, stdout=subprocess.DEVNULL, timeout=900)
                kc.append(time.perf_counter() - t0)
                print(f"sync: kubectl get pods -A -o name {kc[-1]:.2f} s")
            p, nbytes = asyncio.run(read_and_parse(sim.kubeconfig))
            parse.append(p)
            print(f"sync: read + orjson parse of the same lists {p:.2f} s ({nbytes / 1e6:.0f} MB)")
        if idle:
            per_min = idle["idle_requests"] * 60.0 / idle["idle_s"] if idle["idle_s"] else float("nan")
            print(f"sync: idle after sync: {idle['idle_requests']} requests in {idle['idle_s']:.0f} s "
                  f"({per_min:.1f}/min), re-lists {idle['idle_relists']}")
        s, k, pz, m = median(syncs), median(kc), median(parse), max(rss)
        print(f"sync: medians of {runs}: console {s:.2f} s, kubectl {k:.2f} s ({k / s:.2f}x the console's time), "
              f"parse {pz:.2f} s (console is {s / pz:.2f}x parse); peak RSS {m:.0f} MB")
        line = f"sync_s={s:.2f} kubectl_s={k:.2f} parse_s={pz:.2f} rss_mb={m:.0f}"
        return line


if __name__ == "__main__":
    print(main())
