"""A pane in its default order patches the order when rows only come and go: the same rows, in the same
order, as sorting them all again."""

from __future__ import annotations

import random

from console.model.cluster_store import ClusterStore
from console.model.events import EventBuffer
from console.ui.panes.base import PaneContext
from console.ui.panes.nodes import NodesPane
from console.ui.panes.workloads import WorkloadsPane


def pod(ns: str, name: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}, "status": {"phase": "Running"}}


def node(name: str) -> dict:
    return {"metadata": {"name": name, "uid": f"uid-{name}"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "allocatable": {"nvidia.com/gpu": "8"}}}


def test_rows_that_come_and_go_are_put_in_place_as_a_sort_would() -> None:
    rng = random.Random(5)
    store = ClusterStore()
    ctx = PaneContext(store=store, events=EventBuffer())
    panes = {"workloads": WorkloadsPane(ctx), "nodes": NodesPane(ctx)}
    pods: set[tuple[str, str]] = set()
    nodes: set[str] = set()
    patched = 0
    for step in range(60):
        for _ in range(rng.randint(0, 12)):
            if pods and rng.random() < 0.3:
                ns, name = rng.choice(sorted(pods))
                pods.discard((ns, name))
                store.apply("pods", "DELETED", pod(ns, name))
            else:
                ns, name = rng.choice(["a", "b", "zz"]), f"p-{rng.randint(0, 400):03d}"
                pods.add((ns, name))
                store.apply("pods", "ADDED", pod(ns, name))
            if rng.random() < 0.2:
                n = f"node-{rng.randint(0, 60):02d}"
                if n in nodes and rng.random() < 0.5:
                    nodes.discard(n)
                    store.apply("nodes", "DELETED", node(n))
                else:
                    nodes.add(n)
                    store.apply("nodes", "ADDED", node(n))
        delta = store.drain()
        panes["workloads"].absorb(delta.workloads.upserts, delta.workloads.removed)
        panes["nodes"].absorb(delta.nodes.upserts, delta.nodes.removed)
        if step == 30:     # another order for a while, then back: the next default order is sorted whole
            panes["workloads"].sort = "project"
            panes["workloads"].order()
            panes["workloads"].sort = "name"
        for name, p in panes.items():
            before = p._last is not None
            got = p.order()
            assert got == p._order(), f"{name} at step {step}"
            patched += before
    assert patched > 50, "the patched path ran"
    assert len(panes["workloads"].order()) == len(store.workloads.rows) > 50
