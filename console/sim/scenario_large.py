"""The `large` scenario: thousands of GPU nodes and tens of thousands of running pods, bulk-loaded.

Built for the console's sync and memory targets (2,000 nodes × 8 GPUs, 60,000 pods, 500 queues by
default). Objects go in with `store.load` (no events, no admission) already bound and Running, as a
cluster looks when the console connects: whole-GPU training pods, fractional inference pods sharing
GPUs through reservation pods (`runai-gpu-group`, `run.ai/reserve_for_gpu_index`), CPU-only pods,
all owned by Deployments/ReplicaSets or Jobs, each with its KAI PodGroup.

Pods of one workload share their read-only parts (container specs, conditions, owner references):
the store never mutates a stored object in place, so sharing is safe and keeps memory low.
"""

from __future__ import annotations

import random
import uuid as _uuid
from dataclasses import dataclass
from typing import Any

from ..model.podspec import PRIORITY_CLASSES
from . import scenario_build as b
from .cluster import SimCluster
from .gpus import gpu_uuid
from .kai_objects import resource_list
from .resources import (DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, NODES, PODGROUPS, PODS, QUEUES,
                        REPLICASETS)
from .scenario_base import apply_all, base_objects
from .scenario_file import ScenarioError
from .validation import default_pod_spec
from .workloads import HASH_LABEL, JOB_NAME_LABELS, JOB_UID_LABELS, REVISION_ANN, REVISION_HASH, template_hash

Obj = dict[str, Any]

DEFAULTS = {"nodes": 2000, "gpus_per_node": 8, "pods": 60000, "queues": 500}
PRODUCTS = (("NVIDIA-H100-80GB-HBM3", 0.6), ("NVIDIA-A100-SXM4-80GB", 0.3), ("NVIDIA-L40S", 0.1))
RESERVATION_NS = "kai-resource-reservation"
RESERVATION_IMAGE = "ghcr.io/nvidia/kai-scheduler/resource-reservation:v0.12.17"
T0 = "2026-01-01T00:00:00Z"


def _knob(knobs: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = knobs.pop(key, DEFAULTS[key])
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ScenarioError(f"{key}: must be a whole number from {lo} to {hi}, got {v!r}")
    return v


@dataclass
class _Node:
    name: str
    gpus: int
    next_gpu: int
    ip_base: str
    host_ip: str
    next_ip: int = 2

    def ip(self) -> str:
        n = self.next_ip
        self.next_ip = 2 if n >= 254 else n + 1
        return f"{self.ip_base}.{n}"


class _Builder:
    def __init__(self, cluster: SimCluster, nodes: int, gpus: int, pods: int, queues: int) -> None:
        self.cluster = cluster
        self.rng = random.Random(f"{cluster.seed}/large")
        self.n_nodes, self.gpus, self.n_pods, self.n_queues = nodes, gpus, pods, queues
        self.objs: dict[str, list[Obj]] = {k: [] for k in ("namespaces", "queues", "nodes", "pods", "podgroups",
                                                            "deployments", "replicasets", "jobs")}
        self.nodes: list[_Node] = []
        self.cursor = 0          # first node that may still have a free GPU
        self.cpu_cursor = 0
        self.pod_count = 0
        self.conds_running = [
            {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": T0}
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]

    def uid(self) -> str:
        return str(_uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, n: int = 5) -> str:
        return "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    # ---------------------------------------------------------------- furniture
    def queues_and_namespaces(self) -> list[tuple[str, str]]:
        n_dept = max(1, self.n_queues // 25)
        n_proj = max(1, self.n_queues - n_dept)
        total = self.n_nodes * self.gpus
        per_proj = max(1, int(total * 0.8 / n_proj))
        for d in range(n_dept):
            name = f"dept-{d + 1:02d}"
            share = sum(1 for p in range(n_proj) if p % n_dept == d)
            self.objs["queues"].append(b.queue(name, None, per_proj * share, -1, 1, 100, f"Department {d + 1}"))
        projects = []
        for p in range(n_proj):
            name = f"proj-{p + 1:04d}"
            dept = f"dept-{p % n_dept + 1:02d}"
            weight = 1 + p % 3
            self.objs["queues"].append(b.queue(name, dept, per_proj, -1 if p % 4 else per_proj * 2, weight))
            ns = f"runai-{name}"
            self.objs["namespaces"].append(b.namespace(ns, {"runai/queue": name}))
            projects.append((ns, name))
        return projects

    def build_nodes(self) -> None:
        bounds = []
        acc = 0.0
        for product, share in PRODUCTS:
            acc += share
            bounds.append((acc, product))
        for i in range(self.n_nodes):
            x = (i + 0.5) / self.n_nodes
            product = next(p for bound, p in bounds if x <= bound + 1e-9)
            name = f"node-{i + 1:04d}"
            obj = b.node(name, product, self.gpus, i + 1, product.split("-")[1].lower())
            self.objs["nodes"].append(obj)
            cidr = obj["spec"]["podCIDR"].split("/")[0].rsplit(".", 1)[0]
            self.nodes.append(_Node(name, self.gpus, 0, cidr, obj["status"]["addresses"][0]["address"]))

    # ---------------------------------------------------------------- placement
    def take_gpus(self, n: int) -> tuple[_Node, list[int]] | None:
        for j in range(self.cursor, len(self.nodes)):
            node = self.nodes[j]
            if node.gpus - node.next_gpu >= n:
                got = list(range(node.next_gpu, node.next_gpu + n))
                node.next_gpu += n
                while self.cursor < len(self.nodes) and self.nodes[self.cursor].next_gpu >= self.gpus:
                    self.cursor += 1
                return node, got
        return None

    def cpu_node(self) -> _Node:
        node = self.nodes[self.cpu_cursor % len(self.nodes)]
        self.cpu_cursor += 1
        return node

    # ---------------------------------------------------------------- pods
    def pod(self, name: str, ns: str, labels: dict, annotations: dict | None, owner: list | None, spec: Obj,
            node: _Node, statuses: list, created: str, uid: str | None = None) -> Obj:
        md: Obj = {"name": name, "namespace": ns, "labels": labels, "creationTimestamp": created}
        if uid:
            md["uid"] = uid
        if annotations:
            md["annotations"] = annotations
        if owner:
            md["ownerReferences"] = owner
        ip = node.ip()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {**spec, "nodeName": node.name},
               "status": {"phase": "Running", "conditions": self.conds_running, "hostIP": node.host_ip,
                          "hostIPs": [{"ip": node.host_ip}], "podIP": ip, "podIPs": [{"ip": ip}],
                          "startTime": created, "qosClass": "Burstable", "containerStatuses": statuses}}
        self.objs["pods"].append(pod)
        self.pod_count += 1
        return pod

    @staticmethod
    def statuses(spec: Obj, created: str, seed: str) -> list[Obj]:
        out = []
        for c in spec["containers"]:
            out.append({"name": c["name"], "image": c["image"], "imageID": f"{c['image'].split(':')[0]}@sha256:"
                        f"{_uuid.uuid5(_uuid.NAMESPACE_OID, c['image']).hex * 2}",
                        "containerID": f"containerd://{_uuid.uuid5(_uuid.NAMESPACE_OID, seed).hex * 2}",
                        "ready": True, "started": True, "restartCount": 0,
                        "state": {"running": {"startedAt": created}}, "lastState": {}})
        return out

    def podgroup(self, name: str, ns: str, owner: Obj, labels: dict, queue: str, priority: str,
                 min_member: int = 1, running: int = 1, gpu: float = 0.0) -> None:
        """A PodGroup whose pods all run, with the status the scheduler would have written for it."""
        allocated = resource_list(gpu)
        non_preemptible = allocated if PRIORITY_CLASSES.get(priority, 50) >= 100 else resource_list(0.0)
        self.objs["podgroups"].append({
            "apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner]},
            "spec": {"minMember": min_member, "queue": queue, "priorityClassName": priority},
            "status": {"running": running, "pending": 0,
                       "resourcesStatus": {"allocated": allocated, "allocatedNonPreemptible": non_preemptible,
                                           "requested": allocated}},
        })

    def reservation(self, node: _Node, index: int, created: str) -> str:
        group = self.uid()
        spec = {"containers": [{"name": "resource-reservation", "image": RESERVATION_IMAGE,
                                "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}}],
                "runtimeClassName": "nvidia", "serviceAccountName": "kai-resource-reservation",
                "restartPolicy": "Always", "schedulerName": "kai-scheduler"}
        self.pod(f"gpu-reservation-{node.name}-{self.suffix()}", RESERVATION_NS,
                 {"app": "kai-resource-reservation", "runai-gpu-group": group},
                 {"run.ai/reserve_for_gpu_index": gpu_uuid(node.name, index)}, None, spec, node,
                 self.statuses(spec, created, group), created)
        return group

    # ---------------------------------------------------------------- workloads
    def deployment(self, ns: str, queue: str, name: str, replicas: int, gpu: float | None, created: str,
                   cpu_only: bool = False) -> int:
        """A Deployment → ReplicaSet → `replicas` running pods; fractions share GPUs via reservation pods."""
        dep = b.inference_deployment(name, ns, queue, replicas, None if cpu_only else gpu,
                                     image="python:3.11-slim" if cpu_only else None)
        if cpu_only:
            dep["metadata"]["labels"]["priorityClassName"] = "build"
            dep["spec"]["template"]["spec"]["priorityClassName"] = "build"
        # Defaulted as admission would have (store.load skips it): otherwise the controller's first status
        # write defaults the template, its hash changes and the whole Deployment rolls out.
        default_pod_spec(dep["spec"]["template"]["spec"])
        d_uid, rs_uid = self.uid(), self.uid()
        dmd = dep["metadata"]
        dmd.update(uid=d_uid, creationTimestamp=created, annotations={**dmd.get("annotations", {}),
                                                                      REVISION_ANN: "1"})
        template = dep["spec"]["template"]
        h = template_hash(template)
        rs_name = f"{name}-{h}"
        pod_labels = {**template["metadata"]["labels"], HASH_LABEL: h}
        rs_template = {"metadata": {**template["metadata"], "labels": pod_labels}, "spec": template["spec"]}
        d_ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d_uid, "controller": True,
                 "blockOwnerDeletion": True}
        rs_ref = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid,
                   "controller": True, "blockOwnerDeletion": True}]
        priority = dep["metadata"]["labels"]["priorityClassName"]
        spec = template["spec"]
        statuses = self.statuses(spec, created, rs_uid)
        tann = template["metadata"].get("annotations") or {}
        made = 0
        group, room = None, 0.0
        for _ in range(replicas):
            if cpu_only or not gpu:
                node, labels, ann = self.cpu_node(), pod_labels, dict(tann)
            elif gpu < 1:
                if group is None or room + 1e-9 < gpu:
                    got = self.take_gpus(1)
                    if got is None:
                        break
                    node, idx = got[0], got[1][0]
                    group, room, gnode = self.reservation(node, idx, created), 1.0, node
                node = gnode
                room -= gpu
                labels = {**pod_labels, "runai-gpu-group": group}
                ann = {**tann, "received-resource-type": "Fraction"}
            else:
                got = self.take_gpus(int(gpu))
                if got is None:
                    break
                node, labels, ann = got[0], pod_labels, dict(tann)
            pname = f"{rs_name}-{self.suffix()}"
            puid = self.uid()
            pg = f"pg-{pname}-{puid}"
            ann["pod-group-name"] = pg
            self.pod(pname, ns, labels, ann, rs_ref, spec, node, statuses, created, puid)
            self.podgroup(pg, ns, {"apiVersion": "v1", "kind": "Pod", "name": pname, "uid": puid,
                                   "controller": True, "blockOwnerDeletion": True},
                          dep["metadata"]["labels"], queue, priority, gpu=0.0 if cpu_only else float(gpu or 0))
            made += 1
        dep["spec"]["replicas"] = made
        cond = [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastTransitionTime": created,
                 "lastUpdateTime": created},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{rs_name}" has successfully progressed.', "lastTransitionTime": created,
                 "lastUpdateTime": created}]
        dep["status"] = {"observedGeneration": 1, "replicas": made, "updatedReplicas": made, "readyReplicas": made,
                         "availableReplicas": made, "conditions": cond}
        sel = {"matchLabels": {**dep["spec"]["selector"]["matchLabels"], HASH_LABEL: h}}
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "labels": pod_labels,
                           "creationTimestamp": created, "ownerReferences": [d_ref],
                           "annotations": {REVISION_ANN: "1", "deployment.kubernetes.io/desired-replicas": str(made),
                                           "deployment.kubernetes.io/max-replicas": str(made + (made + 3) // 4)}},
              "spec": {"replicas": made, "selector": sel, "template": rs_template},
              "status": {"replicas": made, "fullyLabeledReplicas": made, "readyReplicas": made,
                         "availableReplicas": made, "observedGeneration": 1}}
        self.objs["deployments"].append(dep)
        self.objs["replicasets"].append(rs)
        return made

    def running_replicaset(self, dep: Obj, created: str) -> None:
        """The ReplicaSet and one running pod of a Deployment already in the store (KAI's scheduler)."""
        md = dep["metadata"]
        name, ns = md["name"], md["namespace"]
        template = dep["spec"]["template"]
        h = template_hash(template)
        rs_name, rs_uid = f"{name}-{h}", self.uid()
        pod_labels = {**template["metadata"]["labels"], HASH_LABEL: h}
        d_ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": md["uid"], "controller": True,
                 "blockOwnerDeletion": True}
        rs_ref = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid,
                   "controller": True, "blockOwnerDeletion": True}]
        spec = template["spec"]
        self.pod(f"{rs_name}-{self.suffix()}", ns, pod_labels, None, rs_ref, spec, self.cpu_node(),
                 self.statuses(spec, created, rs_uid), created)
        sel = {"matchLabels": {**dep["spec"]["selector"]["matchLabels"], HASH_LABEL: h}}
        self.objs["replicasets"].append({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "labels": pod_labels,
                         "creationTimestamp": created, "ownerReferences": [d_ref],
                         "annotations": {REVISION_ANN: "1", "deployment.kubernetes.io/desired-replicas": "1",
                                         "deployment.kubernetes.io/max-replicas": "2"}},
            "spec": {"replicas": 1, "selector": sel,
                     "template": {"metadata": {**template["metadata"], "labels": pod_labels}, "spec": spec}},
            "status": {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                       "observedGeneration": 1}})

    def job(self, ns: str, queue: str, name: str, gpus: int, parallelism: int, created: str) -> int:
        job = b.training_job(name, ns, queue, gpus if gpus else None, parallelism,
                             image=None if gpus else "python:3.11-slim")
        j_uid = self.uid()
        job["metadata"].update(uid=j_uid, creationTimestamp=created)
        sel_labels = {JOB_UID_LABELS[0]: j_uid}
        job["spec"]["selector"] = {"matchLabels": sel_labels}
        template = job["spec"]["template"]
        pod_labels = {**template["metadata"]["labels"], JOB_UID_LABELS[0]: j_uid, JOB_NAME_LABELS[0]: name,
                      JOB_UID_LABELS[1]: j_uid, JOB_NAME_LABELS[1]: name}
        template["metadata"]["labels"] = pod_labels
        ref = [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": j_uid, "controller": True,
                "blockOwnerDeletion": True}]
        spec = template["spec"]
        statuses = self.statuses(spec, created, j_uid)
        pg = f"pg-{name}-{j_uid}"
        ann = {**(template["metadata"].get("annotations") or {}), "pod-group-name": pg}
        made = 0
        for _ in range(parallelism):
            if gpus:
                got = self.take_gpus(gpus)
                if got is None:
                    break
                node = got[0]
            else:
                node = self.cpu_node()
            self.pod(f"{name}-{self.suffix()}", ns, pod_labels, ann, ref, spec, node, statuses, created)
            made += 1
        if not made:
            return 0
        job["spec"]["parallelism"] = job["spec"]["completions"] = made
        job["status"] = {"startTime": created, "active": made, "ready": made, "succeeded": 0, "failed": 0,
                         "terminating": 0, "uncountedTerminatedPods": {}}
        self.objs["jobs"].append(job)
        self.podgroup(pg, ns, ref[0], job["metadata"]["labels"], queue, "train", running=made,
                      gpu=float(gpus * made))
        return made


def build_large(cluster: SimCluster, **knobs: Any) -> dict[str, int]:
    """Bulk-load the large scenario; returns the counts it loaded."""
    nodes = _knob(knobs, "nodes", 1, 20000)
    gpus = _knob(knobs, "gpus_per_node", 0, 16)
    pods = _knob(knobs, "pods", 0, 1_000_000)
    queues = _knob(knobs, "queues", 2, 20000)
    if knobs:
        raise ScenarioError(f"{', '.join(sorted(knobs))}: unknown knob (large takes nodes, gpus_per_node, pods, "
                            "queues)")
    if pods < nodes + 1:
        raise ScenarioError(f"pods: must be at least nodes + 1 ({nodes + 1}): every GPU node runs a dcgm-exporter "
                            "pod, and KAI's scheduler runs one")
    apply_all(cluster, base_objects(cluster.without))
    bld = _Builder(cluster, nodes, gpus, pods, queues)
    projects = bld.queues_and_namespaces()
    bld.build_nodes()
    store = cluster.store
    ds = store.get(DAEMONSETS, b.EXPORTER_NS, b.EXPORTER_NAME)
    ds_ref = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": b.EXPORTER_NAME, "uid": ds["metadata"]["uid"],
               "controller": True, "blockOwnerDeletion": True}]
    ex_spec = ds["spec"]["template"]["spec"]
    ex_labels = {**ds["spec"]["template"]["metadata"]["labels"],
                 REVISION_HASH: template_hash(ds["spec"]["template"]), "pod-template-generation": "1"}
    ex_status = bld.statuses(ex_spec, T0, "exporter")
    for node in bld.nodes:
        bld.pod(f"{b.EXPORTER_NAME}-{bld.suffix()}", b.EXPORTER_NS, ex_labels, None, ds_ref, ex_spec, node,
                ex_status, T0)

    # Plan: about half the GPUs to whole-GPU jobs, a quarter shared by fractions, the rest free; every
    # remaining pod is CPU-only. With few pods per GPU the GPU share shrinks so the pod count still holds.
    budget = pods - nodes
    total_gpus = nodes * gpus
    whole_target = int(total_gpus * 0.5)
    shared_target = int(total_gpus * 0.25)
    gpu_pods_est = whole_target / 2.5 + shared_target * 3.5
    if gpu_pods_est > 0.6 * budget and gpu_pods_est:
        k = 0.6 * budget / gpu_pods_est
        whole_target, shared_target = int(whole_target * k), int(shared_target * k)
    rng = bld.rng
    seq = 0

    def created() -> str:
        return f"2026-01-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"

    def project() -> tuple[str, str]:
        return projects[rng.randrange(len(projects))]

    whole_used = 0
    while whole_used < whole_target and bld.pod_count < pods:
        size = min(gpus, rng.choice((1, 1, 1, 2, 4, 8)))
        par = min(rng.choice((1, 1, 1, 2, 4)), max(1, (pods - bld.pod_count)))
        ns, q = project()
        seq += 1
        made = bld.job(ns, q, f"train-{seq:05d}", size, par, created())
        if not made:
            break
        whole_used += made * size
    shared_used = 0
    while shared_used < shared_target and bld.pod_count < pods - 1:
        frac = rng.choice((0.5, 0.25, 0.25))
        room = pods - bld.pod_count
        replicas = min(rng.choice((2, 4, 4, 8)), room // 2)  # worst case: one reservation pod per replica
        if replicas < 1:
            break
        ns, q = project()
        seq += 1
        before = len(bld.objs["pods"])
        made = bld.deployment(ns, q, f"serve-{seq:05d}", replicas, frac, created())
        if not made:
            break
        shared_used += sum(1 for p in bld.objs["pods"][before:] if p["metadata"]["namespace"] == RESERVATION_NS)
    bld.running_replicaset(store.get(DEPLOYMENTS, b.KAI_NS, b.KAI_SCHEDULER_APP), T0)
    while bld.pod_count < pods:
        left = pods - bld.pod_count
        ns, q = project()
        seq += 1
        if rng.random() < 0.7:
            bld.deployment(ns, q, f"svc-{seq:05d}", min(left, rng.randint(1, 12)), None, created(), cpu_only=True)
        else:
            bld.job(ns, q, f"etl-{seq:05d}", 0, min(left, rng.randint(1, 4)), created())

    counts = {}
    for rt, key in ((NAMESPACES, "namespaces"), (QUEUES, "queues"), (NODES, "nodes"), (DEPLOYMENTS, "deployments"),
                    (REPLICASETS, "replicasets"), (JOBS, "jobs"), (PODS, "pods"), (PODGROUPS, "podgroups")):
        counts[key] = store.load(rt, bld.objs[key])
    from .controllers import resync
    resync(cluster)
    return counts
