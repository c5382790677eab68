"""The simulator's exporter pods scraped through the API server's pod proxy, joined to the synced model."""

from __future__ import annotations

from console.kube import config
from console.kube.client import KubeClient
from console.kube.connection import Connection
from console.model.cluster_store import ClusterStore, canonical_kind
from console.model.telemetry_view import StoreGroupIndex, TelemetryView, match_rows
from console.sim.resources import PODS
from console.snapshot_cmd import take
from console.snapshot_format import render
from console.telemetry.dcgm import DcgmExporterSampler
from console.telemetry.dcgm_parse import parse


async def synced(kubeconfig: str, client: KubeClient) -> ClusterStore:
    store = ClusterStore()
    conn = Connection(client, store, accept=lambda r: canonical_kind(r.key) is not None)
    await conn.open()
    try:
        assert await conn.wait_synced(30)
    finally:
        await conn.close()
    store.refresh()
    return store


def exporter_pods(cluster) -> list[dict]:
    return [p for p in cluster.store.items(PODS)
            if (p["metadata"].get("labels") or {}).get("app") == "nvidia-dcgm-exporter"]


async def test_pod_proxy_scrape_matches_the_model(demo) -> None:
    cluster, kubeconfig = demo
    creds = config.load(kubeconfig, None)
    async with KubeClient(creds, max_retries=1) as client:
        store = await synced(kubeconfig, client)
        s = DcgmExporterSampler(client, mode="proxy", groups=StoreGroupIndex(store))
        try:
            snap = await s.sample()
        finally:
            await s.close()
    exporters = exporter_pods(cluster)
    assert snap.error is None and not snap.failing_nodes
    assert set(snap.nodes) == {p["spec"]["nodeName"] for p in exporters} and s.scrapes == len(exporters)

    # Values are what each exporter pod serves (read here straight from the simulator at the same clock).
    for p in exporters:
        direct = parse(cluster.proxies[9400](p, "metrics", {})[1].decode())
        got = {g.uuid: g for g in snap.nodes[p["spec"]["nodeName"]].gpus}
        assert set(got) == {u for u, _ in direct.gpus}
        for (uuid, _), g in direct.gpus.items():
            assert got[uuid].util_pct == g.values["DCGM_FI_DEV_GPU_UTIL"]
            assert got[uuid].mem_used_mib == g.values["DCGM_FI_DEV_FB_USED"]

    # Every model GPU row gets a sample, and the sample's pods are exactly the row's holders.
    rows = store.gpus.rows
    matched = match_rows(snap, rows)
    assert len(matched) == len(rows) == sum(len(ng.gpus) for ng in snap.nodes.values())
    shared = 0
    for key, row in rows.items():
        sample = matched[key]
        assert {(h.namespace, h.pod) for h in row.holders} == {(p.namespace, p.name) for p in sample.pods}, key
        if row.uuid:
            assert sample.uuid == row.uuid
        if row.reservation_pod:
            shared += 1
            assert sample.reservation.name == row.reservation_pod
            assert all(p.via == "runai-gpu-group" for p in sample.pods)
        if row.use == "free":
            assert sample.util_pct == 0 and sample.mem_used_mib == 0
    assert shared >= 3

    view = TelemetryView()
    changed, removed = view.ingest(snap, rows)
    assert len(changed) == len(rows) and not removed and all(t.util_pct is not None for t in view.rows.values())


async def test_one_node_exporter_fault_leaves_the_rest(demo) -> None:
    cluster, kubeconfig = demo
    broken = exporter_pods(cluster)[3]
    bad_node = broken["spec"]["nodeName"]
    serve = cluster.proxies[9400]

    def faulty(pod: dict, path: str, query: dict) -> tuple[str, bytes]:
        if pod["metadata"]["name"] == broken["metadata"]["name"]:
            raise RuntimeError("DCGM failed to initialize")
        return serve(pod, path, query)

    cluster.proxies[9400] = faulty
    creds = config.load(kubeconfig, None)
    async with KubeClient(creds, max_retries=1) as client:
        store = await synced(kubeconfig, client)
        s = DcgmExporterSampler(client, mode="proxy", groups=StoreGroupIndex(store))
        try:
            snap = await s.sample()
        finally:
            await s.close()
    assert snap.failing_nodes == [bad_node]
    assert "DCGM failed to initialize" in snap.nodes[bad_node].error
    view = TelemetryView()
    view.ingest(snap, store.gpus.rows)
    for key, tel in view.rows.items():
        if key[0] == bad_node:
            assert tel.util_pct is None and "DCGM failed to initialize" in tel.error
        else:
            assert tel.util_pct is not None and tel.error is None


async def test_snapshot_command_adds_gpu_telemetry(demo) -> None:
    cluster, kubeconfig = demo
    snap = await take(kubeconfig, None, "gpus")
    gpus = snap["gpus"]
    assert gpus and snap["telemetry"].startswith("dcgm-exporter: 96 GPUs on 14/14 nodes")
    for g in gpus:
        assert {"util_pct", "mem_used_mib", "temp_c", "power_w", "idle_for_s"} <= set(g)
        assert g["util_pct"] is not None and g["temp_c"] > 0 and g["power_w"] > 0
        if not g["holders"]:
            assert g["idle_for_s"] is None and g["util_pct"] == 0
    # Allocated yet idle right now (the demo's notebooks): idle for an unknown time, shown as 0.
    idle = [g for g in gpus if g["idle_for_s"] is not None]
    assert idle and all(g["holders"] and g["util_pct"] < 5 for g in idle)
    text = render(snap, "wide", "gpus")
    assert "UTIL%" in text and "IDLE_S" in text and "telemetry: dcgm-exporter" in text
    assert "UTIL%" not in render(snap, "table", "gpus"), "the plain table leaves the telemetry columns to -o wide"
    workloads_only = await take(kubeconfig, None, "workloads")
    assert "telemetry" not in workloads_only
