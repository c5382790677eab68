"""A namespace, a label selector and a project, as `kubectl get -n NS -l SEL` and `runai -p PROJECT` read
them, applied to the snapshot's views.

- Workloads (namespaced) keep the rows in the namespace, of the project (or a project under the department) and,
  with a selector, those whose own labels or any of whose pods' labels match; each keeps, in `pod_names`, the pods
  `kubectl get pods -n NS -l SEL` would list for it.
- GPUs keep the devices one of those pods holds (the whole device: its other holders and free share stay).
- Projects keep the named project with its subtree, or the projects of the kept workloads, with their ancestors
  so the tree still reads from the top.
- Nodes are cluster-scoped, as in kubectl and k9s: a namespace does not narrow them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.kube.selectors import LabelSelector

if TYPE_CHECKING:
    from .cluster_store import ClusterStore
    from .records import PodRec


@dataclass(frozen=True)
class Scope:
    namespace: str | None = None                       # None: every namespace
    selector: LabelSelector = field(default_factory=LabelSelector)
    project: str | None = None                         # a KAI queue: a project, or a department

    def __bool__(self) -> bool:
        return bool(self.namespace or self.selector or self.project)

    def as_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "selector": str(self.selector) or None, "project": self.project}


def subtree(store: ClusterStore, name: str) -> set[str]:
    """A project and every queue under it."""
    out: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out.add(n)
        todo.extend(store.queue_children.get(n, ()))
    return out


def with_ancestors(rows: dict[str, Any], names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        while n is not None and n in rows and n not in out:
            out.add(n)
            n = rows[n].parent
    return out


def namespaces(store: ClusterStore) -> list[str]:
    """Every namespace the model has seen a pod or a workload in (what `:ns` completes)."""
    return sorted(set(store.pods_by_ns) | {k[1] for k in store.owners})


def _pod_names(store: ClusterStore, wkey: tuple[str, str, str], scope: Scope) -> list[str]:
    pods: list[PodRec] = store.pods_of(store.pods_by_workload.get(wkey, ()))
    return sorted(p.name for p in pods if not scope.selector or scope.selector.matches(p.all_labels))


def pod_filter(store: ClusterStore, scope: Scope) -> Callable[[Any, PodRec], bool] | None:
    """Which of a workload row's pods the scope keeps, as `apply` keeps workloads (None: every pod): the
    serving scrape of a narrowed snapshot reaches only what it shows."""
    if not scope:
        return None
    projects = subtree(store, scope.project) if scope.project else None

    def keep(row: Any, pod: PodRec) -> bool:
        if scope.namespace and row.namespace != scope.namespace:
            return False
        if projects is not None and row.project not in projects:
            return False
        if scope.selector and not scope.selector.matches(pod.all_labels):
            owner = store.owner_of_workload(row.key)
            return owner is not None and scope.selector.matches(owner.labels)
        return True
    return keep


def apply(out: dict[str, Any], store: ClusterStore, scope: Scope) -> None:
    """Narrow a built snapshot dict (see `snapshot.build`) to `scope` in place; add `pod_names` to each workload."""
    projects = subtree(store, scope.project) if scope.project else None
    held: set[tuple[str, str]] = set()
    kept_projects: set[str] = set()
    if "workloads" in out or scope:
        kept = []
        for w in out["workloads"] if "workloads" in out else _all_workloads(store):
            if scope.namespace and w["namespace"] != scope.namespace:
                continue
            if projects is not None and w.get("project") not in projects:
                continue
            wkey = (w["namespace"], w["kind"], w["name"])
            pods = _pod_names(store, wkey, scope)
            if scope.selector and not pods:
                owner = store.owner_of_workload(wkey)
                if owner is None or not scope.selector.matches(owner.labels):
                    continue
            w["pod_names"] = pods
            kept.append(w)
            held.update((w["namespace"], p) for p in pods)
            if w.get("project"):
                kept_projects.add(w["project"])
        if "workloads" in out:
            out["workloads"] = kept
    if not scope:
        return
    if "gpus" in out:
        out["gpus"] = [g for g in out["gpus"] if any((h["namespace"], h["pod"]) in held for h in g["holders"])]
    if "projects" in out:
        rows = store.projects.rows
        if projects is not None:
            keep = with_ancestors(rows, projects)
        elif scope.namespace or scope.selector:
            keep = with_ancestors(rows, kept_projects)
        else:
            keep = set(rows)
        out["projects"] = [p for p in out["projects"] if p["name"] in keep]
    out["scope"] = scope.as_dict()


def _all_workloads(store: ClusterStore) -> list[dict[str, Any]]:
    """What `apply` reads of each workload, for views that do not print the workloads themselves."""
    return [{"namespace": r.namespace, "kind": r.kind, "name": r.name, "project": r.project}
            for r in store.workloads.rows.values()]
