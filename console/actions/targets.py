"""Naming a workload on the command line or from a marked row: `NS/NAME` or `NS/KIND/NAME`.

The kind is found when the name is unique among the namespace's workloads; an ambiguous name is refused
with the choices, so an action never lands on the wrong object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.kube import client as k
from console.kube.client import Res

from .errors import ActionError
from .facts import ClusterFacts
from .validate import DNS1123_LABEL

Obj = dict[str, Any]

KINDS: dict[str, tuple[str, Res]] = {  # alias -> (facts key, resource)
    "deployment": ("deployments", k.DEPLOYMENTS), "deploy": ("deployments", k.DEPLOYMENTS),
    "deployments": ("deployments", k.DEPLOYMENTS),
    "statefulset": ("statefulsets", k.STATEFULSETS), "sts": ("statefulsets", k.STATEFULSETS),
    "replicaset": ("replicasets", k.REPLICASETS), "rs": ("replicasets", k.REPLICASETS),
    "job": ("jobs", k.JOBS), "jobs": ("jobs", k.JOBS),
    "pod": ("pods", k.PODS), "po": ("pods", k.PODS), "pods": ("pods", k.PODS),
    "ksvc": ("ksvcs", k.KSERVICES), "kservice": ("ksvcs", k.KSERVICES),
    "isvc": ("isvcs", k.INFERENCESERVICES), "inferenceservice": ("isvcs", k.INFERENCESERVICES),
    "inferenceworkload": ("inferenceworkloads", k.INFERENCEWORKLOADS),
}
SEARCH = ("deployments", "statefulsets", "jobs", "replicasets", "isvcs", "inferenceworkloads", "ksvcs")
RES_OF = {"deployments": k.DEPLOYMENTS, "statefulsets": k.STATEFULSETS, "replicasets": k.REPLICASETS,
          "jobs": k.JOBS, "pods": k.PODS, "ksvcs": k.KSERVICES, "isvcs": k.INFERENCESERVICES,
          "inferenceworkloads": k.INFERENCEWORKLOADS}


class UsageError(ValueError):
    """A target or count written in a way no action understands (exit code 2 on the command line)."""


@dataclass(frozen=True)
class Ref:
    namespace: str
    name: str
    kind: str | None = None  # alias as typed, or None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind + '/' if self.kind else ''}{self.name}"


@dataclass(frozen=True)
class Workload:
    """A resolved target: its resource, and the live object."""

    res: Res
    obj: Obj

    @property
    def kind(self) -> str:
        return self.res.kind

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def parse_ref(text: str) -> Ref:
    """`NS/NAME` or `NS/KIND/NAME`; raises UsageError saying what the form is."""
    parts = str(text).strip().split("/")
    if len(parts) == 2:
        ns, name, kind = parts[0], parts[1], None
    elif len(parts) == 3:
        ns, kind, name = parts[0], parts[1].lower(), parts[2]
        if kind not in KINDS:
            raise UsageError(f"{text!r}: unknown kind {parts[1]!r} (use one of deployment, statefulset, replicaset, "
                             "job, pod, ksvc, isvc, inferenceworkload)")
    else:
        raise UsageError(f"{text!r}: name a workload as NAMESPACE/NAME or NAMESPACE/KIND/NAME")
    for what, v in (("namespace", ns), ("name", name)):
        if not v or not DNS1123_LABEL.match(v) and not (what == "name" and "." in v):
            raise UsageError(f"{text!r}: {what} {v!r} is not a valid Kubernetes name")
    return Ref(ns, name, kind)


def resolve(facts: ClusterFacts, ref: Ref, allowed: tuple[str, ...] = SEARCH + ("pods",)) -> Workload:
    """The live workload `ref` names; ActionError when none or several match."""
    keys = [KINDS[ref.kind][0]] if ref.kind else [s for s in SEARCH if s in allowed]
    found = [(key, o) for key in keys for o in [facts.get(key, ref.namespace, ref.name)] if o is not None]
    # A serving object and what it made under the same name (a Run:ai workload's Knative Service): the owner.
    uids = {(o.get("metadata") or {}).get("uid") for _, o in found}
    found = [(key, o) for key, o in found
             if not any(r.get("controller") and r.get("uid") in uids
                        for r in (o.get("metadata") or {}).get("ownerReferences") or ())] or found
    if ref.kind and KINDS[ref.kind][0] not in allowed:
        raise ActionError(f"{ref}: a {RES_OF[KINDS[ref.kind][0]].kind} cannot take this action")
    if not found:
        if not facts.namespace_exists(ref.namespace):
            raise ActionError(f"{ref}: namespace {ref.namespace!r} does not exist")
        what = RES_OF[keys[0]].kind if ref.kind else "workload (Deployment, StatefulSet, Job or ReplicaSet)"
        raise ActionError(f"{ref}: no {what} named {ref.name!r} in {ref.namespace}")
    if len(found) > 1:
        kinds = ", ".join(f"{ref.namespace}/{RES_OF[key].kind.lower()}/{ref.name}" for key, _ in found)
        raise ActionError(f"{ref}: the name is ambiguous; say which: {kinds}")
    key, obj = found[0]
    return Workload(RES_OF[key], obj)
