"""How long the console's model takes to take in a large cluster, and what it holds in memory.

A synthetic cluster shaped like the `large` target (2,000 nodes x 8 GPUs, 60,000 pods, 500 queues, with
Deployments, ReplicaSets, Jobs, PodGroups, Services and fractional GPUs behind reservation pods) is
written as API list pages (JSON, 5,000 items a page) to a temporary folder. Then, timed:

- parse only: read and `orjson`-parse every page (the floor any client pays);
- sync: parse + `ClusterStore.replace()` per kind, streaming page by page, + the first `drain()`
  (the best of two runs, as is parse only);
- events: 20,000 pod MODIFIED events (phase / readiness flips) applied, then one drain.

Memory: `tracemalloc` peak and retained size of a second, traced sync, and the process RSS after it.
Run: `.venv/bin/python -m bench.model_sync [--pods N --nodes N --queues N]`.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from console.model.cluster_store import ClusterStore

PAGE = 5000
KINDS = ["nodes", "queues.scheduling.run.ai", "deployments.apps", "replicasets.apps", "jobs.batch",
         "services", "podgroups.scheduling.run.ai", "pods"]


def _uid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pod(rng: random.Random, ns: str, name: str, *, labels: dict, ann: dict, owner: dict | None, node: str | None,
         limits: dict, phase: str, ready: bool) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "uid": _uid(rng), "resourceVersion": str(rng.randrange(10**7)),
                          "creationTimestamp": "2026-03-01T10:00:00Z", "labels": labels, "annotations": ann}
    if owner:
        md["ownerReferences"] = [owner]
    spec: dict[str, Any] = {
        "schedulerName": "kai-scheduler", "restartPolicy": "Always", "serviceAccountName": "default",
        "containers": [{"name": "main", "image": "nvcr.io/nvidia/pytorch:24.01-py3", "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "serve"], "args": ["--port", "8000"],
                        "env": [{"name": "RUNAI_PROJECT", "value": ns}, {"name": "POD_INDEX", "value": "0"}],
                        "resources": {"limits": limits, "requests": {"cpu": "2", "memory": "8Gi", **limits}},
                        "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io"}]}],
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}],
    }
    if node:
        spec["nodeName"] = node
    conds = [{"type": "PodScheduled", "status": "True" if node else "False",
              "lastTransitionTime": "2026-03-01T10:00:01Z"}]
    if not node:
        conds[0].update(reason="Unschedulable", message="NonPreemptibleOverQuota: queue is over its quota")
    else:
        conds.append({"type": "Ready", "status": "True" if ready else "False",
                      "lastTransitionTime": "2026-03-01T10:00:05Z"})
    status: dict[str, Any] = {"phase": phase, "conditions": conds, "qosClass": "Burstable"}
    if node:
        status.update(hostIP="10.0.0.1", podIP="100.64.0.1", startTime="2026-03-01T10:00:02Z",
                      containerStatuses=[{"name": "main", "ready": ready, "restartCount": 0, "started": True,
                                          "image": "nvcr.io/nvidia/pytorch:24.01-py3",
                                          "state": {"running": {"startedAt": "2026-03-01T10:00:04Z"}}}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def synth(pods: int = 60_000, nodes: int = 2_000, queues: int = 500, seed: int = 7) -> dict[str, list[dict]]:
    """Raw objects by kind for a cluster of the given size (deterministic for a seed)."""
    rng = random.Random(seed)
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    node_names = [f"gpu-node-{i:04d}" for i in range(nodes)]
    for n in node_names:
        out["nodes"].append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "uid": _uid(rng), "labels": {
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559",
            "nvidia.com/gpu.count": "8", "nvidia.com/gpu.present": "true", "kubernetes.io/hostname": n}},
            "spec": {}, "status": {"allocatable": {"cpu": "192", "memory": "2Ti", "nvidia.com/gpu": "8"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
    departments = max(1, queues // 10)
    projects = [f"p{i:03d}" for i in range(queues - departments)]
    for d in range(departments):
        out["queues.scheduling.run.ai"].append({"metadata": {"name": f"dept-{d:02d}"}, "spec": {
            "resources": {"gpu": {"quota": -1, "limit": -1, "overQuotaWeight": 1}}}})
    for i, p in enumerate(projects):
        out["queues.scheduling.run.ai"].append({"metadata": {"name": p}, "spec": {
            "parentQueue": f"dept-{i % departments:02d}", "priority": 100,
            "resources": {"gpu": {"quota": 32, "limit": -1, "overQuotaWeight": 1}}},
            "status": {"allocated": {"nvidia.com/gpu": "24"}, "requested": {"nvidia.com/gpu": "30"}}})
    gpu_slots = [(n, i) for n in node_names for i in range(8)]
    rng.shuffle(gpu_slots)
    made = 0
    w = 0
    while made < pods:
        p = projects[w % len(projects)]
        ns = f"runai-{p}"
        w += 1
        kind = rng.random()
        replicas = rng.choice([1, 2, 4, 8])
        name = f"wl-{w}"
        labels = {"kai.scheduler/queue": p, "app": name}
        frac = kind < 0.25
        whole = 0.25 <= kind < 0.6
        if kind < 0.5:  # inference Deployment
            dep_uid, rs_uid = _uid(rng), _uid(rng)
            out["deployments.apps"].append({"metadata": {"name": name, "namespace": ns, "uid": dep_uid, "labels": labels},
                                            "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels},
                                                     "spec": {"containers": [{"name": "main"}]}}}})
            rs = f"{name}-7d9c"
            out["replicasets.apps"].append({"metadata": {"name": rs, "namespace": ns, "uid": rs_uid, "labels": labels,
                                                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                                              "name": name, "uid": dep_uid,
                                                                              "controller": True}]},
                                            "spec": {"replicas": replicas}})
            out["services"].append({"metadata": {"name": name, "namespace": ns},
                                    "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
            owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs_uid, "controller": True}
        else:  # training Job
            job_uid = _uid(rng)
            out["jobs.batch"].append({"metadata": {"name": name, "namespace": ns, "uid": job_uid, "labels": labels},
                                      "spec": {"parallelism": replicas, "completions": replicas},
                                      "status": {"active": replicas}})
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job_uid, "controller": True}
            pg = f"pg-{name}-{job_uid}"
            out["podgroups.scheduling.run.ai"].append({"metadata": {"name": pg, "namespace": ns}, "spec": {
                "minMember": replicas, "queue": p, "priorityClassName": "train"}, "status": {}})
        for r in range(replicas):
            if made >= pods:
                break
            pod_labels = dict(labels)
            ann: dict[str, str] = {}
            limits: dict[str, str] = {}
            node = None
            if frac and gpu_slots:
                ann["gpu-fraction"] = "0.5"
                n, i = gpu_slots.pop()
                group = _uid(rng)
                pod_labels["runai-gpu-group"] = group
                node = n
                res = f"gpu-reservation-{n}-{i}"
                out["pods"].append(_pod(rng, "kai-resource-reservation", res,
                                        labels={"app": "kai-resource-reservation", "runai-gpu-group": group},
                                        ann={"run.ai/reserve_for_gpu_index": f"GPU-{group}"}, owner=None, node=n,
                                        limits={"nvidia.com/gpu": "1"}, phase="Running", ready=True))
                made += 1
            elif whole and gpu_slots:
                limits["nvidia.com/gpu"] = "1"
                node = gpu_slots.pop()[0]
            elif not frac and not whole:
                node = rng.choice(node_names) if rng.random() < 0.9 else None
            pname = f"{name}-{r}"
            if kind < 0.5:
                ann["pod-group-name"] = f"pg-{pname}"
                out["podgroups.scheduling.run.ai"].append({"metadata": {"name": f"pg-{pname}", "namespace": ns},
                                                           "spec": {"minMember": 1, "queue": p,
                                                                    "priorityClassName": "inference"}, "status": {}})
            else:
                ann["pod-group-name"] = pg
            out["pods"].append(_pod(rng, ns, pname, labels=pod_labels, ann=ann, owner=owner, node=node, limits=limits,
                                    phase="Running" if node else "Pending", ready=bool(node)))
            made += 1
    return out


def write_pages(objs: dict[str, list[dict]], folder: Path, page: int = PAGE) -> dict[str, list[Path]]:
    pages: dict[str, list[Path]] = {}
    for kind, items in objs.items():
        pages[kind] = []
        for i in range(0, max(1, len(items)), page):
            p = folder / f"{kind}-{i // page:04d}.json"
            p.write_bytes(orjson.dumps({"kind": "List", "metadata": {"resourceVersion": "1"},
                                        "items": items[i:i + page]}))
            pages[kind].append(p)
    return pages


def _stream(paths: list[Path]) -> Iterator[dict]:
    for p in paths:
        yield from orjson.loads(p.read_bytes())["items"]


def parse_only(pages: dict[str, list[Path]]) -> float:
    t0 = time.perf_counter()
    n = 0
    for kind in KINDS:
        for p in pages[kind]:
            n += len(orjson.loads(p.read_bytes())["items"])
    return time.perf_counter() - t0


def sync(pages: dict[str, list[Path]]) -> tuple[ClusterStore, float, float]:
    store = ClusterStore()
    t0 = time.perf_counter()
    for kind in KINDS:
        store.replace(kind, _stream(pages[kind]))
    t1 = time.perf_counter()
    store.drain()
    return store, t1 - t0, time.perf_counter() - t1


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(folder: Path) -> None:
    """In a fresh interpreter: sync from the pages, drain, and print the resident set (what the console pays)."""
    pages = {k: sorted(folder.glob(f"{k}-*.json")) for k in KINDS}
    base = rss_mb()
    store, _, _ = sync(pages)
    gc.collect()
    print(f"{base:.0f} {rss_mb():.0f} {len(store.pods)}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=60_000)
    ap.add_argument("--nodes", type=int, default=2_000)
    ap.add_argument("--queues", type=int, default=500)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--page", type=int, default=PAGE, help="items per list page (the informer's page size)")
    ap.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.rss_child:
        rss_child(a.rss_child)
        return {}
    folder = Path(tempfile.mkdtemp(prefix="gpuconsole-model-"))
    try:
        objs = synth(a.pods, a.nodes, a.queues)
        counts = {k: len(v) for k, v in objs.items()}
        pages = write_pages(objs, folder, a.page)
        size = sum(p.stat().st_size for ps in pages.values() for p in ps)
        events = [o for o in objs["pods"] if o["metadata"]["namespace"] != "kai-resource-reservation"][:a.events]
        del objs
        gc.collect()
        print(f"model_sync: {counts['pods']} pods, {counts['nodes']} nodes, {counts['queues.scheduling.run.ai']} "
              f"queues, {sum(counts.values())} objects, {size / 1e6:.0f} MB of JSON in pages of {a.page}")
        parse_s = min(parse_only(pages) for _ in range(2))
        print(f"model_sync: parse only (read + orjson) {parse_s:.2f} s")
        runs = []
        for _ in range(2):
            store, apply_s, drain_s = sync(pages)
            runs.append((apply_s + drain_s, apply_s, drain_s))
            if len(runs) == 1:
                del store
                gc.collect()
        total, apply_s, drain_s = min(runs)
        print(f"model_sync: sync (parse + project + index) {apply_s:.2f} s, first drain (all views) {drain_s:.2f} s, "
              f"total {total:.2f} s = {total / parse_s:.1f}x parse only; model work {total - parse_s:.2f} s")
        print(f"model_sync: rows: {len(store.projects.rows)} projects, {len(store.gpus.rows)} GPUs, "
              f"{len(store.workloads.rows)} workloads, {len(store.nodes_view.rows)} nodes")
        rng = random.Random(1)
        flips = []
        for o in events:
            o = dict(o)
            st = dict(o["status"])
            st["conditions"] = [dict(c, status=rng.choice(["True", "False"])) if c["type"] == "Ready" else c
                                for c in st.get("conditions", [])]
            o["status"] = st
            flips.append(o)
        t0 = time.perf_counter()
        for o in flips:
            store.apply("pods", "MODIFIED", o)
        ev_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        d = store.drain()
        ev_drain = time.perf_counter() - t0
        n_events, changed = len(flips), len(d.workloads.upserts)
        print(f"model_sync: {n_events} pod events applied in {ev_s:.2f} s ({n_events / ev_s:,.0f}/s), "
              f"then one drain in {ev_drain * 1000:.0f} ms ({changed} workload rows changed)")
        del store, flips, events, d
        gc.collect()
        tracemalloc.start()
        store, _, _ = sync(pages)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del store
        gc.collect()
        out = subprocess.run([sys.executable, "-m", "bench.model_sync", "--rss-child", str(folder)],
                             capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        base, after, _ = (float(x) for x in out.stdout.split())
        print(f"model_sync: tracemalloc peak {peak / 2**20:.0f} MiB, retained after sync {current / 2**20:.0f} MiB; "
              f"a fresh process: RSS {base:.0f} MB before, {after:.0f} MB after sync")
        return {"parse_s": parse_s, "sync_s": total, "events_per_s": n_events / ev_s if ev_s else 0.0,
                "peak_mib": peak / 2**20, "retained_mib": current / 2**20, "rss_mb": after}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
