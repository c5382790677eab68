"""Store writes of the simulated KAI scheduler: counted (so `reconcile()` can say it changed something),
tolerant of races (a write that loses to a delete is dropped), and Events as KAI's recorder writes them.
"""

from __future__ import annotations

import random
from typing import Any

from . import kai_objects as ko
from .cluster import SimCluster
from .errors import ApiError
from .resources import EVENTS, PODS, ResourceType
from .store import Key, Obj, Store

REPEAT_EVENT_S = 30.0  # a repeated FailedScheduling bumps `count` at most this often (sim seconds)


class KaiWriter:
    """Write helpers shared by the scheduler's parts; `_writes` counts store changes this round."""

    cluster: SimCluster
    store: Store
    rng: random.Random
    _writes: int
    _fail_events: dict[Key, tuple[str, str, str, float]]  # reason, message, event name, when

    def _did(self, before: int) -> None:
        if self.store.resource_version != before:
            self._writes += 1

    def _mutate(self, rt: ResourceType, ns: str | None, name: str, fn: Any, subresource: str | None = None) -> bool:
        before = self.store.resource_version
        try:
            self.store.mutate(rt, ns, name, fn, subresource=subresource)
        except ApiError:
            return False
        self._did(before)
        return True

    def _create(self, rt: ResourceType, obj: Obj) -> Obj | None:
        try:
            out = self.store.create(rt, obj)
        except ApiError:
            return None
        self._writes += 1
        return out

    def _delete(self, rt: ResourceType, ns: str | None, name: str) -> None:
        before = self.store.resource_version
        try:
            self.store.delete(rt, ns, name)
        except ApiError:
            return
        self._did(before)  # deleting a pod already terminating changes nothing

    def event(self, obj: Obj, reason: str, message: str, type_: str = "Normal",
              component: str = ko.SCHEDULER, annotations: dict[str, str] | None = None) -> str | None:
        """A core/v1 Event about `obj`, as the scheduler's event recorder writes it."""
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or "default"
        now = self.store.clock()
        meta: Obj = {"name": f"{md.get('name')}.{self.rng.getrandbits(64):016x}", "namespace": ns}
        if annotations:
            meta["annotations"] = dict(annotations)
        ev = {
            "metadata": meta,
            "involvedObject": {"kind": obj.get("kind"), "namespace": md.get("namespace"), "name": md.get("name"),
                               "uid": md.get("uid"), "apiVersion": obj.get("apiVersion"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component}, "reportingComponent": component,
            "reportingInstance": component, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        out = self._create(EVENTS, ev)
        return meta["name"] if out else None

    def _pending_pod(self, key: Key, pod: Obj, reason: str, message: str, now: str, t: float,
                     component: str) -> None:
        """PodScheduled=False/Unschedulable and one FailedScheduling per reason (count++ on repeats)."""
        text = f"{reason}: {message}" if component == ko.SCHEDULER else message
        conds = (pod.get("status") or {}).get("conditions")
        if not ko.same_condition(conds, "PodScheduled", "False", "Unschedulable", text):
            def st(o: Obj) -> None:
                s = o.setdefault("status", {})
                s["conditions"] = ko.set_condition(s.get("conditions"), "PodScheduled", "False", "Unschedulable",
                                                   text, now)
            self._mutate(PODS, key[0], key[1], st, subresource="status")
        last = self._fail_events.get(key)
        if last is not None and last[0] == reason:
            if last[1] == message and t - last[3] < REPEAT_EVENT_S:
                return
            ev_ns, ev_name = key[0], last[2]
            if self.store.try_get(EVENTS, ev_ns, ev_name) is not None:
                def bump(o: Obj) -> None:
                    o["count"] = int(o.get("count") or 1) + 1
                    o["lastTimestamp"] = now
                    o["message"] = text
                self._mutate(EVENTS, ev_ns, ev_name, bump)
                self._fail_events[key] = (reason, message, ev_name, t)
                return
        name = self.event(pod, "FailedScheduling", text, "Warning", component=component)
        if name:
            self._fail_events[key] = (reason, message, name, t)
