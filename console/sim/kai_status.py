"""Queue and PodGroup status as KAI's queue and podgroup controllers write them, only when a value changes.

Queue `allocated` / `allocatedNonPreemptible` / `requested` are summed over the queue's PodGroups and its
child queues (the allocation state keeps those totals along the queue chain); PodGroups get running and
pending counts, `resourcesStatus` and the `UnschedulableOnNodePool` explanation.
"""

from __future__ import annotations

from console.model import kai_alloc
from console.model.kai_alloc import Placement, Unschedulable
from console.model.kai_state import ClusterState, PodRec

from . import kai_objects as ko
from .kai_writer import KaiWriter
from .resources import PODGROUPS, QUEUES
from .store import Key, Obj


class KaiStatus(KaiWriter):
    """Writes Queue and PodGroup status from the allocation state and the last round's reasons."""

    state: ClusterState
    pending: dict[Key, PodRec]
    binding: dict[Key, Placement]
    job_pods: dict[str, dict[Key, None]]
    reasons: dict[str, Unschedulable]
    dirty_jobs: set[str]
    status_dirty: bool

    def _write_status(self) -> None:
        if not self.status_dirty:
            return
        self.status_dirty = False
        self._queue_status()
        jobs, self.dirty_jobs = self.dirty_jobs, set()
        for job in jobs:
            if "\x00" not in job:
                self._podgroup_status(job)

    def _queue_status(self) -> None:
        tree = self.state.tree
        req_gpu: dict[str, float] = {}
        req_cpu: dict[str, float] = {}
        req_mem: dict[str, float] = {}
        req_gmem: dict[str, float] = {}
        for rec in self.pending.values():
            for q in tree.chain(rec.queue):
                req_gpu[q] = req_gpu.get(q, 0.0) + rec.gpus
                req_cpu[q] = req_cpu.get(q, 0.0) + rec.cpu
                req_mem[q] = req_mem.get(q, 0.0) + rec.memory
                if rec.req.kind == "memory":
                    req_gmem[q] = req_gmem.get(q, 0.0) + rec.req.memory_mib * rec.req.count
        st = self.state
        now = self.store.clock()
        for name, spec in tree.specs.items():
            a = st.alloc.get(name, 0.0)
            conds: list[Obj] = []
            if tree.orphan(name):
                conds.append({"type": "Orphan", "status": "True", "reason": "ParentQueueNotFound",
                              "message": f'parent queue "{spec.parent}" does not exist'})
            if spec.quota >= 0 and a > spec.quota + 1e-9:
                conds.append({"type": "OverQuota", "status": "True", "reason": "AllocatedOverQuota",
                              "message": f"allocated {kai_alloc.fmt(a)} GPU over quota {kai_alloc.fmt(spec.quota)}"})
            status: Obj = {
                "allocated": ko.resource_list(a, st.alloc_cpu.get(name, 0.0), st.alloc_mem.get(name, 0.0)),
                "allocatedNonPreemptible": ko.resource_list(st.alloc_np.get(name, 0.0)),
                "requested": ko.resource_list(a + req_gpu.get(name, 0.0),
                                              st.alloc_cpu.get(name, 0.0) + req_cpu.get(name, 0.0),
                                              st.alloc_mem.get(name, 0.0) + req_mem.get(name, 0.0),
                                              req_gmem.get(name, 0.0)),
            }
            kids = tree.children.get(name) or []
            if kids:
                status["childQueues"] = list(kids)
            obj = self.store.try_get(QUEUES, None, name)
            if obj is None:
                continue
            old = obj.get("status") or {}
            old_conds = {c.get("type"): c for c in old.get("conditions") or []}
            for c in conds:
                prev = old_conds.get(c["type"])
                c["lastTransitionTime"] = prev.get("lastTransitionTime", now) if prev and prev.get(
                    "status") == c["status"] else now
            if conds:
                status["conditions"] = conds
            if old != status:
                self._mutate(QUEUES, None, name, lambda o, s=status: o.__setitem__("status", s), subresource="status")

    def _podgroup_status(self, job: str) -> None:
        ns, name = job.split("/", 1)
        pg = self.store.try_get(PODGROUPS, ns, name)
        if pg is None:
            return
        running = pending = 0
        alloc = alloc_np = req = cpu = mem = rcpu = rmem = gmem = 0.0
        for key in self.job_pods.get(job, ()):
            rec = self.state.pods.get(f"{key[0]}/{key[1]}")
            if rec is not None and rec.releasing:
                continue  # being deleted: no longer allocated to its PodGroup
            if rec is not None and key not in self.binding:
                running += 1
                alloc += rec.gpus
                cpu += rec.cpu
                mem += rec.memory
                if not rec.preemptible:
                    alloc_np += rec.gpus
                req += rec.gpus
                rcpu += rec.cpu
                rmem += rec.memory
            else:
                rec = rec or self.pending.get(key)
                if rec is None:
                    continue
                pending += 1
                req += rec.gpus
                rcpu += rec.cpu
                rmem += rec.memory
            if rec.req.kind == "memory":
                gmem += rec.req.memory_mib * rec.req.count
        old = pg.get("status") or {}
        status: Obj = {
            "running": running, "pending": pending,
            "resourcesStatus": {"allocated": ko.resource_list(alloc, cpu, mem),
                                "allocatedNonPreemptible": ko.resource_list(alloc_np),
                                "requested": ko.resource_list(req, rcpu, rmem, gmem)},
        }
        why = self.reasons.get(job)
        if why is not None and pending:
            status["schedulingConditions"] = ko.scheduling_conditions(why.reason, why.message, self.store.clock(),
                                                                      old.get("schedulingConditions"))
        for k, v in old.items():
            if k not in status and k not in ("schedulingConditions", "running", "pending", "resourcesStatus"):
                status[k] = v
        if old != status:
            self._mutate(PODGROUPS, ns, name, lambda o, s=status: o.__setitem__("status", s), subresource="status")
