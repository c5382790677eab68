"""Graceful deletion as kube-apiserver decides it, and the kubelet's part when a grace period ends.

A deleted pod does not vanish: the apiserver sets `metadata.deletionTimestamp` (now + the grace period)
and `metadata.deletionGracePeriodSeconds`, and the pod stays, `Terminating`, on its node and holding its
devices, until the kubelet has stopped its containers and deletes it again with a grace period of 0.
The rules here follow kubernetes:

- `pkg/registry/core/pod/strategy.go` CheckGracefulDelete: the DeleteOptions' `gracePeriodSeconds`, else
  the pod's `spec.terminationGracePeriodSeconds`; 0 for a pod that is not bound to a node or that has
  already finished (Succeeded / Failed); a negative value counts as 1.
- `staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go` BeforeDelete: a second delete may only
  shorten the period (the timestamp moves by the difference); a negative period is 1 s.
- `pkg/apis/core/v1/defaults.go` SetDefaults_PodSpec: `terminationGracePeriodSeconds` defaults to 30,
  so a stored pod without it is treated as if it had been defaulted.

Only pods are deleted gracefully; every other object goes at once unless finalizers hold it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

Obj = dict[str, Any]

DEFAULT_GRACE_S = 30
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TERMINAL = ("Succeeded", "Failed")


def pod_grace(pod: Obj, requested: int | None) -> int:
    """The grace period a delete of `pod` gets (CheckGracefulDelete)."""
    spec = pod.get("spec") or {}
    if requested is not None:
        period = requested
    else:
        period = _int(spec.get("terminationGracePeriodSeconds"), DEFAULT_GRACE_S)
    if not spec.get("nodeName"):
        period = 0  # never scheduled: nothing runs that could shut down
    if (pod.get("status") or {}).get("phase") in TERMINAL:
        period = 0  # already finished
    return 1 if period < 0 else period


def requested_grace(value: Any) -> int | None:
    """A DeleteOptions `gracePeriodSeconds` as an int; ValueError when it is not an integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"gracePeriodSeconds: Invalid value: {value!r}: must be an integer")
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"gracePeriodSeconds: Invalid value: {value!r}: must be an integer") from None
    return 1 if n < 0 else n  # BeforeDelete: negative values are treated as 1 s


def shift(ts: str, seconds: float) -> str:
    """An RFC 3339 timestamp moved by `seconds` (the deletionTimestamp is the moment the period ends)."""
    try:
        t = _dt.datetime.strptime(ts, TS_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except (TypeError, ValueError):
        t = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return (t + _dt.timedelta(seconds=seconds)).strftime(TS_FORMAT)


def _int(v: Any, default: int) -> int:
    if isinstance(v, bool):
        return default
    try:
        return int(v) if v is not None else default
    except (TypeError, ValueError):
        return default


class GracefulTerminator:
    """What a node's kubelet does when a pod's grace period is over: its containers are stopped and it
    deletes the pod with a grace period of 0, which removes it unless finalizers still hold it. (The pod
    garbage collector does the same for pods on nodes without a kubelet, so every simulated cluster has
    this controller, with or without the simulated kubelet.) Timed by the simulation clock."""

    name = "graceful-termination"

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def reconcile(self) -> bool:
        return self.store.finish_due(self.cluster.clock.now()) > 0
