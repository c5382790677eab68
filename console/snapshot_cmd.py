"""`gpuconsole snapshot`: connect, sync once, print the views, exit.

Uses exactly the console's path: credentials, discovery, access plan, informers, the cluster model.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from console.kube import config
from console.kube.client import KubeClient, Res
from console.kube.connection import Connection
from console.kube.errors import ApiError
from console.model.cluster_store import ClusterStore, canonical_kind
from console.model.snapshot import build
from console.snapshot_format import render
from console.telemetry.once import add_to_snapshot, scrape_once


def _models(res: Res) -> bool:
    return canonical_kind(res.key) is not None


async def take(kubeconfig: str | None, context: str | None, view: str = "all",
               timeout: float = 120.0) -> dict[str, Any]:
    """One full sync of the cluster model, as a snapshot dict with cluster facts and hidden parts."""
    creds = await asyncio.to_thread(config.load, kubeconfig, context)
    store = ClusterStore()
    # Few retries: a one-shot command should say quickly that the cluster is unreachable.
    async with KubeClient(creds, max_retries=2) as client:
        conn = Connection(client, store, accept=_models, default_namespace=creds.namespace)
        await conn.open()
        try:
            synced = await conn.wait_synced(timeout)
        finally:
            await conn.close()
        telemetry, telemetry_state = {}, None
        if view in ("all", "gpus"):  # one dcgm-exporter scrape, when the cluster runs exporter pods
            telemetry, telemetry_state = await scrape_once(client, store)
    snap = build(store, view)
    add_to_snapshot(snap, telemetry, telemetry_state)
    snap["cluster"] = {"context": creds.context, "cluster": creds.cluster, "user": creds.user,
                       "server": creds.server, "tls": creds.tls,
                       "server_version": conn.surface.server_version,
                       "kai": conn.surface.has_kai}
    hidden = list(conn.plan.hidden)
    for h in conn.health:
        if h.state in ("forbidden", "absent"):
            hidden.append(f"{h.kind}: {h.state}")
    if not synced:
        hidden.append("not every resource finished syncing within "
                      f"{timeout:g} s: " + ", ".join(h.kind for h in conn.health if not h.synced))
    snap["hidden"] = hidden
    return snap


def run(args: argparse.Namespace) -> int:
    try:
        snap = asyncio.run(take(args.kubeconfig, args.context, args.view, args.timeout))
    except config.ConfigError as e:
        print(f"gpuconsole snapshot: {e}", file=sys.stderr)
        return 1
    except ApiError as e:
        print(f"gpuconsole snapshot: {e}", file=sys.stderr)
        return 1
    print(render(snap, args.output, args.view))
    return 0
