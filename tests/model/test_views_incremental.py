"""Incremental views equal a full recompute after long seeded random event sequences.

Each round drives one store with random ADDED / MODIFIED / DELETED events and re-lists over pods, owners,
queues, PodGroups, nodes, Services and quotas, checking at intervals that (1) every incremental view
equals `full_recompute()`, (2) a UI mirror fed only by `drain()` deltas equals the views, and at the end
(3) a fresh store fed the final objects in another order has the same rows.
"""

from __future__ import annotations

import copy
import random
import uuid as _uuid
from typing import Any

import pytest

from console.model.cluster_store import ClusterStore
from console.model.views_gpus import summary as gpu_summary

NAMESPACES = ["team-a", "team-b", "runai-c"]
RES_NS = "kai-resource-reservation"
NODES = ["n0", "n1", "n2", "n3"]
QUEUE_NAMES = ["dept-1", "dept-2", "qa", "qb", "qc", "qd"]
GROUPS = ["g0", "g1", "g2", "g3", "g4"]
PGS = ["pg-0", "pg-1", "pg-2"]
APPS = ["web", "llm", "trainer"]
PCS = [None, "train", "build", "inference", "interactive-preemptible", "very-high"]


class World:
    """The objects the API would hold; events are generated against it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.objs: dict[str, dict[tuple, dict]] = {}
        self.uids: dict[tuple, str] = {}

    def uid(self, kind: str, ns: str, name: str, renew: bool = False) -> str:
        k = (kind, ns, name)
        if renew or k not in self.uids:
            self.uids[k] = str(_uuid.UUID(int=self.rng.getrandbits(128)))
        return self.uids[k]

    def ref(self, kind: str, api: str, ns: str, name: str) -> dict:
        return {"apiVersion": api, "kind": kind, "name": name, "uid": self.uid(kind, ns, name), "controller": True}

    # ------------------------------------------------------------ generators
    def labels(self, owner: bool = False) -> dict[str, str]:
        r, out = self.rng, {}
        x = r.random()
        if x < 0.35:
            out[r.choice(["kai.scheduler/queue", "runai/queue"])] = r.choice(QUEUE_NAMES + ["ghost-q"])
        elif x < 0.5:
            out["project"] = r.choice(["qa", "qb", "p-x"])
        if r.random() < 0.6:
            out["app"] = r.choice(APPS)
        if r.random() < 0.15:
            out["priorityClassName"] = r.choice([p for p in PCS if p])
        if r.random() < 0.1:
            out["kai.scheduler/preemptibility"] = r.choice(["preemptible", "non-preemptible"])
        if not owner and r.random() < 0.1:
            out["workloadKind"] = r.choice(["TrainingWorkload", "InferenceWorkload"])
        return out

    def pod(self, ns: str, name: str) -> dict:
        r = self.rng
        labels = self.labels()
        ann: dict[str, str] = {}
        limits: dict[str, str] = {}
        g = r.random()
        if g < 0.3:
            limits["nvidia.com/gpu"] = str(r.choice([1, 1, 2]))
        elif g < 0.55:
            ann["gpu-fraction"] = r.choice(["0.25", "0.5", "0.75"])
            if r.random() < 0.85:
                labels["runai-gpu-group"] = r.choice(GROUPS)
            if r.random() < 0.1:
                ann["gpu-fraction-num-devices"] = "2"
                labels.pop("runai-gpu-group", None)
                for grp in r.sample(GROUPS, 2):
                    labels[f"runai-gpu-group/{grp}"] = grp
        elif g < 0.65:
            ann["gpu-memory"] = r.choice(["2000", "8000"])
            labels["runai-gpu-group"] = r.choice(GROUPS)
        elif g < 0.68:
            ann["gpu-fraction"] = "abc"  # invalid: counted as no GPU
        elif g < 0.72:
            limits["nvidia.com/mig-1g.5gb"] = "1"
        if r.random() < 0.5:
            ann["pod-group-name"] = r.choice(PGS)
        if r.random() < 0.1:
            labels["serving.knative.dev/service"] = "ksvc-a"
        owner_kind = r.random()
        refs: list[dict] = []
        if owner_kind < 0.35:
            refs = [self.ref("ReplicaSet", "apps/v1", ns, r.choice(["web-rs1", "web-rs2", "llm-rs"]))]
        elif owner_kind < 0.6:
            refs = [self.ref("Job", "batch/v1", ns, r.choice(["job-a", "job-b"]))]
        elif owner_kind < 0.65:
            refs = [self.ref("Workflow", "argoproj.io/v1alpha1", ns, "wf-1")]
        elif owner_kind < 0.7:
            refs = [self.ref("Revision", "serving.knative.dev/v1", ns, "ksvc-a-00001")]
        node = r.choice(NODES + ["ghost-node"]) if r.random() < 0.7 else None
        phase = r.choice(["Running", "Running", "Pending", "Succeeded", "Failed"]) if node else "Pending"
        conds = [{"type": "Ready", "status": "True" if r.random() < 0.6 else "False"}]
        if not node:
            conds.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                          "message": r.choice(["no nodes", "queue over quota"])})
        spec: dict[str, Any] = {"containers": [{"name": "main", "resources": {"limits": limits}}],
                                "schedulerName": r.choice(["kai-scheduler", "kai-scheduler", "default-scheduler"])}
        if node:
            spec["nodeName"] = node
        if r.random() < 0.2:
            spec["priorityClassName"] = r.choice([p for p in PCS if p])
        md: dict[str, Any] = {"name": name, "namespace": ns, "uid": self.uid("Pod", ns, name), "labels": labels,
                              "annotations": ann}
        if refs:
            md["ownerReferences"] = refs
        if node and r.random() < 0.15:  # being deleted: terminating for its grace period
            md["deletionTimestamp"] = r.choice(["2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"])
            md["deletionGracePeriodSeconds"] = r.choice([0, 30])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
                "status": {"phase": phase, "conditions": conds}}

    def reservation(self, name: str) -> dict:
        r = self.rng
        ann = {"run.ai/reserve_for_gpu_index": f"GPU-{r.choice(['aa', 'bb', 'cc', 'dd'])}"} if r.random() < 0.8 else {}
        node = r.choice(NODES) if r.random() < 0.9 else None
        spec: dict[str, Any] = {"containers": [{"name": "r", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
        if node:
            spec["nodeName"] = node
        return {"metadata": {"name": name, "namespace": RES_NS, "uid": self.uid("Pod", RES_NS, name),
                             "labels": {"app": "kai-resource-reservation", "runai-gpu-group": r.choice(GROUPS)},
                             "annotations": ann},
                "spec": spec,
                "status": {"phase": r.choice(["Running", "Running", "Pending", "Failed"]) if node else "Pending"}}

    def owner(self, rkey: str, ns: str, name: str) -> dict:
        r = self.rng
        kind = {"deployments.apps": "Deployment", "replicasets.apps": "ReplicaSet", "jobs.batch": "Job",
                "services.serving.knative.dev": "Service"}[rkey]
        md: dict[str, Any] = {"name": name, "namespace": ns, "uid": self.uid(kind, ns, name, renew=r.random() < 0.1),
                              "labels": self.labels(owner=True)}
        spec: dict[str, Any] = {"template": {"metadata": {"labels": self.labels()}, "spec": {
            "schedulerName": "kai-scheduler",
            "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(r.choice([0, 1, 2]))}}}]}}}
        status: dict[str, Any] = {}
        if kind == "ReplicaSet" and r.random() < 0.8:
            dep = "web" if name.startswith("web") else "llm"
            md["ownerReferences"] = [self.ref("Deployment", "apps/v1", ns, dep)]
        if kind in ("Deployment", "ReplicaSet"):
            spec["replicas"] = r.choice([0, 1, 2, 3])
        if kind == "Job":
            spec["parallelism"] = r.choice([1, 2])
            spec["completions"] = r.choice([1, 2, 4])
            status["succeeded"] = r.choice([0, 1])
            if r.random() < 0.2:
                status["conditions"] = [{"type": r.choice(["Complete", "Failed"]), "status": "True"}]
        if kind == "Service" and r.random() < 0.5:
            md["ownerReferences"] = [self.ref("InferenceWorkload", "run.ai/v2alpha1", ns, "iw-a")]
        if r.random() < 0.1:  # an owner loop the walk must survive
            md["ownerReferences"] = [self.ref(kind, "apps/v1" if kind != "Job" else "batch/v1", ns, name)]
        return {"metadata": md, "spec": spec, "status": status}

    def queue(self, name: str) -> dict:
        r = self.rng
        parent = None
        if name.startswith("q"):
            parent = r.choice(["dept-1", "dept-2", "dept-2", None, "ghost-dept", "qa"])
        elif r.random() < 0.1:
            parent = r.choice(QUEUE_NAMES)  # may close a cycle
        spec: dict[str, Any] = {"resources": {"gpu": {"quota": r.choice([-1, 0, 2, 4.5]), "limit": r.choice([-1, 8]),
                                                      "overQuotaWeight": r.choice([1, 2])}},
                                "priority": r.choice([50, 100, 200])}
        if parent:
            spec["parentQueue"] = parent
        status: dict[str, Any] = {}
        if r.random() < 0.5:
            status = {"allocated": {"nvidia.com/gpu": r.choice(["1500m", "2", "0"])},
                      "allocatedNonPreemptible": {"nvidia.com/gpu": "1"}, "requested": {"nvidia.com/gpu": "3"}}
        return {"metadata": {"name": name, "uid": self.uid("Queue", "", name)}, "spec": spec, "status": status}

    def podgroup(self, ns: str, name: str) -> dict:
        r = self.rng
        spec: dict[str, Any] = {"minMember": 1}
        if r.random() < 0.5:
            spec["queue"] = r.choice(QUEUE_NAMES)
        if r.random() < 0.3:
            spec["preemptibility"] = r.choice(["preemptible", "non-preemptible"])
        if r.random() < 0.3:
            spec["priorityClassName"] = r.choice([p for p in PCS if p])
        status: dict[str, Any] = {}
        if r.random() < 0.5:
            status["schedulingConditions"] = [{"type": "UnschedulableOnNodePool", "reasons": [
                {"reason": r.choice(["NonPreemptibleOverQuota", "OverLimit"]), "message": "quota of 2 GPUs"}]}]
        return {"metadata": {"name": name, "namespace": ns, "uid": self.uid("PodGroup", ns, name)},
                "spec": spec, "status": status}

    def node(self, name: str) -> dict:
        r = self.rng
        labels = {"nvidia.com/gpu.product": r.choice(["NVIDIA-H100-80GB-HBM3", "Tesla-T4"])}
        if r.random() < 0.8:
            labels["nvidia.com/gpu.memory"] = r.choice(["81559", "15360"])
        if r.random() < 0.7:
            labels["nvidia.com/gpu.count"] = str(r.choice([2, 4, 8]))
        alloc = {"nvidia.com/gpu": str(r.choice([0, 2, 8]))}
        if r.random() < 0.1:
            alloc["nvidia.com/mig-1g.5gb"] = "7"
        return {"metadata": {"name": name, "labels": labels},
                "spec": {"unschedulable": r.random() < 0.2},
                "status": {"allocatable": alloc, "conditions": [{"type": "Ready", "status": r.choice(["True", "False"])}]}}

    def service(self, ns: str, name: str) -> dict:
        r = self.rng
        spec: dict[str, Any] = {"ports": [{"port": 80}]}
        if r.random() < 0.8:
            spec["selector"] = {"app": r.choice(APPS)}
        return {"metadata": {"name": name, "namespace": ns}, "spec": spec}

    def quota(self, ns: str, name: str) -> dict:
        r = self.rng
        hard = {"requests.nvidia.com/gpu": str(r.choice([1, 4]))} if r.random() < 0.8 else {"pods": "10"}
        return {"metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard},
                "status": {"used": {"requests.nvidia.com/gpu": r.choice(["0", "1", "500m"])}}}

    # ------------------------------------------------------------ events
    def random_object(self, kind: str) -> tuple[tuple, dict]:
        r = self.rng
        ns = r.choice(NAMESPACES)
        if kind == "pods":
            if r.random() < 0.2:
                name = f"res-{r.randrange(6)}"
                return (RES_NS, name), self.reservation(name)
            name = f"p{r.randrange(30)}"
            return (ns, name), self.pod(ns, name)
        if kind in ("deployments.apps", "replicasets.apps", "jobs.batch", "services.serving.knative.dev"):
            name = {"deployments.apps": ["web", "llm"], "replicasets.apps": ["web-rs1", "web-rs2", "llm-rs"],
                    "jobs.batch": ["job-a", "job-b"], "services.serving.knative.dev": ["ksvc-a"]}[kind]
            n = r.choice(name)
            return (ns, n), self.owner(kind, ns, n)
        if kind == "queues.scheduling.run.ai":
            n = r.choice(QUEUE_NAMES)
            return ("", n), self.queue(n)
        if kind == "podgroups.scheduling.run.ai":
            n = r.choice(PGS)
            return (ns, n), self.podgroup(ns, n)
        if kind == "nodes":
            n = r.choice(NODES)
            return ("", n), self.node(n)
        if kind == "services":
            n = r.choice(["web", "llm", "ksvc-a", "other"])
            return (ns, n), self.service(ns, n)
        n = r.choice(["gpu-quota", "other-quota"])
        return (ns, n), self.quota(ns, n)


KINDS = ["pods"] * 8 + ["deployments.apps", "replicasets.apps", "jobs.batch", "services.serving.knative.dev",
                        "queues.scheduling.run.ai", "queues.scheduling.run.ai", "podgroups.scheduling.run.ai",
                        "nodes", "services", "resourcequotas"]


def tweak(rng: random.Random, raw: dict) -> dict:
    """One field of a pod changed: readiness, phase, node, a label, the PodGroup or the GPU group."""
    obj = copy.deepcopy(raw)
    md, spec, status = obj["metadata"], obj["spec"], obj["status"]
    choice = rng.randrange(7)
    if choice == 0:
        status["conditions"] = [{"type": "Ready", "status": rng.choice(["True", "False"])}]
    elif choice == 1:
        status["phase"] = rng.choice(["Running", "Pending", "Succeeded", "Failed"])
    elif choice == 2:
        if rng.random() < 0.5:
            spec.pop("nodeName", None)
        else:
            spec["nodeName"] = rng.choice(NODES)
    elif choice == 3:
        md.setdefault("labels", {})["app"] = rng.choice(APPS)
    elif choice == 4:
        md.setdefault("labels", {})["kai.scheduler/queue"] = rng.choice(QUEUE_NAMES)
    elif choice == 5:
        md.setdefault("annotations", {})["pod-group-name"] = rng.choice(PGS)
    else:
        md.setdefault("labels", {})["runai-gpu-group"] = rng.choice(GROUPS)
    return obj


def _apply_delta(mirror: dict[str, dict], delta) -> None:
    for view in ("projects", "gpus", "workloads", "nodes"):
        vd = getattr(delta, view)
        rows = mirror.setdefault(view, {})
        for k in vd.removed:
            assert k in rows, f"{view}: drain removed {k!r}, which the UI never had"
            del rows[k]
        rows.update(vd.upserts)


def _diff(a: dict, b: dict) -> str:
    lines = []
    for view in a:
        ra, rb = a[view], b[view]
        for k in sorted(set(ra) | set(rb), key=repr):
            if ra.get(k) != rb.get(k):
                lines.append(f"{view} {k!r}:\n  incremental {ra.get(k)!r}\n  full        {rb.get(k)!r}")
    return "\n".join(lines[:5])


def run_round(seed: int, steps: int, check_every: int, budget: float | None = None) -> ClusterStore:
    """`budget`: drain as the console does under load, a little at a time (rows left dirty between drains)."""
    rng = random.Random(seed)
    world = World(rng)
    store = ClusterStore()
    mirror: dict[str, dict] = {}
    for step in range(steps):
        kind = rng.choice(KINDS)
        objs = world.objs.setdefault(kind, {})
        x = rng.random()
        if x < 0.04:
            # a re-list: some objects changed, some gone, some new
            for key in list(objs):
                y = rng.random()
                if y < 0.3:
                    del objs[key]
                elif y < 0.6:
                    k2, o2 = world.random_object(kind)
                    objs[k2] = o2
            store.replace(kind, list(objs.values()))
        elif x < 0.25 and objs:
            key = rng.choice(sorted(objs))
            store.apply(kind, "DELETED", objs.pop(key))
        elif x < 0.45 and kind == "pods" and objs:
            # a small change to one field, as most real pod events are
            key = rng.choice(sorted(objs))
            obj = tweak(rng, objs[key])
            objs[key] = obj
            store.apply(kind, "MODIFIED", obj)
        else:
            key, obj = world.random_object(kind)
            etype = "MODIFIED" if key in objs else "ADDED"
            if rng.random() < 0.05:
                etype = "ADDED" if etype == "MODIFIED" else "MODIFIED"  # out-of-order event types are tolerated
            objs[key] = obj
            store.apply(kind, etype, obj)
        if budget is not None and step % 7 == 0:
            _apply_delta(mirror, store.drain(budget))       # may leave rows dirty for a later drain
        if step % check_every == check_every - 1:
            _apply_delta(mirror, store.drain(budget))
            while store.behind:
                _apply_delta(mirror, store.drain(budget))
            inc, full = store.current(), store.full_recompute()
            assert inc == full, f"seed {seed} step {step}:\n{_diff(inc, full)}"
            assert mirror == inc, f"seed {seed} step {step}: drained deltas differ from the views"
            assert store.gpus.summary() == gpu_summary(full["gpus"].values()), \
                f"seed {seed} step {step}: the running GPU totals differ from a sum over every row"
            assert store.gpus.terminating == {k for k, r in full["gpus"].items()
                                              if any(h.terminating for h in r.holders)}
    # order independence: the final objects loaded into a fresh store in another order
    fresh = ClusterStore()
    items = [(k, o) for k, objs in world.objs.items() for o in objs.values()]
    rng.shuffle(items)
    for kind, obj in items:
        fresh.apply(kind, "ADDED", obj)
    a, b = store.current(), fresh.current()
    assert a == b, f"seed {seed}: incremental store differs from a fresh load:\n{_diff(a, b)}"
    return store


@pytest.mark.parametrize("seed", range(30))
def test_incremental_views_equal_full_recompute(seed: int) -> None:
    store = run_round(seed, steps=1000, check_every=40)
    # the round exercised what it claims to: rows in every view
    assert store.workloads.rows and store.gpus.rows and store.projects.rows


@pytest.mark.parametrize("seed", range(6))
def test_drains_on_a_budget_end_where_a_full_drain_does(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's flush drains a few rows at a time under load (a zero budget: one batch of three rows
    per view): the rows it ends with, and the deltas that carried them to the UI, are the full recompute's."""
    from console.model import cluster_store

    monkeypatch.setattr(cluster_store, "BATCH", 3)
    left: list[int] = []
    real = ClusterStore.drain

    def drain(self: ClusterStore, budget_s: float | None = None):  # type: ignore[no-untyped-def]
        out = real(self, budget_s)
        left.append(len(self.dirty_workloads) + len(self.dirty_projects) + len(self.dirty_gpu_nodes))
        return out

    monkeypatch.setattr(ClusterStore, "drain", drain)
    store = run_round(1000 + seed, steps=800, check_every=50, budget=0.0)
    assert store.workloads.rows and store.gpus.rows and not store.behind
    assert max(left) > 0, "some drains left rows for the next one"


def test_round_hits_shared_gpus_and_both_project_modes() -> None:
    """Guard against a generator that stops producing the interesting cases."""
    seen_shared = seen_quota_mode = seen_kai_mode = seen_mismatch = 0
    for seed in range(100, 106):
        rng = random.Random(seed)
        world = World(rng)
        store = ClusterStore()
        for _ in range(300):
            kind = rng.choice(KINDS)
            key, obj = world.random_object(kind)
            if kind == "queues.scheduling.run.ai" and rng.random() < 0.5:
                store.apply(kind, "DELETED", obj)
            else:
                store.apply(kind, "ADDED", obj)
            if rng.random() < 0.05:
                store.refresh()
                seen_shared += any(r.use == "shared" and r.holders for r in store.gpus.rows.values())
                seen_kai_mode += store.kai_mode
                seen_quota_mode += any(r.source == "resourcequota" for r in store.projects.rows.values())
                seen_mismatch += any(r.mismatch for r in store.projects.rows.values())
    assert seen_shared and seen_kai_mode and seen_quota_mode and seen_mismatch
