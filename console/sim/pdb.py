"""PodDisruptionBudgets: their status, and whether an eviction may go ahead.

The eviction subresource is how preemption-minded tools (kubectl drain, the console's preempt) remove
pods politely; it must refuse exactly when the real apiserver would, so PDB arithmetic lives here once
and is used both by the eviction handler and by the status controller.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .resources import PDBS, PODS
from .selectors import selector_from_match
from .store import Change, Store

Obj = dict[str, Any]
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@dataclass(frozen=True, slots=True)
class Budget:
    expected: int
    healthy: int
    desired: int

    @property
    def allowed(self) -> int:
        return max(0, self.healthy - self.desired)


def pod_healthy(pod: Obj) -> bool:
    """Running, Ready and not being deleted: what counts toward a budget."""
    st = pod.get("status") or {}
    if st.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def matches(pdb: Obj, pod: Obj) -> bool:
    sel = (pdb.get("spec") or {}).get("selector")
    if sel is None:
        return False  # a nil selector selects nothing; an empty one selects every pod (policy/v1)
    try:
        return selector_from_match(sel).matches((pod.get("metadata") or {}).get("labels"))
    except (ValueError, KeyError, TypeError):
        return False


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = float(value[:-1]) / 100.0
        except ValueError:
            return 0
        x = pct * total
        return math.ceil(x) if round_up else math.floor(x)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def budget(store: Store, pdb: Obj) -> Budget:
    ns = pdb["metadata"].get("namespace")
    pods = [p for p in store.items(PODS, ns) if matches(pdb, p)]
    expected = len(pods)
    healthy = sum(1 for p in pods if pod_healthy(p))
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, round_up=True))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected, round_up=True)
    else:
        desired = 0
    return Budget(expected, healthy, desired)


def status_of(store: Store, pdb: Obj) -> Obj:
    b = budget(store, pdb)
    old = pdb.get("status") or {}
    cond_status = "True" if b.allowed > 0 else "False"
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    cond = {"type": "DisruptionAllowed", "status": cond_status,
            "reason": "SufficientPods" if b.allowed > 0 else "InsufficientPods",
            "message": "", "observedGeneration": pdb["metadata"].get("generation", 1),
            "lastTransitionTime": (prev or {}).get("lastTransitionTime") if prev and prev.get("status") ==
            cond_status else store.clock()}
    return {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": b.allowed,
            "currentHealthy": b.healthy, "desiredHealthy": b.desired, "expectedPods": b.expected,
            "conditions": [cond]}


def check_eviction(store: Store, pod: Obj) -> list[Obj]:
    """The budgets this eviction spends from, or ApiError when it must be refused (429 / 500)."""
    md = pod["metadata"]
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed", "Pending") or md.get("deletionTimestamp"):
        return []  # such pods do not count toward any budget
    pdbs = [p for p in store.items(PDBS, md.get("namespace")) if matches(p, pod)]
    if not pdbs:
        return []
    if len(pdbs) > 1:
        raise ApiError(500, "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                            "does not support.", "InternalError")
    pdb = pdbs[0]
    b = budget(store, pdb)
    if not pod_healthy(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
        if policy == "AlwaysAllow" or b.healthy >= b.desired:
            return []
    elif b.allowed > 0:
        return [pdb]
    name = pdb["metadata"]["name"]
    raise ApiError(429, VIOLATION, "TooManyRequests", {"causes": [{
        "reason": "DisruptionBudget",
        "message": f"The disruption budget {name} needs {b.desired} healthy pods and has {b.healthy} currently"}]})


def spend(store: Store, pdb: Obj, pod_name: str) -> None:
    """Record an eviction on the budget (disruptionsAllowed down by one, the pod in disruptedPods)."""
    def fn(o: Obj) -> None:
        st = o.setdefault("status", {})
        st["disruptionsAllowed"] = max(0, int(st.get("disruptionsAllowed", 1)) - 1)
        st.setdefault("disruptedPods", {})[pod_name] = store.clock()
    store.mutate(PDBS, pdb["metadata"].get("namespace"), pdb["metadata"]["name"], fn, subresource="status")


class PdbStatusController:
    """Keeps every PDB's status current; recomputes only namespaces whose pods or budgets changed."""

    name = "pdb-status"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._dirty: set[str] = set()
        self._all = True
        store.subscribe(self._on_change)

    def _on_change(self, ch: Change) -> None:
        if ch.rkey == PODS.key or (ch.rkey == PDBS.key and ch.type != "MODIFIED"):
            self._dirty.add((ch.obj.get("metadata") or {}).get("namespace", ""))
        elif ch.rkey == PDBS.key and (ch.obj.get("spec") != (ch.old or {}).get("spec")):
            self._dirty.add((ch.obj.get("metadata") or {}).get("namespace", ""))

    def reconcile(self) -> bool:
        if not self._all and not self._dirty:
            return False
        namespaces = None if self._all else set(self._dirty)
        self._all = False
        self._dirty.clear()
        changed = False
        for pdb in list(self.store.items(PDBS)):
            ns = pdb["metadata"].get("namespace")
            if namespaces is not None and ns not in namespaces:
                continue
            new = status_of(self.store, pdb)
            old = pdb.get("status") or {}
            if {k: v for k, v in old.items() if k != "disruptedPods"} != new:
                fresh = copy.deepcopy(pdb)
                fresh["status"] = {**new, **({"disruptedPods": old["disruptedPods"]}
                                             if old.get("disruptedPods") else {})}
                self.store.update(PDBS, fresh, ns, pdb["metadata"]["name"], subresource="status", check_rv=False)
                changed = True
        return changed


def install(cluster: Any) -> PdbStatusController:
    c = cluster.extras.get("pdb_controller")
    if c is None:
        c = PdbStatusController(cluster.store)
        cluster.add(c)
        cluster.extras["pdb_controller"] = c
    return c
