"""The demo's motion: autoscaled inference, arriving and finishing jobs, all reproducible from the seed."""

from __future__ import annotations

from console.sim import controllers, scenarios
from console.sim.cluster import SimCluster
from console.model import autoscaling
from console.sim.dynamics import DYNAMIC_LABEL, load_curve, parse_autoscale
from console.sim.resources import DEPLOYMENTS, JOBS, KREVISIONS, PODS
from tests.sim.test_workloads import Binder


def run(seed: int, seconds: int, step: int = 5) -> tuple[SimCluster, list[int], list[str]]:
    c = SimCluster(seed=seed, manual_clock=True)
    c.add(Binder(c))
    controllers.install(c)
    scenarios.build(c, "demo", dynamic=True)
    replicas = []
    for _ in range(seconds // step):
        c.clock.advance(step)
        c.settle()
        replicas.append(c.store.get(DEPLOYMENTS, "runai-chat-serving", "llama-8b-chat-00001-deployment")
                        ["spec"]["replicas"])
    names = sorted(j["metadata"]["name"] for j in c.store.items(JOBS)
                   if j["metadata"]["labels"].get(DYNAMIC_LABEL))
    return c, replicas, names


def test_load_curve_stays_in_range_and_moves() -> None:
    vals = [load_curve(1, ("ns", "svc"), t) for t in range(0, 1800, 10)]
    assert all(0.05 <= v <= 1.0 for v in vals)
    assert max(vals) - min(vals) > 0.2
    assert vals == [load_curve(1, ("ns", "svc"), t) for t in range(0, 1800, 10)]
    assert parse_autoscale("2-6") == (2, 6) and parse_autoscale("6-2") is None and parse_autoscale("x") is None


def test_dynamics_scale_submit_and_finish() -> None:
    c, replicas, names = run(seed=3, seconds=600)
    # llama-8b-chat is a Knative Service: its KPA moves the revision's Deployment within min..max-scale.
    rev = c.store.get(KREVISIONS, "runai-chat-serving", "llama-8b-chat-00001")
    spec = autoscaling.knative(rev["metadata"]["annotations"])
    lo, hi = spec.min, spec.max
    assert (lo, hi) == (2, 6)
    assert len(set(replicas)) > 1 and all(lo <= r <= hi for r in replicas)
    pods = [p for p in c.store.items(PODS, "runai-chat-serving")
            if p["metadata"]["name"].startswith("llama-8b-chat-00001-deployment-")
            and p["status"].get("phase") != "Failed" and not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == replicas[-1]
    dyn = c.extras["dynamics"]
    assert dyn.arrivals >= 20                      # one every 6–18 s over ten minutes
    finished = [j for j in c.store.items(JOBS) if any(x["type"] == "Complete" for x in
                                                      (j.get("status") or {}).get("conditions") or [])]
    assert finished, "some jobs ran to completion"
    assert len(names) <= dyn.max_jobs


def test_dynamics_are_reproducible() -> None:
    _, r1, n1 = run(seed=5, seconds=120)
    _, r2, n2 = run(seed=5, seconds=120)
    _, r3, n3 = run(seed=6, seconds=120)
    assert (r1, n1) == (r2, n2)
    assert n1 and n1 != n3


def test_preemptions_in_the_demo_show_victims_terminating_for_their_grace_period() -> None:
    """The demo with the real KAI-like scheduler: a preempted pod is marked DisruptionTarget, then stays
    Terminating (on its node, holding its GPU) for its grace period before it goes; evictions stay rare."""
    from console.sim.build import make_cluster

    c = make_cluster("demo", seed=42, dynamic=True, manual_clock=True)
    marked: dict[str, float] = {}
    terminating: dict[str, tuple[float, int, str]] = {}
    gone: dict[str, float] = {}

    def watch(ch) -> None:
        if ch.rkey != "pods":
            return
        name, t = ch.obj["metadata"]["name"], c.clock.now()
        if ch.type == "DELETED":
            if (ch.obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                gone[name] = t  # (one whose containers finished inside the period goes when they do)
            return
        if any(x.get("type") == "DisruptionTarget" for x in (ch.obj.get("status") or {}).get("conditions") or []):
            marked.setdefault(name, t)
        md = ch.obj["metadata"]
        if md.get("deletionTimestamp") and not (ch.old or {}).get("metadata", {}).get("deletionTimestamp"):
            terminating[name] = (t, md["deletionGracePeriodSeconds"], ch.obj["spec"].get("nodeName") or "")
    c.store.subscribe(watch)
    for _ in range(60):
        c.clock.advance(5)
        c.settle()
    graceful = [n for n in marked if n in terminating and terminating[n][1] > 0]
    assert graceful, "some preemption victim terminated gracefully"
    for n in graceful:
        t, grace, node = terminating[n]
        assert node and grace == 30
        assert marked[n] <= t and (n not in gone or gone[n] - t >= grace)
    assert any(n in gone for n in graceful), "a victim went when its grace period was over"
    assert len(marked) <= c.extras["dynamics"].arrivals  # no eviction storm
