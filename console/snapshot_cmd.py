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
from console.model.telemetry_view import StoreGroupIndex, TelemetryView, snapshot_fields, uid_index
from console.snapshot_format import render
from console.telemetry.dcgm import DcgmExporterSampler
from console.telemetry.kai_metrics import KaiMetricsReader


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
        if view in ("all", "projects") and store.kai_mode:  # KAI's own fair shares, where its metrics answer
            store.set_kai_fair_share(await KaiMetricsReader(client, min_interval_s=0).read())
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


async def scrape_once(client: KubeClient, store: ClusterStore, timeout_s: float = 5.0) -> tuple[dict, str | None]:
    """One dcgm-exporter scrape joined to the synced model: (GpuTelemetry by GPU row key, state line).

    ({}, None) when the cluster runs no exporter pods. A single scrape cannot know how long a GPU has
    been idle, so `idle_for_s` is 0 for an allocated GPU under the idle threshold right now and None
    otherwise.
    """
    sampler = DcgmExporterSampler(client, groups=StoreGroupIndex(store), timeout_s=timeout_s)
    try:
        snap = await sampler.sample()
    finally:
        await sampler.close()
    if not sampler.targets and snap.error and "no running exporter pods" in snap.error:
        return {}, None
    store.refresh()
    view = TelemetryView()
    view.ingest(snap, store.gpus.rows, uid_index(store))
    return view.rows, view.state


def add_to_snapshot(snap: dict[str, Any], telemetry: dict, state: str | None) -> None:
    """Add util_pct, mem_used_mib, temp_c, power_w and idle_for_s to each GPU of a snapshot dict."""
    for g in snap.get("gpus") or []:
        g.update(snapshot_fields(telemetry.get((g.get("node"), g.get("index")))))
    if state is not None:
        snap["telemetry"] = state


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
