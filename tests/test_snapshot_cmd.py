"""`gpuconsole snapshot` against the demo simulator: the model matches the API's objects."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import shutil
import struct
import sys
import termios
import threading
from pathlib import Path

import orjson
import pytest

from console.model.quantity import parse_quantity
from console.sim import faults
from console.sim.resources import DEPLOYMENTS, PODS, QUEUES
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


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_a_deleted_pod_shows_terminating_holding_its_share_until_it_goes(demo) -> None:
    """kubectl deletes a fraction pod without waiting: the snapshot shows it Terminating, still on its GPU
    (its share not free), its workload's replacement pending; once the grace period is over it is gone."""
    from console.sim.resources import PODS
    cluster, kubeconfig = demo
    before = await take(kubeconfig, None, "gpus")
    g = next(g for g in before["gpus"] if len(g["holders"]) >= 2)
    h = g["holders"][0]
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", kubeconfig, "-n", h["namespace"], "delete", "pod", h["pod"], "--wait=false",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    cluster.settle()
    during = await take(kubeconfig, None)
    row = next(x for x in during["gpus"] if (x["node"], x["index"]) == (g["node"], g["index"]))
    held = {x["pod"]: x for x in row["holders"]}
    assert held[h["pod"]]["terminating"] is True and held[h["pod"]]["terminating_for_s"] >= 0
    # nothing was freed: the terminating pod still holds its share (a replacement may take what was free)
    assert held[h["pod"]]["share"] == h["share"] and row["free_share"] <= g["free_share"]
    assert sum(x["share"] for x in row["holders"]) + row["free_share"] == pytest.approx(1.0)
    assert during["gpu_summary"]["terminating_share"] == pytest.approx(h["share"])
    w = next(x for x in during["workloads"] if (x["namespace"], x["name"]) == (h["namespace"], h["workload"]))
    assert w["terminating"] == 1 and w["terminating_for_s"] is not None
    assert "⌛terminating" in render(during, "table", "gpus")
    assert cluster.store.get(PODS, h["namespace"], h["pod"])["metadata"]["deletionGracePeriodSeconds"] == 30
    cluster.clock.advance(30)
    cluster.settle()
    after = await take(kubeconfig, None)
    row = next(x for x in after["gpus"] if (x["node"], x["index"]) == (g["node"], g["index"]))
    assert h["pod"] not in {x["pod"] for x in row["holders"]}
    w = next(x for x in after["workloads"] if (x["namespace"], x["name"]) == (h["namespace"], h["workload"]))
    assert (w["terminating"], w["terminating_for_s"]) == (0, None)


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


async def test_progress_on_a_terminal_stderr_only_and_none_into_a_pipe(demo) -> None:
    """On a terminal, stderr shows the sync progress redrawn in place and wiped at the end; stdout holds the
    result alone. When stderr is not a terminal nothing is written to it."""
    cluster, kubeconfig = demo
    faults.install(cluster).add_latency(0.02)  # some 85 pods in pages of 5: the lists take a while
    cmd = [sys.executable, "-m", "console.cli", "snapshot", "--kubeconfig", kubeconfig, "-o", "json",
           "--view", "nodes", "--page-size", "5"]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a 160x40 terminal
    got = bytearray()

    def drain() -> None:  # read the terminal while the command writes (a full pty buffer would block it)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=slave)
    os.close(slave)
    out, _ = await proc.communicate()
    await asyncio.to_thread(reader.join, 10)
    os.close(master)
    assert proc.returncode == 0
    assert orjson.loads(out)["nodes"], "stdout is the result, parseable as it is"
    tty = got.decode()
    frames = [f for f in tty.split("\r\x1b[K") if f]
    assert frames and all(f.startswith("syncing ") and len(f) < 160 for f in frames), frames[:3]
    pods = len(list(cluster.store.items(PODS)))
    assert any(re.search(rf"pods \S+ \d+/{pods} ~", f) for f in frames), frames   # the server's exact count
    assert tty.endswith("\r\x1b[K"), "the line is wiped when the sync is done"

    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0 and err == b"" and orjson.loads(out)["nodes"]
