"""The allocation state KAI's rules run over: nodes, shared GPUs, placed pods and per-queue totals.

Kept incrementally (add/remove one pod at a time, O(1) plus the queue chain) so that a scheduling round
over a few pending pods costs little on a 2,000-node, 60,000-pod cluster, and so that planners can try
an eviction or a placement and undo it exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from .kai_queues import EPS, QueueSpec, QueueTree
from .podspec import GpuRequest

NodeTerm = tuple[str, str, frozenset[str]]  # (label key, operator In|NotIn|Exists|DoesNotExist, values)


NAME_FIELD = "\x00metadata.name"  # a NodeTerm key that matches the node's name (matchFields), not a label


@dataclass(slots=True)
class NodeFilter:
    """A pod's node constraints: `nodeSelector` labels and required affinity terms (ORed; each term's
    expressions ANDed; a `NAME_FIELD` expression matches the node name, as matchFields does)."""

    selector: dict[str, str] = field(default_factory=dict)
    terms: list[list[NodeTerm]] = field(default_factory=list)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        for k, v in self.selector.items():
            if labels.get(k) != v:
                return False
        if not self.terms:
            return True
        return any(all(_term(name, labels, t) for t in term) for term in self.terms)


def _term(name: str, labels: Mapping[str, str], t: NodeTerm) -> bool:
    key, op, values = t
    if key == NAME_FIELD:
        return (name in values) == (op == "In")
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels[key]), int(next(iter(values)))
        except (KeyError, ValueError, StopIteration):
            return False
        return have > want if op == "Gt" else have < want
    return False


@dataclass(slots=True)
class NodeInfo:
    """A node's capacity and what is placed on it. cpu/memory None = not advertised (no limit)."""

    name: str
    gpus: int = 0
    gpu_memory_mib: int | None = None
    cpu: float | None = None
    memory: float | None = None
    mig: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    schedulable: bool = True
    cpu_used: float = 0.0
    mem_used: float = 0.0
    whole_used: int = 0
    mig_used: dict[str, int] = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)  # shared GPU groups here, in creation order

    @property
    def free_whole(self) -> int:
        return self.gpus - self.whole_used - len(self.groups)

    def fits_basic(self, cpu: float, memory: float) -> bool:
        if self.cpu is not None and self.cpu_used + cpu > self.cpu + EPS:
            return False
        return self.memory is None or self.mem_used + memory <= self.memory + 1


@dataclass(slots=True)
class SharedGpu:
    """One physical GPU shared by fraction pods (a `runai-gpu-group`), with the portion in use.

    It exists while it has members; when the last one goes the GPU is free again (the binder deletes
    the group's reservation pod at that moment).
    """

    gid: str
    node: str
    used: float = 0.0
    members: dict[str, float] = field(default_factory=dict)

    @property
    def free(self) -> float:
        return 1.0 - self.used


@dataclass(slots=True)
class PodRec:
    """A pod as the rules see it. `node`/`groups` are set while it holds resources."""

    key: str
    job: str
    queue: str
    priority: int
    preemptible: bool
    req: GpuRequest
    cpu: float = 0.0
    memory: float = 0.0
    created: str = ""
    filter: NodeFilter | None = None
    node: str | None = None
    groups: tuple[str, ...] = ()
    portion: float = 0.0  # per-device portion once placed on shared GPUs
    # Being deleted (deletionTimestamp): KAI's `Releasing` status (pkg/scheduler/api/pod_info/pod_info.go
    # getTaskStatus). It still holds its node's resources (an activeUsed status) but is no longer allocated
    # to its queue or job, is never a victim, and what it holds may be promised to a pipelined pod
    # (pkg/scheduler/api/pod_status/pod_status.go: activeAllocatedStatuses leave Releasing out).
    releasing: bool = False

    @property
    def gpus(self) -> float:
        """GPU-equivalents this pod holds (or would hold, estimated) for quota accounting."""
        r = self.req
        if r.kind == "whole":
            return float(r.count)
        if r.kind in ("fraction", "memory"):
            return (self.portion or r.portion) * r.count
        if r.kind == "mig":
            return mig_gpus(r.mig_profile) * r.count
        return 0.0


def mig_gpus(profile: str | None) -> float:
    """A MIG slice as a share of a GPU by its compute slices: `3g.20gb` → 3/7."""
    if not profile:
        return 0.0
    head = profile.split(".", 1)[0].rstrip("g")
    try:
        return min(1.0, int(head) / 7)
    except ValueError:
        return 0.0


@dataclass(slots=True)
class JobRec:
    """A PodGroup: the unit KAI schedules and evicts."""

    key: str
    queue: str
    priority: int
    preemptible: bool
    min_member: int = 1
    created: str = ""
    pods: dict[str, None] = field(default_factory=dict)  # keys of placed pods, in placement order


class ClusterState:
    """Nodes, shared GPUs, placed pods and per-queue GPU totals (leaf and every ancestor)."""

    def __init__(self, tree: QueueTree | None = None) -> None:
        self.tree = tree or QueueTree([])
        self.nodes: dict[str, NodeInfo] = {}
        self.groups: dict[str, SharedGpu] = {}
        self.pods: dict[str, PodRec] = {}
        self.jobs: dict[str, JobRec] = {}
        self.alloc: dict[str, float] = {}
        self.alloc_np: dict[str, float] = {}
        self.alloc_cpu: dict[str, float] = {}
        self.alloc_mem: dict[str, float] = {}
        self.queue_jobs: dict[str, dict[str, None]] = {}
        self._buckets: dict[int, dict[str, None]] = {}  # free whole GPUs -> nodes
        self._releasing: dict[str, None] = {}  # keys of placed pods being deleted

    # ---------------------------------------------------------------- queues
    def set_tree(self, tree: QueueTree) -> None:
        """New queue definitions: totals are rolled up again along the new parent links."""
        self.tree = tree
        self.alloc.clear()
        self.alloc_np.clear()
        self.alloc_cpu.clear()
        self.alloc_mem.clear()
        for p in self.pods.values():
            self._account(p, 1)

    def _account(self, p: PodRec, sign: int) -> None:
        if p.releasing:
            return  # proportion plugin: queue usage counts AllocatedStatus pods only
        g = p.gpus * sign
        for q in self.tree.chain(p.queue) or [p.queue]:
            self.alloc[q] = self.alloc.get(q, 0.0) + g
            self.alloc_cpu[q] = self.alloc_cpu.get(q, 0.0) + p.cpu * sign
            self.alloc_mem[q] = self.alloc_mem.get(q, 0.0) + p.memory * sign
            if not p.preemptible:
                self.alloc_np[q] = self.alloc_np.get(q, 0.0) + g

    def capacity(self) -> float:
        """GPUs on nodes that take new work."""
        return float(sum(n.gpus for n in self.nodes.values() if n.schedulable))

    # ---------------------------------------------------------------- nodes
    def _bucket(self, node: NodeInfo, add: bool) -> None:
        b = self._buckets.setdefault(node.free_whole, {})
        if add:
            b[node.name] = None
        else:
            b.pop(node.name, None)

    def set_node(self, info: NodeInfo) -> None:
        """Add or replace a node's capacity facts, keeping what is placed on it."""
        old = self.nodes.get(info.name)
        if old is not None:
            self._bucket(old, False)
            info.cpu_used, info.mem_used, info.whole_used = old.cpu_used, old.mem_used, old.whole_used
            info.mig_used, info.groups = old.mig_used, old.groups
        self.nodes[info.name] = info
        self._bucket(info, True)

    def remove_node(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is not None:
            self._bucket(node, False)

    def nodes_by_free(self, at_least: int) -> Iterator[NodeInfo]:
        """Schedulable nodes with at least that many free whole GPUs, fewest free first (bin packing)."""
        for k in sorted(k for k in self._buckets if k >= at_least and self._buckets[k]):
            for name in self._buckets[k]:
                n = self.nodes.get(name)
                if n is not None and n.schedulable:
                    yield n

    # ---------------------------------------------------------------- pods
    def add_pod(self, p: PodRec, node: str, groups: tuple[str, ...] = (), portion: float = 0.0) -> None:
        """Record a pod as holding resources on `node` (shared groups are created as needed)."""
        if p.key in self.pods:
            self.remove_pod(p.key)
        n = self.nodes.get(node)
        if n is None:  # a node we do not know (yet): account the queue, hold no node capacity
            n = NodeInfo(node, schedulable=False)
            self.nodes[node] = n
            self._bucket(n, True)
        p.node, p.groups, p.portion = node, tuple(groups), portion
        self._bucket(n, False)
        n.cpu_used += p.cpu
        n.mem_used += p.memory
        r = p.req
        if r.kind == "whole":
            n.whole_used += r.count
        elif r.kind == "mig" and r.mig_profile:
            n.mig_used[r.mig_profile] = n.mig_used.get(r.mig_profile, 0) + r.count
        elif r.shared:
            for gid in p.groups:
                g = self.groups.get(gid)
                if g is None:
                    g = self.groups[gid] = SharedGpu(gid, node)
                    n.groups[gid] = None
                g.members[p.key] = portion
                g.used += portion
        self._bucket(n, True)
        self.pods[p.key] = p
        if p.releasing:
            self._releasing[p.key] = None
            return
        job = self.jobs.get(p.job)
        if job is None:
            job = self.jobs[p.job] = JobRec(p.job, p.queue, p.priority, p.preemptible, created=p.created)
        job.pods[p.key] = None
        self.queue_jobs.setdefault(p.queue, {})[p.job] = None
        self._account(p, 1)

    def remove_pod(self, key: str) -> PodRec | None:
        """Release what a pod holds; shared groups left with no members and no reservation disappear."""
        p = self.pods.pop(key, None)
        if p is None:
            return None
        n = self.nodes.get(p.node or "")
        if n is not None:
            self._bucket(n, False)
            n.cpu_used -= p.cpu
            n.mem_used -= p.memory
            r = p.req
            if r.kind == "whole":
                n.whole_used -= r.count
            elif r.kind == "mig" and r.mig_profile:
                n.mig_used[r.mig_profile] = n.mig_used.get(r.mig_profile, 0) - r.count
            elif r.shared:
                for gid in p.groups:
                    g = self.groups.get(gid)
                    if g is None:
                        continue
                    g.used -= g.members.pop(p.key, 0.0)
                    if g.used < EPS:
                        g.used = 0.0
                    if not g.members:  # the binder then deletes its reservation pod
                        del self.groups[gid]
                        n.groups.pop(gid, None)
            self._bucket(n, True)
        if p.releasing:
            self._releasing.pop(p.key, None)
            return p
        job = self.jobs.get(p.job)
        if job is not None:
            job.pods.pop(p.key, None)
            if not job.pods:
                del self.jobs[p.job]
                qj = self.queue_jobs.get(p.queue)
                if qj is not None:
                    qj.pop(p.job, None)
        self._account(p, -1)
        return p

    def clone(self) -> ClusterState:
        """An independent copy to plan on without touching this one (the console's preemption preview)."""
        return copy.deepcopy(self)

    def releasing(self) -> list[PodRec]:
        """Placed pods that are being deleted (their resources are freed when they are gone)."""
        return [self.pods[k] for k in self._releasing]

    def job_pods(self, job: str) -> list[PodRec]:
        j = self.jobs.get(job)
        return [self.pods[k] for k in j.pods] if j else []

    def job_gpus(self, job: str) -> float:
        return sum(p.gpus for p in self.job_pods(job))
