"""The cluster facts an action needs before it sends anything: projects, namespaces, GPUs, live workloads.

Read once per action from the API (raw dicts, as the preview's KAI rules want them), so validation, the
queue-label choice and the preemption preview all look at the same moment of the cluster.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from console.kube import client as k
from console.kube.client import KubeClient, Res
from console.kube.errors import ApiError
from console.model.podspec import (
    GPU_MEMORY_LABEL, PRIORITY_CLASSES, PROJECT_LABEL, QUEUE_LABEL, QUEUE_LABELS, RUNAI_QUEUE_LABEL, labels_of,
)

Obj = dict[str, Any]

# What one action reads; an absent optional API (no KAI CRDs) reads as empty.
READS: dict[str, Res] = {
    "namespaces": k.NAMESPACES, "nodes": k.NODES, "pods": k.PODS, "queues": k.QUEUES,
    "podgroups": k.PODGROUPS, "priorityclasses": k.PRIORITYCLASSES, "deployments": k.DEPLOYMENTS,
    "replicasets": k.REPLICASETS, "statefulsets": k.STATEFULSETS, "jobs": k.JOBS, "services": k.SERVICES,
    "pdbs": k.PDBS, "hpas": k.HPAS, "ksvcs": k.KSERVICES, "isvcs": k.INFERENCESERVICES,
    "inferenceworkloads": k.INFERENCEWORKLOADS,
}
OPTIONAL = frozenset({"queues", "podgroups", "pdbs", "hpas", "ksvcs", "isvcs", "inferenceworkloads"})
CUSTOM_METRICS_PATH = "/apis/custom.metrics.k8s.io"


def _name(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _ns(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("namespace", ""))


@dataclass
class ClusterFacts:
    """Raw objects by resource name (see READS); helpers answer the questions actions ask."""

    objects: dict[str, list[Obj]] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)      # optional resources the cluster does not serve (404)
    custom_metrics: bool = False                       # the cluster serves custom.metrics.k8s.io

    @property
    def knative(self) -> bool:
        """Knative Serving is installed (its Services are served), so inference is served the Run:ai way."""
        return "ksvcs" not in self.absent and "ksvcs" in self.objects

    def hpa_for(self, namespace: str, kind: str, name: str) -> Obj | None:
        for h in self.items("hpas", namespace):
            ref = (h.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == kind and ref.get("name") == name:
                return h
        return None

    def items(self, what: str, namespace: str | None = None) -> list[Obj]:
        objs = self.objects.get(what) or []
        return objs if namespace is None else [o for o in objs if _ns(o) == namespace]

    def get(self, what: str, namespace: str | None, name: str) -> Obj | None:
        for o in self.items(what, namespace):
            if _name(o) == name:
                return o
        return None

    # ------------------------------------------------------------ projects
    def queues(self) -> dict[str, Obj]:
        return {_name(q): q for q in self.items("queues")}

    def projects(self) -> list[str]:
        """Leaf queues: only they take workloads."""
        qs = self.queues()
        parents = {(q.get("spec") or {}).get("parentQueue") for q in qs.values()}
        return sorted(n for n in qs if n not in parents)

    def departments(self) -> list[str]:
        qs = self.queues()
        return sorted({str((q.get("spec") or {}).get("parentQueue")) for q in qs.values()
                       if (q.get("spec") or {}).get("parentQueue") in qs})

    def project_namespace(self, project: str) -> str:
        """The namespace labelled `runai/queue=<project>` (Run:ai's mapping), else `runai-<project>`."""
        found = sorted(_name(n) for n in self.items("namespaces")
                       if labels_of(n).get(RUNAI_QUEUE_LABEL) == project)
        return found[0] if found else f"runai-{project}"

    def namespace_exists(self, namespace: str) -> bool:
        return any(_name(n) == namespace for n in self.items("namespaces"))

    def queue_label_key(self, project: str, namespace: str) -> str:
        """The queue label the cluster's pod-grouper reads: what the project's own workloads carry, else what
        most workloads in the cluster carry, else KAI's `kai.scheduler/queue`."""
        def votes(objs: list[Obj]) -> dict[str, int]:
            out: dict[str, int] = {}
            for o in objs:
                labels = labels_of(o)
                for key in QUEUE_LABELS:
                    if labels.get(key):
                        out[key] = out.get(key, 0) + 1
                        break
            return out
        for scope in (namespace, None):
            objs = [o for what in ("deployments", "jobs", "statefulsets") for o in self.items(what, scope)]
            objs += self.items("pods", scope)  # Run:ai's own kinds (RunaiJob, ...) show through their pods
            v = votes(objs)
            if v:
                return max(v, key=lambda key: (v[key], key == QUEUE_LABEL))
            if any(labels_of(o).get(PROJECT_LABEL) for o in objs):
                return RUNAI_QUEUE_LABEL  # Run:ai workloads that carry only `project`: the older generation
        return QUEUE_LABEL

    # ------------------------------------------------------------ GPUs and priorities
    def gpu_memory_max(self) -> int | None:
        """The largest per-GPU memory (MiB) any node advertises, or None when no node says."""
        best = None
        for n in self.items("nodes"):
            try:
                v = int(labels_of(n).get(GPU_MEMORY_LABEL) or 0)
            except ValueError:
                continue
            if v and (best is None or v > best):
                best = v
        return best

    def priority_class_objects(self) -> list[Obj]:
        """PriorityClass objects; KAI's shipped ones when the cluster lists none to us (none readable)."""
        return self.items("priorityclasses") or [{"metadata": {"name": n}, "value": v}
                                                 for n, v in PRIORITY_CLASSES.items()]

    def priority_classes(self) -> dict[str, int]:
        """The cluster's PriorityClasses by name; KAI's table when the cluster lists none."""
        out: dict[str, int] = {}
        for pc in self.items("priorityclasses"):
            try:
                out[_name(pc)] = int(pc.get("value", 0))
            except (TypeError, ValueError):
                continue
        return out or dict(PRIORITY_CLASSES)


async def load(client: KubeClient, what: tuple[str, ...] | None = None) -> ClusterFacts:
    """List the resources actions read, concurrently. A 403/404 on an optional API reads as empty; any
    other failure is raised as the ApiError it is."""
    names = what or tuple(READS)
    absent: set[str] = set()

    async def one(name: str) -> list[Obj]:
        try:
            items, _ = await client.list(READS[name])
            return items
        except ApiError as e:
            if name in OPTIONAL and e.code in (403, 404):
                if e.code == 404:
                    absent.add(name)
                return []
            raise

    async def metrics_api() -> bool:
        try:
            await client.request("GET", CUSTOM_METRICS_PATH)
            return True
        except ApiError:
            return False
    *lists, custom = await asyncio.gather(*(one(n) for n in names), metrics_api())
    facts = ClusterFacts(dict(zip(names, lists)), absent, bool(custom))
    for n in absent:
        facts.objects.pop(n, None)
    return facts
