"""Scenarios: what the simulated cluster holds when it starts (`demo`, `large`, `empty`, or a YAML file).

`build(cluster, name_or_path, dynamic=False, **knobs)` lays down the fixed furniture every cluster has
(namespaces, KAI and Run:ai PriorityClasses, KAI's CRDs and default queues, the dcgm-exporter
DaemonSet), then the scenario's own objects, then lets the controllers settle. A bad scenario raises
`ScenarioError` naming the field, and leaves nothing half-built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import scenario_build as b
from .cluster import SimCluster
from .errors import ApiError
from .resources import BY_KEY
from .scenario_file import ScenarioError, Spec, load, objects, validate

__all__ = ["ScenarioError", "build", "base_objects", "NAMES"]

NAMES = ("demo", "large", "empty")


def base_objects() -> list[tuple[str, dict[str, Any]]]:
    """What every cluster holds before any workload: (resource key, object) in creation order."""
    out: list[tuple[str, dict[str, Any]]] = [("namespaces", b.namespace(n)) for n in b.BASE_NAMESPACES]
    out += [("priorityclasses.scheduling.k8s.io", b.priority_class(*pc)) for pc in b.PRIORITY_CLASSES]
    out += [("customresourcedefinitions.apiextensions.k8s.io", c) for c in b.kai_crds()]
    out += [("queues.scheduling.run.ai", q) for q in b.default_queues()]
    out += [("daemonsets.apps", b.exporter_daemonset()), ("services", b.exporter_service())]
    return out


def _apply(cluster: SimCluster, objs: list[tuple[str, dict[str, Any]]]) -> None:
    """Create every object, or none: a refusal rolls back what this call created and says which object."""
    store = cluster.store
    done: list[tuple[str, str | None, str]] = []
    for rkey, obj in objs:
        rt = BY_KEY[rkey]
        md = obj.get("metadata") or {}
        try:
            created = store.create(rt, obj)
        except ApiError as e:
            if e.code == 409 and rkey == "namespaces":
                continue  # a project may reuse a base namespace, as `kubectl label ns` adoption does
            for rk, ns, name in reversed(done):
                if store.try_get(BY_KEY[rk], ns, name) is not None:
                    store.delete(BY_KEY[rk], ns, name, grace_period=0)  # undone, not shut down
            where = f"{md.get('namespace')}/" if md.get("namespace") else ""
            raise ScenarioError(f"{rt.kind} {where}{md.get('name')}: {e.message}") from None
        cmd = created["metadata"]
        done.append((rkey, cmd.get("namespace"), cmd["name"]))


def build(cluster: SimCluster, name_or_path: str | Path = "demo", dynamic: bool = False, **knobs: Any) -> str:
    """Populate `cluster` with a scenario and settle it; returns the scenario's name."""
    name = str(name_or_path)
    if name == "large":
        from .scenario_large import build_large
        build_large(cluster, **knobs)
        label = "large"
    else:
        if knobs:
            raise ScenarioError(f"{', '.join(sorted(knobs))}: size knobs apply only to the large scenario")
        spec = _spec_for(name)
        objs = objects(spec)
        _apply(cluster, base_objects() + objs)
        label = spec.name
    cluster.settle()
    if dynamic:
        from . import dynamics
        dynamics.install(cluster)
    cluster.extras["scenario"] = label
    return label


def _spec_for(name: str) -> Spec:
    if name == "demo":
        from .scenario_demo import DEMO
        return validate(DEMO)
    if name == "empty":
        return Spec(name="empty")
    p = Path(name)
    if p.suffix in (".yaml", ".yml", ".json") or p.exists() or "/" in name:
        return load(p)
    raise ScenarioError(f"unknown scenario {name!r}: use {', '.join(NAMES)} or the path of a scenario YAML file")
