"""What `:ns NAME` and `:project NAME` narrow each pane to, as field terms its filter understands.

k9s's `:ns` narrows every namespaced view; here a pane is narrowed by the fields it has:
- a `namespace` field (Workloads, GPUs through their holders, Events): the namespace itself;
- a `project` field (Projects, Workloads, GPUs): the project, or a department with its projects;
- Projects under `:ns`: the projects with workloads in it (and `runai-<project>` by Run:ai's naming);
- Events under `:project`: the namespaces the project's workloads run in (and `runai-<project>`).
Nodes are cluster-scoped and stay whole, as k9s keeps them. The terms are worked out when the command is
given: a project that starts work in another namespace later shows there after the next `:project`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.model.cluster_store import ClusterStore
from console.model.scope import subtree

Terms = tuple[tuple[str, frozenset[str]], ...]


def scope_terms(store: ClusterStore, fields: Mapping[str, Iterable[str]], namespace: str | None,
                project: str | None) -> dict[str, Terms]:
    """Pane name → field terms (all required) for the scope; a pane missing from the answer is not narrowed.
    The caller holds the model's lock."""
    rows = store.workloads.rows.values()
    projects = subtree(store, project) if project else set()
    ns_projects: set[str] = set()
    if namespace:
        ns_projects = {r.project for r in rows if r.namespace == namespace and r.project}
        ns_projects |= {p for p in store.projects.rows if f"runai-{p}" == namespace}
    project_ns: set[str] = set()
    if project:
        project_ns = {r.namespace for r in rows if r.project in projects} | {f"runai-{p}" for p in projects}
    out: dict[str, Terms] = {}
    for pane, names in fields.items():
        have = set(names)
        terms: list[tuple[str, frozenset[str]]] = []
        if namespace:
            if "namespace" in have:
                terms.append(("namespace", frozenset({namespace})))
            elif "project" in have:
                terms.append(("project", frozenset(ns_projects)))
        if project:
            if "project" in have:
                terms.append(("project", frozenset(projects)))
            elif "namespace" in have:
                terms.append(("namespace", frozenset(project_ns)))
        if terms:
            out[pane] = tuple(terms)
    return out
