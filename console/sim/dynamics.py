"""The demo's motion: inference load curves that scale Deployments, training jobs that arrive and finish.

Added only when a scenario is built with `dynamic=True`. Everything is driven by the sim clock and a
seeded generator, so a test that advances the clock sees the same arrivals every run. The scheduler
does the rest: arrivals above a project's quota, or at a higher priority, preempt running work.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .cluster import SimCluster
from .errors import ApiError
from .resources import DEPLOYMENTS, JOBS, NAMESPACES
from .serving_load import load_curve
from .store import Obj

__all__ = ["Dynamics", "install", "load_curve", "load_of", "parse_autoscale"]

AUTOSCALE_ANNOTATION = "sim.gpuconsole.io/autoscale"   # "min-max" replicas, driven by the load curve
DYNAMIC_LABEL = "sim.gpuconsole.io/dynamic"            # workloads the dynamics created (and may delete)
SCALE_EVERY = 10.0
CLEANUP_EVERY = 15.0
MAX_CATCH_UP = 600.0  # after a long pause, only the last ten minutes are replayed


def load_of(cluster: SimCluster, key: tuple[str, str], t: float) -> float:
    """The load of a Deployment (namespace, name) at sim time t; the exporter and the autoscaler agree on it."""
    return load_curve(cluster.seed, key, t)


def parse_autoscale(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    lo, _, hi = str(text).partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        return None
    if a < 0 or b < a:
        return None
    return a, b


_WORDS = ("llama", "mistral", "vit", "whisper", "bert", "resnet", "diffusion", "gpt", "t5", "clip", "sam", "rlhf")


class Dynamics:
    """Time-driven changes: scale inference, submit training jobs, clear finished ones."""

    name = "dynamics"

    def __init__(self, cluster: SimCluster, arrival_every: tuple[float, float] = (6.0, 18.0),
                 max_jobs: int = 24, run_seconds: tuple[int, int] = (60, 480)) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.rng = random.Random(f"{cluster.seed}/dynamics")
        self.arrival_every = arrival_every
        self.max_jobs = max_jobs
        self.run_seconds = run_seconds
        now = cluster.clock.now()
        self.next_scale = now + SCALE_EVERY
        self.next_arrival = now + self.rng.uniform(*arrival_every)
        self.next_cleanup = now + CLEANUP_EVERY
        self.finished_at: dict[tuple[str, str], float] = {}
        self.created: dict[tuple[str, str], float] = {}
        self.arrivals = 0

    def reconcile(self) -> bool:
        now = self.cluster.clock.now()
        wrote = False
        floor = now - MAX_CATCH_UP
        self.next_scale = max(self.next_scale, floor)
        self.next_arrival = max(self.next_arrival, floor)
        self.next_cleanup = max(self.next_cleanup, floor)
        while min(self.next_scale, self.next_arrival, self.next_cleanup) <= now:
            at = min(self.next_scale, self.next_arrival, self.next_cleanup)
            if at == self.next_scale:
                wrote |= self._scale(at)
                self.next_scale += SCALE_EVERY
            elif at == self.next_arrival:
                wrote |= self._arrive(at)
                self.next_arrival += self.rng.uniform(*self.arrival_every)
            else:
                wrote |= self._cleanup(at)
                self.next_cleanup += CLEANUP_EVERY
        return wrote

    # ---------------------------------------------------------------- inference
    def _scale(self, t: float) -> bool:
        wrote = False
        for d in self.store.items(DEPLOYMENTS):
            md = d["metadata"]
            rng = parse_autoscale((md.get("annotations") or {}).get(AUTOSCALE_ANNOTATION))
            if rng is None:
                continue
            lo, hi = rng
            want = lo + round(load_of(self.cluster, (md["namespace"], md["name"]), t) * (hi - lo))
            if (d.get("spec") or {}).get("replicas") == want:
                continue

            def put(o: Obj, n: int = want) -> None:
                o["spec"]["replicas"] = n
            try:
                self.store.mutate(DEPLOYMENTS, md["namespace"], md["name"], put)
                wrote = True
            except ApiError:
                continue
        return wrote

    # ---------------------------------------------------------------- training
    def _projects(self) -> list[tuple[str, str]]:
        """(namespace, queue) of every project namespace (labelled `runai/queue`)."""
        out = []
        for ns in self.store.items(NAMESPACES):
            q = (ns["metadata"].get("labels") or {}).get("runai/queue")
            if q:
                out.append((ns["metadata"]["name"], q))
        return sorted(out)

    def _arrive(self, t: float) -> bool:
        live = [k for k in self.created if self.store.try_get(JOBS, *k) is not None]
        self.created = {k: self.created[k] for k in live}
        if len(live) >= self.max_jobs:
            return False
        projects = self._projects()
        if not projects:
            return False
        ns, queue = self.rng.choice(projects)
        self.arrivals += 1
        from .scenario_build import training_job
        roll = self.rng.random()
        priority = "build" if roll < 0.15 else ("inference" if roll < 0.22 else "train")
        gpus = self.rng.choice((1, 1, 1, 2, 2, 4, 8))
        parallel = self.rng.choice((1, 1, 1, 2, 4)) if gpus >= 2 and priority == "train" else 1
        name = f"{self.rng.choice(_WORDS)}-{'ft' if priority == 'train' else 'eval'}-{self.arrivals:04d}"
        job = training_job(name, ns, queue, gpus=gpus, parallelism=parallel,
                           run_seconds=self.rng.randint(*self.run_seconds), priority=priority)
        job["metadata"]["labels"][DYNAMIC_LABEL] = "true"
        try:
            self.store.create(JOBS, job)
        except ApiError:
            return False
        self.created[(ns, name)] = t
        return True

    def _cleanup(self, t: float) -> bool:
        """Finished dynamic jobs leave after a minute; ones pending for ten minutes are withdrawn."""
        wrote = False
        for key, born in list(self.created.items()):
            job = self.store.try_get(JOBS, *key)
            if job is None:
                self.created.pop(key, None)
                self.finished_at.pop(key, None)
                continue
            st = job.get("status") or {}
            done = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                       for c in st.get("conditions") or ())
            if done:
                first = self.finished_at.setdefault(key, t)
                if t - first >= 60.0:
                    wrote |= self._delete(key)
            elif t - born >= 600.0 and not st.get("active") and not st.get("succeeded"):
                wrote |= self._delete(key)
        return wrote

    def _delete(self, key: tuple[str, str]) -> bool:
        try:
            self.store.delete(JOBS, key[0], key[1], propagation="Background")
        except ApiError:
            return False
        self.created.pop(key, None)
        self.finished_at.pop(key, None)
        return True


def install(cluster: SimCluster, **kw: Any) -> Dynamics:
    from . import serving_load
    serving_load.of(cluster).dynamic = True  # inference load follows each service's curve from now on
    d = Dynamics(cluster, **kw)
    cluster.add(d)
    cluster.extras["dynamics"] = d
    k = cluster.extras.get("kubelet")
    if k is not None and not k.start_delay:
        k.start_delay = 1.5  # containers take a moment to start, so a watcher sees Pending → Running
    return d
