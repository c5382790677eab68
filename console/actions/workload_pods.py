"""Which pods belong to a workload, and whether KAI may preempt them: shared by preempt and delete."""

from __future__ import annotations

from typing import Any

from console.model.kai_read import POD_GROUP_ANNOTATION, TERMINAL_PHASES, priority_lookup
from console.model.podspec import (
    NON_PREEMPTIBLE_MIN, default_priority_class, is_preemptible, labels_of, priority_class_of,
)

from .facts import ClusterFacts
from .preview import workload_of
from .targets import Workload

Obj = dict[str, Any]


def pods_of(facts: ClusterFacts, wl: Workload, bound_only: bool = False) -> list[Obj]:
    """The workload's live pods (owner chain walked); with `bound_only`, those holding a node."""
    if wl.kind == "Pod":
        pods = [wl.obj]
    else:
        pods = [p for p in facts.items("pods", wl.namespace) if workload_of(facts, p) == (wl.kind, wl.namespace,
                                                                                         wl.name)]
    out = []
    for p in pods:
        if (p.get("status") or {}).get("phase") in TERMINAL_PHASES or (p.get("metadata") or {}).get(
                "deletionTimestamp"):
            continue
        if bound_only and not (p.get("spec") or {}).get("nodeName"):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p["metadata"]["name"])


def preemptibility(facts: ClusterFacts, wl: Workload, pod: Obj) -> tuple[bool, str]:
    """(preemptible, why) as KAI decides: PodGroup preemptibility, then the pod label, then priority < 100."""
    md = pod.get("metadata") or {}
    pgname = (md.get("annotations") or {}).get(POD_GROUP_ANNOTATION)
    pg = facts.get("podgroups", md.get("namespace"), pgname) if pgname else None
    pgspec = (pg or {}).get("spec") or {}
    cls = pgspec.get("priorityClassName") or priority_class_of(pod, wl.obj) or default_priority_class(wl.kind)
    value = priority_lookup(facts.priority_class_objects())(cls)
    pre = is_preemptible(value, labels_of(pod), pgspec.get("preemptibility"))
    if pgspec.get("preemptibility") in ("preemptible", "non-preemptible"):
        why = f"its PodGroup says {pgspec['preemptibility']}"
    elif labels_of(pod).get("kai.scheduler/preemptibility") in ("preemptible", "non-preemptible"):
        why = f"its label kai.scheduler/preemptibility is {labels_of(pod)['kai.scheduler/preemptibility']}"
    else:
        cmp = "<" if value < NON_PREEMPTIBLE_MIN else ">="
        why = f"priority class {cls!r} has value {value} ({cmp} {NON_PREEMPTIBLE_MIN})"
    return pre, why
