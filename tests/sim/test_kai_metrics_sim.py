"""The simulated KAI scheduler's metrics endpoint: KAI's family and labels, its own fair shares, the pod proxy."""

from __future__ import annotations

import re

import pytest

from console.sim.build import make_cluster
from console.sim.errors import ApiError
from console.sim.resources import DEPLOYMENTS, PODS, QUEUES, REPLICASETS

# What Go's Prometheus client writes for a gauge vector (client_golang text format 0.0.4).
_SAMPLE = re.compile(r'^kai_queue_fair_share_gpu\{queue_name="([^"\\]*)"\} (\d+(?:\.\d+)?(?:e[+-]\d+)?)$')


def scheduler_pod(c) -> dict:  # type: ignore[no-untyped-def]
    pods = [p for p in c.store.items(PODS) if p["metadata"]["namespace"] == "kai-scheduler"]
    assert len(pods) == 1
    return pods[0]


def parse_strict(text: str) -> dict[str, float]:
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == "# HELP kai_queue_fair_share_gpu GPU Fair share of queue, as a gauge. Values in GPU devices"
    assert lines[1] == "# TYPE kai_queue_fair_share_gpu gauge"
    out = {}
    for ln in lines[2:]:
        m = _SAMPLE.match(ln)
        assert m, f"bad sample {ln!r}"
        out[m.group(1)] = float(m.group(2))
    return out


def test_scheduler_runs_as_the_operator_deploys_it_and_serves_its_fair_shares() -> None:
    c = make_cluster("demo", manual_clock=True)
    c.settle()
    pod = scheduler_pod(c)
    md = pod["metadata"]
    assert md["labels"]["app"] == "kai-scheduler-default" and pod["status"]["phase"] == "Running"
    assert "--listen-address=:8080" in pod["spec"]["containers"][0]["args"]
    got = parse_strict(c.proxies[8080](pod, "metrics", {})[1].decode())
    fair = c.extras["kai_scheduler"].fair_share_now()
    display = {q["metadata"]["name"]: (q["spec"].get("displayName") or q["metadata"]["name"])
               for q in c.store.items(QUEUES)}
    # every queue, labelled as KAI labels it (displayName when set), with the scheduler's own division
    assert got == {display[n]: pytest.approx(v) for n, v in fair.items()}
    assert "Research" in got and "research" not in got
    assert sum(got[display[n]] for n in ("production", "research", "default-parent-queue")) == pytest.approx(96)


def test_orphans_are_not_reported_and_other_paths_and_pods_fail_like_a_real_server() -> None:
    c = make_cluster("demo", manual_clock=True)
    c.store.create(QUEUES, {"metadata": {"name": "lost"}, "spec": {"parentQueue": "gone",
                                                                  "resources": {"gpu": {"quota": 1}}}})
    c.settle()
    pod = scheduler_pod(c)
    assert "lost" not in parse_strict(c.proxies[8080](pod, "metrics", {})[1].decode())
    with pytest.raises(ApiError) as e:
        c.proxies[8080](pod, "healthz/nope", {})
    assert e.value.code == 404
    other = next(p for p in c.store.items(PODS) if p["metadata"]["namespace"] != "kai-scheduler")
    with pytest.raises(ApiError) as e:
        c.proxies[8080](other, "metrics", {})
    assert e.value.code == 503 and "connection refused" in e.value.message


def test_large_scenario_counts_the_scheduler_pod_and_keeps_it() -> None:
    c = make_cluster("large", manual_clock=True, nodes=20, gpus_per_node=8, pods=300, queues=10)
    before = len(list(c.store.items(PODS)))
    c.settle()
    assert before == 300 and len(list(c.store.items(PODS))) == 300
    pod = scheduler_pod(c)
    assert pod["status"]["phase"] == "Running"
    rs = [r for r in c.store.items(REPLICASETS) if r["metadata"]["namespace"] == "kai-scheduler"]
    assert len(rs) == 1 and len(list(c.store.items(DEPLOYMENTS))) >= 1
    assert len(parse_strict(c.proxies[8080](pod, "metrics", {})[1].decode())) == 12  # 10 + KAI's two defaults
