"""One dcgm-exporter scrape joined to a synced cluster model: what `gpuconsole snapshot` prints per GPU.

A single scrape cannot know how long a GPU has been idle, so `idle_for_s` is 0 for an allocated GPU
under the idle threshold right now (idle, for an unknown time) and None otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dcgm import DcgmExporterSampler

if TYPE_CHECKING:
    from console.kube.client import KubeClient
    from console.model.cluster_store import ClusterStore


async def scrape_once(client: KubeClient, store: ClusterStore, timeout_s: float = 5.0) -> tuple[dict, str | None]:
    """(GpuTelemetry by GPU row key, state line); ({}, None) when the cluster runs no exporter pods."""
    from console.model.telemetry_view import StoreGroupIndex, TelemetryView, uid_index

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
    from console.model.telemetry_view import snapshot_fields

    for g in snap.get("gpus") or []:
        g.update(snapshot_fields(telemetry.get((g.get("node"), g.get("index")))))
    if state is not None:
        snap["telemetry"] = state
