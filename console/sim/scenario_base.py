"""What every simulated cluster holds before its scenario's own objects, and the all-or-nothing create.

Shared by the scenario files and the bulk-loaded large scenario.
"""

from __future__ import annotations

from typing import Any

from . import scenario_build as b
from .cluster import SimCluster
from .errors import ApiError
from .resources import BY_KEY
from .scenario_file import ScenarioError


def base_objects(without: frozenset[str] = frozenset()) -> list[tuple[str, dict[str, Any]]]:
    """What every cluster holds before any workload: (resource key, object) in creation order.

    `without`: optional API groups the cluster does not serve, whose CRDs are left out."""
    out: list[tuple[str, dict[str, Any]]] = [("namespaces", b.namespace(n)) for n in b.BASE_NAMESPACES]
    out += [("priorityclasses.scheduling.k8s.io", b.priority_class(*pc)) for pc in b.PRIORITY_CLASSES]
    crds = b.kai_crds() + b.knative_crds() + b.kserve_crds() + b.runai_crds()
    out += [("customresourcedefinitions.apiextensions.k8s.io", c) for c in crds
            if c["spec"]["group"] not in without]
    out += [("queues.scheduling.run.ai", q) for q in b.default_queues()]
    out += [("daemonsets.apps", b.exporter_daemonset()), ("services", b.exporter_service())]
    out += [("deployments.apps", b.kai_scheduler_deployment()), ("services", b.kai_scheduler_service())]
    return out


def apply_all(cluster: SimCluster, objs: list[tuple[str, dict[str, Any]]]) -> None:
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
