"""The binder half of the simulated KAI scheduler: evictions, binding, BindRequests, GPU reservation pods.

Whole-GPU pods are bound at once. A fractional pod gets a BindRequest and its `runai-gpu-group` label;
each new shared GPU gets a reservation pod, and the pod is bound once every reservation pod of its
groups carries the GPU UUID the device plugin gave it (`run.ai/reserve_for_gpu_index`).
"""

from __future__ import annotations

from console.model.kai_alloc import Eviction, Placement, Unschedulable
from console.model.kai_state import ClusterState, PodRec

from . import kai_objects as ko
from .kai_writer import KaiWriter
from .resources import BINDREQUESTS, NAMESPACES, PODGROUPS, PODS
from .store import Key, Obj


class KaiBinder(KaiWriter):
    """Applies a plan's evictions and placements; owns the binding and reservation bookkeeping."""

    state: ClusterState
    pending: dict[Key, PodRec]
    reasons: dict[str, Unschedulable]
    binding: dict[Key, Placement]
    reservations: dict[str, tuple[str, str, str, str | None]]  # group -> ns, name, node, GPU UUID
    reservation_of: dict[Key, str]
    dirty_pods: dict[Key, None]
    _pipelined: dict[Key, str]

    def _evict(self, evictions: list[Eviction]) -> None:
        """As KAI's evictor: an `Evict` Event on the PodGroup, then per pod `DisruptionTarget=True`
        (`PreemptionByScheduler`) and a delete with default options, so the pod terminates for its grace
        period (pkg/scheduler/cache/evictor/default_evictor.go); owners recreate what they own at once."""
        by_job: dict[tuple[str, str], list[Eviction]] = {}
        for ev in evictions:
            by_job.setdefault((ev.job, ev.by_job), []).append(ev)
        now = self.store.clock()
        for (job, by), evs in by_job.items():
            # The event first: a bare pod's PodGroup is owned by the pod and goes with it.
            ns, pgname = job.split("/", 1)
            pg = self.store.try_get(PODGROUPS, ns, pgname)
            by_ns, by_name = by.split("/", 1)
            if pg is not None:
                self.event(pg, "Evict", f"Pod group {ns}/{pgname} was evicted ({len(evs)} pod(s)) by the "
                           f"{evs[0].action.lower()} action of pod group {by}", "Normal",
                           annotations={"evictor-pod-group-name": by_name, "evictor-pod-group-namespace": by_ns,
                                        "evictor-action-type": evs[0].action, "num-evicted-pods": str(len(evs))})
            for ev in evs:
                ns, name = ev.pod.split("/", 1)
                msg = (f"Evicted by the kai-scheduler {ev.action.lower()} action for pod group {ev.by_job} "
                       f"(queue {ev.by_queue})")

                def mark(o: Obj, m: str = msg) -> None:
                    s = o.setdefault("status", {})
                    s["conditions"] = ko.set_condition(s.get("conditions"), "DisruptionTarget", "True",
                                                       "PreemptionByScheduler", m, now)
                self._mutate(PODS, ns, name, mark, subresource="status")
                self._delete(PODS, ns, name)

    def _pipeline(self, pl: Placement, before: dict[Key, str]) -> None:
        """A pod promised to resources that terminating pods still hold stays Pending, unbound; KAI says
        so with a `Pipelined` Event (pkg/scheduler/framework/statement.go, status_updater), once per node."""
        ns, name = pl.pod.split("/", 1)
        key = (ns, name)
        pod = self.store.try_get(PODS, ns, name)
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            return
        self._pipelined[key] = pl.node
        if before.get(key) != pl.node:
            self.event(pod, "Pipelined", f"Pod {ns}/{name} was pipelined to node {pl.node}")

    def _bind(self, key: Key, node: str, annotations: dict[str, str] | None = None,
              component: str = ko.SCHEDULER) -> None:
        """Set `spec.nodeName` and `PodScheduled=True`, and say so with a `Scheduled` Event."""
        now = self.store.clock()

        def spec_fn(o: Obj) -> None:
            o["spec"]["nodeName"] = node
            if annotations:
                o["metadata"].setdefault("annotations", {}).update(annotations)

        def status_fn(o: Obj) -> None:
            s = o.setdefault("status", {})
            s["conditions"] = ko.set_condition(s.get("conditions"), "PodScheduled", "True", "", "", now)
        if not self._mutate(PODS, key[0], key[1], spec_fn):
            return
        self._mutate(PODS, key[0], key[1], status_fn, subresource="status")
        pod = self.store.try_get(PODS, *key)
        if pod is not None:
            self.event(pod, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node}", component=component)
        self._fail_events.pop(key, None)

    def _apply_placement(self, pl: Placement) -> None:
        """Bind a whole-GPU or CPU pod now; start the BindRequest and reservation dance for a fraction."""
        ns, name = pl.pod.split("/", 1)
        key = (ns, name)
        pod = self.store.try_get(PODS, ns, name)
        self.pending.pop(key, None)
        self.reasons.pop(pl.job, None)
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            self.dirty_pods[key] = None
            return
        rec = self.state.pods.get(pl.pod)
        if rec is None or not rec.req.shared:
            self._bind(key, pl.node)
            return
        self.binding[key] = pl
        br = ko.bind_request(pod, pl.node, pl.groups, pl.portion, rec.req.count)
        if self.store.try_get(BINDREQUESTS, ns, name) is not None:
            self._delete(BINDREQUESTS, ns, name)
        self._create(BINDREQUESTS, br)
        groups = pl.groups

        def label(o: Obj) -> None:
            labels = o["metadata"].setdefault("labels", {})
            for k in [k for k in labels if k == ko.GPU_GROUP_LABEL or k.startswith(ko.GPU_GROUP_LABEL + "/")]:
                del labels[k]
            if len(groups) == 1:
                labels[ko.GPU_GROUP_LABEL] = groups[0]
            else:
                for g in groups:
                    labels[f"{ko.GPU_GROUP_LABEL}/{g}"] = g
        self._mutate(PODS, ns, name, label)
        for gid in groups:
            if gid not in self.reservations:
                self._reserve(gid, pl.node)
        self._bind_ready()

    def _reserve(self, gid: str, node: str) -> None:
        if self.store.try_get(NAMESPACES, None, ko.RESERVATION_NS) is None:
            self._create(NAMESPACES, {"metadata": {"name": ko.RESERVATION_NS}})
        for _ in range(5):
            suffix = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            name = f"gpu-reservation-{node}-{suffix}"
            if self.store.try_get(PODS, ko.RESERVATION_NS, name) is None:
                break
        made = self._create(PODS, ko.reservation_pod(name, node, gid))
        if made is not None:
            self.reservations[gid] = (ko.RESERVATION_NS, name, node, None)
            self.reservation_of[(ko.RESERVATION_NS, name)] = gid

    def _bind_ready(self) -> None:
        """Bind fraction pods whose every GPU group's reservation pod has its GPU."""
        for key, pl in list(self.binding.items()):
            for g in pl.groups:
                if g not in self.reservations and g in self.state.groups:
                    self._reserve(g, pl.node)  # its reservation pod was deleted under it: make another
            if not all(self.reservations.get(g, ("", "", "", None))[3] for g in pl.groups):
                continue
            del self.binding[key]
            ns, name = key
            self._bind(key, pl.node, {ko.RECEIVED_TYPE_ANNOTATION: "Fraction"})

            def done(o: Obj) -> None:
                o.setdefault("status", {})["phase"] = "Succeeded"
            if self.store.try_get(BINDREQUESTS, ns, name) is not None:
                self._mutate(BINDREQUESTS, ns, name, done, subresource="status")
            self.dirty_pods[key] = None

    def _cleanup_reservations(self) -> None:
        """A reservation pod whose group has no pod left (placed or binding) goes."""
        for gid, (ns, name, _node, _gpu) in list(self.reservations.items()):
            if gid in self.state.groups:
                continue
            del self.reservations[gid]
            self._delete(PODS, ns, name)
