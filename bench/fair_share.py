"""What the fair-share table costs the console each time a project or the GPU capacity changes.

The store recomputes the whole table (KAI's division down the queue tree, saturation, the victim order
for the reclaim-next mark) on a drain that changed any project row. Timed on a tree shaped like the
`large` scenario's (50 departments x 10 projects = 500 queues with quotas, limits, weights, priorities
and Queue status; 2,000 nodes x 8 GPUs), side by side with its peer on the same store: rebuilding every
project row from the records (`views_projects.compute_all`), the work a full re-list of Queues costs.
Run: `.venv/bin/python -m bench.fair_share [--departments N --projects N]`. Medians of 21 runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from console.model.cluster_store import ClusterStore
from console.model.fair_share import capacity_of, compute
from console.model.views_projects import compute_all


def _queue(name: str, parent: str | None, rng: random.Random) -> dict:
    quota = rng.choice([0, 4, 8, 16, 24, 32, -1 if parent else 64])
    alloc = rng.uniform(0, 40)
    spec: dict = {"priority": rng.choice([75, 100, 100, 150]),
                  "resources": {"gpu": {"quota": quota, "limit": rng.choice([-1, -1, 0, 48]),
                                        "overQuotaWeight": rng.choice([1, 1, 2, 3])}}}
    if parent:
        spec["parentQueue"] = parent
    return {"metadata": {"name": name, "creationTimestamp": "2026-03-01T10:00:00Z"}, "spec": spec,
            "status": {"allocated": {"nvidia.com/gpu": f"{alloc:.3f}"},
                       "allocatedNonPreemptible": {"nvidia.com/gpu": f"{alloc * rng.random():.3f}"},
                       "requested": {"nvidia.com/gpu": f"{alloc + rng.choice([0, 0, 2, 8]):.3f}"}}}


def build(departments: int, projects: int, nodes: int) -> ClusterStore:
    rng = random.Random(7)
    queues = []
    for d in range(departments):
        queues.append(_queue(f"dept-{d:03d}", None, rng))
        queues += [_queue(f"proj-{d:03d}-{p:02d}", f"dept-{d:03d}", rng) for p in range(projects)]
    store = ClusterStore()
    store.replace("queues.scheduling.run.ai", queues)
    store.replace("nodes", [{"metadata": {"name": f"n{i:04d}", "labels": {"nvidia.com/gpu.count": "8"}},
                             "status": {"allocatable": {"nvidia.com/gpu": "8"},
                                        "conditions": [{"type": "Ready", "status": "True"}]}}
                            for i in range(nodes)])
    store.refresh()
    return store


def median_ms(fn, runs: int = 21) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--departments", type=int, default=50)
    ap.add_argument("--projects", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=2000)
    a = ap.parse_args(argv)
    store = build(a.departments, a.projects, a.nodes)
    cap = capacity_of(store.nodes.values())
    rows = store.projects.rows
    table = compute(store.queues, rows, cap)
    fs_ms = median_ms(lambda: compute(store.queues, rows, cap))
    rows_ms = median_ms(lambda: compute_all(store, {}))
    print(f"{len(store.queues)} queues, {cap:g} GPUs; reclaim next: "
          f"{table.reclaim_next.queue if table.reclaim_next else '-'}")
    print(f"fair-share table (division + saturation + victim order)  {fs_ms:8.2f} ms")
    print(f"peer: every project row rebuilt (compute_all)             {rows_ms:8.2f} ms")
    print(f"fair_share_ms={fs_ms:.2f} project_rows_ms={rows_ms:.2f} ratio={fs_ms / rows_ms:.2f}")


if __name__ == "__main__":
    main()
