"""`gpuconsole snapshot -n/-A/-l/--project/--watch/-o wide` against the demo simulator, checked with kubectl."""

from __future__ import annotations

import asyncio
import io
import shutil

import orjson
import pytest

from console.cli import main
from console.kube.selectors import parse_label_selector
from console.model.scope import Scope
from console.sim.resources import NODES, PODS
from console.snapshot_cmd import LiveSnapshot, take
from console.snapshot_format import render, render_watch_frame
from console.version import version

NS = "runai-chat-serving"


async def _main(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


async def _kubectl(kubeconfig: str, *args: str) -> dict:
    proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", kubeconfig, *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return orjson.loads(out)


def _pods(snap: dict) -> set[tuple[str, str]]:
    return {(w["namespace"], p) for w in snap["workloads"] for p in w["pod_names"]}


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("selector", ["serving.knative.dev/service=llama-8b-chat", "app in (embeddings, guardrails),runai-gpu-group",
                                      "app notin (code-assistant),!runai-gpu-group", "app!=code-assistant"])
async def test_namespace_and_selector_hold_what_kubectl_get_pods_holds(demo, capsys, selector) -> None:
    cluster, kubeconfig = demo
    rc, out, err = await _main(capsys, "snapshot", "--kubeconfig", kubeconfig, "-n", NS, "-l", selector,
                               "-o", "json")
    assert rc == 0, err
    snap = orjson.loads(out)
    want = await _kubectl(kubeconfig, "get", "pods", "-n", NS, "-l", selector, "-o", "json")
    names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in want["items"]}
    assert names, "the selector picks some pods in the demo"
    assert _pods(snap) == names
    assert snap["version"] == version()
    assert snap["scope"] == {"namespace": NS, "selector": str(parse_label_selector(selector)), "project": None}
    assert {w["namespace"] for w in snap["workloads"]} == {NS}
    held = {(h["namespace"], h["pod"]) for g in snap["gpus"] for h in g["holders"]}
    assert held & names and all(any((h["namespace"], h["pod"]) in names for h in g["holders"]) for g in snap["gpus"])
    assert {p["name"] for p in snap["projects"]} == {"chat-serving", "production"}  # the project and its department
    assert len(snap["nodes"]) == len(list(cluster.store.items(NODES))), "nodes are cluster-scoped"


async def test_project_all_namespaces_and_the_table_header(demo) -> None:
    cluster, kubeconfig = demo
    every = await take(kubeconfig, None)
    assert every["version"] == version() and "scope" not in every
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.store.items(PODS)}
    assert _pods(every) <= pods and len(_pods(every)) > 50, "every workload lists its pods"
    snap = await take(kubeconfig, None, scope=Scope(project="production"))  # a department: its projects
    projects = {p["name"] for p in snap["projects"]}
    assert "production" in projects and "chat-serving" in projects and "vision" not in projects
    assert snap["workloads"] and {w["project"] for w in snap["workloads"]} <= projects
    text = render(snap, "table")
    first = text.splitlines()[0]
    assert first.startswith(f"gpuconsole {version()}  context: sim-admin") and "project: production" in first
    assert "UTIL%" not in text and "UTIL%" in render(snap, "wide")


async def test_bad_scope_and_watch_values_exit_with_the_readme_codes(demo, capsys) -> None:
    _, kubeconfig = demo
    for argv, code, message in [
        (["-n", "no-such-ns"], 1, "namespace 'no-such-ns' not found"),
        (["--project", "ghost"], 1, "project 'ghost' not found (projects: chat-serving,"),
        (["-l", "app in (a"], 2, "-l 'app in (a': unable to parse requirement: found '', expected: ',' or ')'"),
        (["-l", "Bad_Prefix.io/x=1"], 2, "prefix part a lowercase RFC 1123 subdomain"),
        (["--watch", "0"], 2, "--watch 0: the interval must be a number of seconds above 0"),
        (["--watch", "-3"], 2, "--watch -3: the interval must be a number of seconds above 0"),
    ]:
        rc, out, err = await _main(capsys, "snapshot", "--kubeconfig", kubeconfig, *argv)
        assert (rc, out) == (code, ""), (argv, err)
        assert message in err, err


async def test_watch_keeps_the_informers_and_prints_one_json_document_per_line(demo) -> None:
    cluster, kubeconfig = demo
    async with LiveSnapshot(kubeconfig, None, "workloads") as live:
        first = await live.take(Scope(namespace=NS))
        lists = live.client.stats.requests  # type: ignore[union-attr]
        dep = next(w for w in first["workloads"] if w["kind"] == "Deployment")
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", kubeconfig, "-n", NS, "scale", f"deployment/{dep['name']}",
            f"--replicas={dep['replicas_desired'] + 1}", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert await proc.wait() == 0
        for _ in range(200):  # the change arrives through the open watch
            second = await live.take(Scope(namespace=NS))
            w2 = next(w for w in second["workloads"] if w["name"] == dep["name"])
            if w2["replicas_desired"] == dep["replicas_desired"] + 1:
                break
            await asyncio.sleep(0.05)
        assert w2["replicas_desired"] == dep["replicas_desired"] + 1
        assert live.client.stats.requests == lists, "no list or watch was reopened between prints"  # type: ignore
    out = io.StringIO()
    for i, snap in enumerate((first, second)):
        out.write(render_watch_frame(snap, "json", "workloads", tty=False, first=i == 0, interval_s=2))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and [orjson.loads(x)["scope"]["namespace"] for x in lines] == [NS, NS]
    frame = render_watch_frame(first, "table", "workloads", tty=True, first=True, interval_s=2)
    assert frame.startswith("\x1b[H\x1b[2J") and "every 2s" in frame
