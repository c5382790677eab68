"""One console-side full sync in a fresh process, so its peak RSS is the console's own.

Usage: python -m bench.sync_child KUBECONFIG IDLE_SECONDS. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import orjson

from console.kube import config
from console.kube.client import KubeClient
from console.kube.connection import Connection
from console.model.cluster_store import ClusterStore
from console.snapshot_cmd import _models


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that over exec from the forking
    parent, so a child of a large bench process would report the parent's peak."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(kubeconfig: str, idle_s: float) -> dict:
    t0 = time.perf_counter()
    creds = config.load(kubeconfig, None)
    store = ClusterStore()
    async with KubeClient(creds) as client:
        conn = Connection(client, store, accept=_models)
        await conn.open()
        await conn.wait_synced(600)
        store.refresh() if hasattr(store, "refresh") else None
        sync_s = time.perf_counter() - t0
        requests_after_sync = client.stats.requests
        await asyncio.sleep(idle_s)
        idle_requests = client.stats.requests - requests_after_sync
        lists_idle = sum(i.health.relists for i in conn.informers if hasattr(i, "synced")) - len(
            [i for i in conn.informers if hasattr(i, "synced")])
        await conn.close()
    return {"sync_s": sync_s, "rss_mb": peak_rss_mb(),
            "pods": store.health.get("pods").objects if "pods" in store.health else None,
            "idle_requests": idle_requests, "idle_s": idle_s, "idle_relists": lists_idle,
            "sync_requests": requests_after_sync}


if __name__ == "__main__":
    print(orjson.dumps(asyncio.run(main(sys.argv[1], float(sys.argv[2])))).decode())
