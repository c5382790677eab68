"""Scenarios: what the simulated cluster holds when it starts (`demo`, `large`, `empty`, or a YAML file).

`build(cluster, name_or_path, dynamic=False, **knobs)` lays down the fixed furniture every cluster has
(namespaces, KAI and Run:ai PriorityClasses, KAI's CRDs and default queues, the dcgm-exporter
DaemonSet), then the scenario's own objects, then lets the controllers settle. A bad scenario raises
`ScenarioError` naming the field, and leaves nothing half-built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cluster import SimCluster
from .scenario_base import apply_all, base_objects
from .scenario_file import ScenarioError, Spec, load, objects, validate
from .scenario_large import build_large

__all__ = ["ScenarioError", "build", "base_objects", "NAMES"]

NAMES = ("demo", "large", "empty")


def build(cluster: SimCluster, name_or_path: str | Path = "demo", dynamic: bool = False, **knobs: Any) -> str:
    """Populate `cluster` with a scenario and settle it; returns the scenario's name."""
    name = str(name_or_path)
    if name == "large":
        build_large(cluster, **knobs)
        label = "large"
    else:
        if knobs:
            raise ScenarioError(f"{', '.join(sorted(knobs))}: size knobs apply only to the large scenario")
        spec = _spec_for(name)
        objs = objects(spec)
        apply_all(cluster, base_objects(cluster.without) + objs)
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
