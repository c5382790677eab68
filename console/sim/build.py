"""Assemble a complete simulated cluster: store, admission, controllers, scheduler, scenario."""

from __future__ import annotations

from typing import Any

from .cluster import SimCluster


def make_cluster(
    scenario: str = "demo",
    seed: int = 42,
    *,
    dynamic: bool = False,
    manual_clock: bool = False,
    window: int = 20_000,
    without: tuple[str, ...] = (),
    **knobs: Any,
) -> SimCluster:
    """A cluster wired like the real thing: the same admission, controllers and KAI scheduler in every use.

    `scenario` is `demo`, `large`, `empty` or a path to a scenario YAML file; `knobs` are the large
    scenario's sizes; `without` names optional API groups (Knative, KServe, Run:ai) the cluster does not
    serve, as a cluster without those add-ons installed. Raises `console.sim.scenarios.ScenarioError` for a bad scenario.
    """
    from . import controllers, faults, pdb, scenarios, scheduler, validation

    cluster = SimCluster(seed=seed, manual_clock=manual_clock, window=window, without=frozenset(without))
    validation.install(cluster)
    faults.install(cluster)
    pdb.install(cluster)
    scheduler.install(cluster)
    controllers.install(cluster)
    scenarios.build(cluster, scenario, dynamic=dynamic, **{k: v for k, v in knobs.items() if v is not None})
    return cluster
