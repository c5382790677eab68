"""The simulated KAI scheduler's `/metrics`: each queue's GPU fair share, as KAI's scheduler reports it.

Served through the pod proxy on port 8080 of the `kai-scheduler-default` pods in `kai-scheduler`. The
family is KAI's `queue_fair_share_gpu` under the default metrics namespace `kai`, labelled `queue_name`
with the Queue's displayName when set, else its name (NVIDIA/KAI-Scheduler pkg/scheduler/metrics/
metrics.go, pkg/common/constants/constants.go, pkg/scheduler/api/queue_info/queue_info.go). Values come
from the simulated scheduler's own division (`KaiScheduler.fair_share_now`), for the queues KAI divides
among: every queue reached from a top queue (orphans and parent cycles are never reported). CPU and
memory fair shares are not simulated, so their families are left out rather than made up.
"""

from __future__ import annotations

from .cluster import SimCluster
from .errors import ApiError
from .resources import QUEUES
from .scenario_build import KAI_METRICS_PORT, KAI_NS
from .store import Obj

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILY = "kai_queue_fair_share_gpu"
HELP = "GPU Fair share of queue, as a gauge. Values in GPU devices"
SCHEDULER_APPS = ("kai-scheduler-default", "scheduler")


def _go_float(v: float) -> str:
    """Numbers as Go's Prometheus client writes them: 3, 4.5, 0.3333333333333333."""
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class KaiSchedulerMetrics:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    def render(self) -> str:
        sched = self.cluster.extras.get("kai_scheduler")
        lines = [f"# HELP {FAMILY} {HELP}", f"# TYPE {FAMILY} gauge"]
        if sched is None:
            return "\n".join(lines) + "\n"
        tree = sched.state.tree
        fair = sched.fair_share_now()
        labels: list[tuple[str, float]] = []
        for name, spec in tree.specs.items():
            chain = tree.chain(name)
            if tree.specs[chain[-1]].parent:  # an orphan, or in a parent cycle: KAI never divides to it
                continue
            obj = self.cluster.store.try_get(QUEUES, None, name) or {}
            display = (obj.get("spec") or {}).get("displayName")
            labels.append((display if isinstance(display, str) and display else name, fair.get(name, 0.0)))
        for label, v in sorted(labels):
            lines.append(f'{FAMILY}{{queue_name="{_esc(label)}"}} {_go_float(v)}')
        return "\n".join(lines) + "\n"

    def handle(self, pod: Obj, path: str, query: dict[str, str]) -> tuple[str, bytes]:
        md = pod.get("metadata") or {}
        if md.get("namespace") != KAI_NS or (md.get("labels") or {}).get("app") not in SCHEDULER_APPS:
            ip = (pod.get("status") or {}).get("podIP") or "10.0.0.1"
            raise ApiError(503, f"error trying to reach service: dial tcp {ip}:{KAI_METRICS_PORT}: connect: "
                                "connection refused", "ServiceUnavailable")
        if path.strip("/") == "metrics":
            return CONTENT_TYPE, self.render().encode()
        raise ApiError(404, "404 page not found", "NotFound")


def install(cluster: SimCluster) -> KaiSchedulerMetrics:
    m = KaiSchedulerMetrics(cluster)
    cluster.proxies[KAI_METRICS_PORT] = m.handle
    cluster.extras["kai-scheduler-metrics"] = m
    return m
