"""Projection of raw objects into compact records: exact keys, odd values read as unknown, never a crash."""

from __future__ import annotations

import pytest

from console.model import records as R
from console.model.podspec import NO_GPU


def pod(name: str = "p", ns: str = "ns", labels: dict | None = None, ann: dict | None = None,
        limits: dict | None = None, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": "u-" + name, "labels": labels or {},
                         "annotations": ann or {}},
            "spec": {"containers": [{"name": "main", "resources": {"limits": limits or {}}}], **spec},
            "status": {}}


@pytest.mark.parametrize("raw, why", [
    ([], "expected an object"),
    ({}, "no metadata"),
    ({"metadata": {"namespace": "a"}}, "no metadata.name"),
    ({"metadata": {"name": "x"}}, "no metadata.namespace"),
    ({"metadata": {"name": "", "namespace": "a"}}, "no metadata.name"),
])
def test_pod_without_identity_is_rejected_with_reason(raw, why: str) -> None:
    with pytest.raises(R.BadObject, match=why):
        R.pod_record(raw)


def test_odd_pod_fields_read_as_unknown() -> None:
    raw = {"metadata": {"name": "p", "namespace": "n", "labels": ["not", "a", "dict"], "annotations": 7,
                        "ownerReferences": [{"kind": "Job"}]},  # a reference without a name is no reference
           "spec": {"nodeName": 12, "containers": "nope"}, "status": {"phase": None, "conditions": [3, None]}}
    p = R.pod_record(raw)
    assert (p.node, p.phase, p.ready, p.labels, p.owner, p.gpu) == ("", "Pending", False, {}, None, NO_GPU)


def test_invalid_gpu_request_counts_as_none_and_says_why() -> None:
    p = R.pod_record(pod(ann={"gpu-fraction": "1.5"}))
    assert p.gpu is NO_GPU and "gpu-fraction" in p.gpu_error
    q = R.pod_record(pod(ann={"gpu-fraction": "0.5"}, limits={"nvidia.com/gpu": "1"}))
    assert q.gpu is NO_GPU and "cannot be combined" in q.gpu_error


def test_gpu_requests_and_groups() -> None:
    whole = R.pod_record(pod(limits={"nvidia.com/gpu": "2"}))
    assert (whole.gpu.kind, whole.gpu.count, whole.gpu_error) == ("whole", 2, None)
    multi = R.pod_record(pod(ann={"gpu-fraction": "0.5", "gpu-fraction-num-devices": "2"},
                             labels={"runai-gpu-group/aa": "aa", "runai-gpu-group/bb": "bb", "app": "x"}))
    assert (multi.gpu.kind, multi.gpu.total) == ("fraction", 1.0)
    assert sorted(multi.gpu_groups) == ["aa", "bb"] and multi.labels == {"app": "x"}
    mig = R.pod_record(pod(limits={"nvidia.com/mig-1g.5gb": "1"}))
    assert (mig.gpu.kind, mig.gpu.mig_profile) == ("mig", "1g.5gb")
    # the same request text twice gives the same shared object (and so the same answer)
    again = R.pod_record(pod(name="q", limits={"nvidia.com/gpu": "2"}))
    assert again.gpu is whole.gpu


def test_conditions_and_reservations() -> None:
    raw = pod(ns="kai-resource-reservation", labels={"runai-gpu-group": "g1"},
              ann={"run.ai/reserve_for_gpu_index": "GPU-1"})
    raw["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    r = R.pod_record(raw)
    assert r.reservation and r.reserved_uuid == "GPU-1" and r.gpu_groups == ("g1",) and r.ready
    # the reserve annotation means nothing outside the reservation namespaces
    assert R.pod_record(pod(ann={"run.ai/reserve_for_gpu_index": "GPU-1"})).reserved_uuid is None
    w = pod()
    w["status"] = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                   "message": "0/3 nodes are available"}]}
    assert R.pod_record(w).sched_message == "0/3 nodes are available"


def test_equal_label_sets_are_shared_and_cleaned() -> None:
    a = R.shared_labels({"app": "x", "tier": "1"})
    b = R.shared_labels({"app": "x", "tier": "1"})
    assert a is b and a == {"app": "x", "tier": "1"}
    assert R.shared_labels({"app": "x", "bad": {"nested": 1}, 3: "y"}) == {"app": "x"}
    assert R.shared_labels({"runai-gpu-group": "g", "app": "x"}, drop_prefix="runai-gpu-group") == {"app": "x"}
    assert R.shared_labels(None) == {} and R.shared_labels("x") == {}


def test_controller_reference_preferred() -> None:
    md = {"ownerReferences": [{"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1"},
                              {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "2",
                               "controller": True}]}
    ref = R.controller_ref(md)
    assert (ref.kind, ref.group, ref.name, ref.uid) == ("ReplicaSet", "apps", "rs", "2")


def test_queue_record() -> None:
    q = R.queue_record({"metadata": {"name": "team-a"}, "spec": {
        "parentQueue": "dept", "displayName": "Team A",
        "resources": {"gpu": {"quota": 4, "limit": -1, "overQuotaWeight": 2}}},
        "status": {"allocated": {"nvidia.com/gpu": "1500m", "cpu": "6"}, "allocatedNonPreemptible": {},
                   "requested": {"nvidia.com/gpu": "7"},
                   "conditions": [{"type": "OverQuota", "status": "True"}, {"type": "Orphan", "status": "False"}]}})
    assert (q.parent, q.display_name, q.priority) == ("dept", "Team A", 100)
    assert (q.quota_gpu, q.limit_gpu, q.over_quota_weight) == (4.0, -1.0, 2.0)
    assert (q.allocated_gpu, q.allocated_nonpreemptible_gpu, q.requested_gpu) == (1.5, 0.0, 7.0)
    assert q.status_reported and q.conditions == ("OverQuota",)
    bare = R.queue_record({"metadata": {"name": "x"}, "spec": {"resources": {"gpu": {"quota": "junk"}}}})
    assert (bare.quota_gpu, bare.status_reported, bare.allocated_gpu) == (None, False, None)


def test_podgroup_reasons() -> None:
    pg = R.podgroup_record({"metadata": {"name": "pg", "namespace": "n"}, "spec": {
        "queue": "q", "preemptibility": "non-preemptible", "priorityClassName": "inference", "minMember": 3},
        "status": {"schedulingConditions": [{"type": "UnschedulableOnNodePool", "reasons": [
            {"reason": "NonPreemptibleOverQuota", "message": "quota is 2"}, {"reason": "OverLimit"}]}]}})
    assert pg.reasons == ("NonPreemptibleOverQuota: quota is 2", "OverLimit")
    assert (pg.queue, pg.preemptibility, pg.priority_class, pg.min_member) == ("q", "non-preemptible", "inference", 3)
    odd = R.podgroup_record({"metadata": {"name": "pg", "namespace": "n"}, "spec": {"preemptibility": "maybe"}})
    assert odd.preemptibility is None and odd.reasons == ()


@pytest.mark.parametrize("rkey, spec, status, desired, finished", [
    ("deployments.apps", {}, {}, 1, None),
    ("deployments.apps", {"replicas": 0}, {}, 0, None),
    ("jobs.batch", {"parallelism": 4, "completions": 5}, {"succeeded": 3}, 2, None),
    ("jobs.batch", {"completions": 1}, {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
     0, "Completed"),
    ("jobs.batch", {}, {"conditions": [{"type": "Failed", "status": "True"}]}, 1, "Failed"),
    ("pytorchjobs.kubeflow.org", {"pytorchReplicaSpecs": {"Master": {"replicas": 1}, "Worker": {"replicas": 3}}},
     {}, 4, None),
    ("jobsets.jobset.x-k8s.io", {"replicatedJobs": [{"replicas": 2, "template": {"spec": {"parallelism": 2}}}]},
     {}, 4, None),
    ("runaijobs.run.ai", {"whatever": 1}, {}, None, None),
])
def test_owner_desired_and_finished(rkey: str, spec: dict, status: dict, desired, finished) -> None:
    o = R.owner_record(rkey, {"metadata": {"name": "w", "namespace": "n", "uid": "1"}, "spec": spec,
                              "status": status})
    assert (o.desired, o.finished) == (desired, finished)


def test_owner_template() -> None:
    o = R.owner_record("deployments.apps", {"metadata": {"name": "d", "namespace": "n"}, "spec": {"template": {
        "metadata": {"labels": {"kai.scheduler/queue": "q"}, "annotations": {"gpu-fraction": "0.25"}},
        "spec": {"schedulerName": "kai-scheduler", "priorityClassName": "inference", "containers": [{"name": "c"}]}}}})
    assert (o.template_gpu.kind, o.template_gpu.portion) == ("fraction", 0.25)
    assert (o.template_labels, o.template_pclass, o.template_scheduler) == (
        {"kai.scheduler/queue": "q"}, "inference", "kai-scheduler")


def test_node_record() -> None:
    n = R.node_record({"metadata": {"name": "n1", "labels": {"nvidia.com/gpu.count": "oops",
                                                             "nvidia.com/gpu.memory": "-5"}},
                       "spec": {"unschedulable": True},
                       "status": {"allocatable": {"nvidia.com/gpu": "4"}, "conditions": []}})
    assert (n.gpu_count, n.gpu_memory_mib, n.cordoned, n.ready, n.gpu_product) == (4, None, True, None, None)
    # only a real boolean cordons
    assert R.node_record({"metadata": {"name": "n"}, "spec": {"unschedulable": "true"}}).cordoned is False


def test_service_and_quota_records() -> None:
    s = R.service_record({"metadata": {"name": "s", "namespace": "n"},
                          "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}, {"port": "bad"}]}})
    assert s.ports == (80,) and s.selects({"app": "x", "other": "y"}) and not s.selects({"app": "y"})
    none = R.service_record({"metadata": {"name": "s", "namespace": "n"}, "spec": {}})
    assert not none.selects({"app": "x"})  # no selector selects nothing
    q = R.quota_record({"metadata": {"name": "q", "namespace": "n"},
                        "spec": {"hard": {"requests.nvidia.com/gpu": "4"}},
                        "status": {"used": {"requests.nvidia.com/gpu": "500m"}}})
    assert (q.hard_gpu, q.used_gpu) == (4.0, 0.5)
    cpu_only = R.quota_record({"metadata": {"name": "q", "namespace": "n"}, "spec": {"hard": {"cpu": "4"}}})
    assert cpu_only.hard_gpu is None


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def test_junk_anywhere_never_crashes_projection(realworld) -> None:
    """Seeded fuzz: any field of real objects replaced by junk gives a record or BadObject, nothing else."""
    import copy
    import random

    import yaml

    from console.model.cluster_store import ClusterStore

    rng = random.Random(11)
    junk = [None, 0, -1, 1.5, True, "", "x", "1500m", [], [1, "a"], {}, {"a": {"b": None}}]
    sources = [("pods", yaml.safe_load((realworld / "runai" / f).read_text()))
               for f in ("fractional_pod.yaml", "fractional_pod_reservation.yaml")]
    sources.append(("nodes", yaml.safe_load((realworld / "runai" / "node_fraction_1_workload.yaml").read_text())))
    sources += [("Queue", d) for d in yaml.safe_load_all((realworld / "kai" / "quickstart__default-queues.yaml")
                                                         .read_text())]
    store = ClusterStore()
    accepted = 0
    for i in range(400):
        kind, base = sources[i % len(sources)]
        raw = copy.deepcopy(base)
        paths = [p for p in _paths(raw) if p]
        for _ in range(rng.randint(1, 4)):
            path = rng.choice(paths)
            target = raw
            try:
                for k in path[:-1]:
                    target = target[k]
                target[path[-1]] = rng.choice(junk)
            except (KeyError, IndexError, TypeError):
                continue
        accepted += store.apply(kind, rng.choice(["ADDED", "MODIFIED", "DELETED"]), raw)
        if i % 50 == 49:
            assert store.current() == store.full_recompute()
    assert 0 < accepted < 400  # some junk is fatal (no name), most is read as unknown
