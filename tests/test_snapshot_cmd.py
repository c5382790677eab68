"""`gpuconsole snapshot` against the demo simulator: the model matches the API's objects."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest

from console.model.quantity import parse_quantity
from console.sim.resources import DEPLOYMENTS, QUEUES
from console.snapshot_cmd import take
from console.snapshot_format import render


def _gpu(q: dict, field: str) -> float:
    return parse_quantity(((q.get("status") or {}).get(field) or {}).get("nvidia.com/gpu", "0"))


async def test_snapshot_matches_queues_and_groups_inference(demo) -> None:
    cluster, kubeconfig = demo
    snap = await take(kubeconfig, None)
    assert snap["cluster"]["kai"] is True and snap["hidden"] == []
    projects = {p["name"]: p for p in snap["projects"]}
    queues = list(cluster.store.items(QUEUES))
    assert set(projects) == {q["metadata"]["name"] for q in queues}
    for q in queues:
        p = projects[q["metadata"]["name"]]
        gpu = q["spec"]["resources"]["gpu"]
        assert p["parent"] == q["spec"].get("parentQueue")
        assert p["quota_gpu"] == gpu.get("quota")
        assert p["limit_gpu"] == gpu.get("limit")
        assert p["over_quota_weight"] == gpu.get("overQuotaWeight")
        assert p["allocated_gpu"] == pytest.approx(_gpu(q, "allocated"))
        assert p["allocated_nonpreemptible_gpu"] == pytest.approx(_gpu(q, "allocatedNonPreemptible"))
        assert p["requested_gpu"] == pytest.approx(_gpu(q, "requested"))

    shared = [g for g in snap["gpus"] if len(g["holders"]) >= 2]
    assert shared, "the demo shares GPUs between pods"
    for g in shared:
        assert g["uuid"].startswith("GPU-")
        assert sum(h["share"] for h in g["holders"]) + g["free_share"] == pytest.approx(1.0)

    deps = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in cluster.store.items(DEPLOYMENTS)}
    inference = [w for w in snap["workloads"] if w["kind"] == "Deployment" and w["type"] == "inference"]
    assert inference
    for w in inference:
        d = deps[(w["namespace"], w["name"])]
        assert w["replicas_desired"] == d["spec"]["replicas"]
    assert any(w["replicas_desired"] > 1 for w in inference), "replicas are grouped under their Deployment"
    pending = [w for w in snap["workloads"] if w["pending_reason"]]
    assert any("NonPreemptibleOverQuota" in w["pending_reason"] or "quota" in w["pending_reason"].lower()
               for w in pending)

    exporter = next(w for w in snap["workloads"] if w["name"] == "nvidia-dcgm-exporter")
    assert (exporter["kind"], exporter["type"], exporter["preemptible"]) == ("DaemonSet", "system", False)

    text = render(snap, "table")
    assert "PROJECTS" in text and "GPUS" in text and "WORKLOADS" in text and "NODES" in text
    assert orjson.loads(render(snap, "json", "projects"))["projects"][0]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_snapshot_after_kubectl_scale(demo) -> None:
    cluster, kubeconfig = demo
    before = await take(kubeconfig, None, "workloads")
    w = next(w for w in before["workloads"] if w["kind"] == "Deployment" and w["type"] == "inference")
    target = w["replicas_desired"] + 2
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", kubeconfig, "-n", w["namespace"], "scale", f"deployment/{w['name']}",
        f"--replicas={target}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    cluster.settle()
    after = await take(kubeconfig, None, "workloads")
    w2 = next(x for x in after["workloads"] if (x["namespace"], x["name"]) == (w["namespace"], w["name"]))
    assert w2["replicas_desired"] == target
    assert w2["replicas_ready"] + w2["replicas_pending"] >= target or w2["replicas_pending"] > 0


async def test_snapshot_of_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from console.kube.errors import ApiError
    kc = tmp_path / "k.yaml"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                  "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "current-context: x\n")
    with pytest.raises(ApiError) as e:
        await asyncio.wait_for(take(str(kc), None), 60)
    assert e.value.unreachable


async def test_viewer_and_confined_researcher_each_get_a_model(demo) -> None:
    cluster, kubeconfig = demo
    viewer = await take(kubeconfig, "sim-viewer")
    assert viewer["hidden"] == [] and viewer["workloads"] and viewer["gpus"]

    ns = "runai-chat-serving"
    snap = await take(kubeconfig, "sim-researcher-chat-serving")
    assert snap["workloads"], "the researcher sees its own project's workloads"
    assert {w["namespace"] for w in snap["workloads"]} == {ns}
    assert len(snap["nodes"]) == len(viewer["nodes"]), "nodes stay readable"
    hidden = " ".join(snap["hidden"])
    assert "pods: only namespaces runai-chat-serving are readable" in hidden
    assert "deployments.apps" in hidden
    text = render(snap, "table")
    assert "hidden: pods: only namespaces runai-chat-serving are readable" in text


async def test_snapshot_talks_to_the_server_kubectl_names_for_every_order(tmp_path: Path, monkeypatch, capsys) -> None:
    """Two kubeconfig files that each set a current context: whichever order KUBECONFIG lists them in,
    snapshot reaches the server kubectl names, and when that one is down the error names it."""
    import base64
    import os
    import subprocess

    import yaml

    from console.cli import main
    from tests.conftest import make_sim_cluster, serve_sim

    servers, files = {}, {}
    for name in ("a", "b"):
        sim, srv = await serve_sim(make_sim_cluster(), tmp_path, name=f"sim-{name}")
        servers[name] = (sim, srv)
        f = tmp_path / f"{name}.yaml"
        f.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": f"ctx-{name}",
            "clusters": [{"name": f"c{name}", "cluster": {
                "server": sim.url,
                "certificate-authority-data": base64.b64encode(Path(sim.ca_file).read_bytes()).decode()}}],
            "users": [{"name": f"u{name}", "user": {"token": sim.tokens["admin"]}}],
            "contexts": [{"name": f"ctx-{name}", "context": {"cluster": f"c{name}", "user": f"u{name}"}}]}))
        files[name] = f
    kubectl = shutil.which("kubectl")
    try:
        for first, second in (("a", "b"), ("b", "a")):
            env = f"{files[first]}{os.pathsep}{files[second]}"
            monkeypatch.setenv("KUBECONFIG", env)
            if kubectl:
                named = subprocess.run([kubectl, "config", "view", "--minify", "-o",
                                        "jsonpath={.clusters[0].cluster.server}"], capture_output=True, text=True,
                                       env={**os.environ, "KUBECONFIG": env}, check=True).stdout
                assert named == servers[first][0].url
            before = {n: s[1].api.requests for n, s in servers.items()}
            capsys.readouterr()
            rc = await asyncio.to_thread(main, ["snapshot", "-o", "json"])
            out = capsys.readouterr().out
            assert rc == 0
            assert orjson.loads(out)["cluster"]["server"] == servers[first][0].url
            assert servers[first][1].api.requests > before[first]
            assert servers[second][1].api.requests == before[second]  # the other cluster was never touched
        # the chosen cluster down: the error names the context, the server and the file
        sim_b, srv_b = servers["b"]
        await srv_b.stop()
        rc = await asyncio.to_thread(main, ["snapshot"])
        err = capsys.readouterr().err
        assert rc == 1
        assert err == f"gpuconsole snapshot: cannot reach {sim_b.url} (context ctx-b from {files['b']}): " \
                      "connection refused\n"
    finally:
        for _, srv in servers.values():
            await srv.stop()
