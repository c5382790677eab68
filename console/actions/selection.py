"""Which workloads a command line names, read the way kubectl reads `-n`, `-A`, `-l` and `TYPE/NAME`.

`NAME` and `KIND/NAME` are in the namespace (`-n`, else the project's with `--project`, else the context's);
`NS/NAME` and `NS/KIND/NAME` name their own. `-l` selects the top-level workloads (the kinds actions take: no
other object controls them, so a Deployment's ReplicaSet or a Knative Service's Deployment is not picked apart
from it) whose labels match, in the namespace or, with `-A`, in every one.
"""

from __future__ import annotations

from typing import Any

from console.kube.selectors import LabelSelector

from .facts import ClusterFacts
from .targets import KINDS, SEARCH, UsageError


def expand(text: str, namespace: str, explicit_namespace: bool) -> str:
    """`NAME` → `NS/NAME`, `KIND/NAME` → `NS/KIND/NAME`; `NS/…` forms stay. A namespace written in the target
    that differs from `-n` is a usage error, as kubectl's "does not match the namespace" is."""
    parts = str(text).strip().split("/")
    if len(parts) == 1:
        return f"{namespace}/{parts[0]}"
    if len(parts) == 2 and parts[0].lower() in KINDS:
        return f"{namespace}/{parts[0].lower()}/{parts[1]}"
    if explicit_namespace and len(parts) in (2, 3) and parts[0] != namespace:
        raise UsageError(f"{text!r} names namespace {parts[0]!r} but -n says {namespace!r}")
    return text


ALIAS = {key: next(a for a, (k, _) in KINDS.items() if k == key) for key in SEARCH}  # deployments → deployment


def _controlled(o: dict[str, Any]) -> bool:
    return any(r.get("controller") for r in (o.get("metadata") or {}).get("ownerReferences") or ())


def select(facts: ClusterFacts, selector: LabelSelector, namespace: str | None) -> list[str]:
    """`NS/KIND/NAME` of every top-level workload whose labels match, sorted; `namespace` None is all."""
    found: list[str] = []
    for key in SEARCH:
        kind = ALIAS[key]
        for o in facts.items(key, namespace):
            md = o.get("metadata") or {}
            if _controlled(o):
                continue  # a Deployment's ReplicaSet: the Deployment is the workload
            if selector.matches(md.get("labels") or {}):
                found.append(f"{md.get('namespace')}/{kind}/{md.get('name')}")
    return sorted(found)
