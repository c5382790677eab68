"""A steady stream of pod changes, made inside the simulator, for load tests of the console.

Through the HTTP API one client process tops out at a few hundred writes a second on the simulator;
a busy real cluster makes more than that. `Churn` writes to the store directly, so every change still
goes out to watches exactly as an API write would. Per step it does one of:

- a readiness flip: a running pod goes NotReady (`Ready` and `ContainersReady` False) and is made
  Ready again about a second later (so the cluster stays mostly ready however long it runs);
- a label or an annotation change on a random pod (keys under `sim.gpuconsole.io/`, so no controller
  or view reacts to their meaning);
- a create or a delete of a plain pod in its own namespace (`gpuconsole-churn`, bound to a node, no GPU).

It paces itself on the pod watch events the store actually emits (controllers' reactions included),
so `rate` is what a pod watcher receives. Pods in `exclude` namespaces are never touched: a benchmark
times its own probe changes there. Served at the admin-only `/sim/churn` endpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from typing import Any

from .errors import ApiError
from .resources import NAMESPACES, NODES, PODS
from .store import Change, Obj

NAMESPACE = "gpuconsole-churn"
LABEL = "sim.gpuconsole.io/churn"
ANNOTATION = "sim.gpuconsole.io/churn-note"
# Shares of the operations: readiness flips (each makes two events), labels, annotations, creates, deletes.
MIX = (("status", 0.4), ("label", 0.2), ("annotation", 0.2), ("create", 0.1), ("delete", 0.1))
RESTORE_AFTER_S = 1.0
KEYS_EVERY_S = 5.0   # how often the list of pods to pick from is taken again
TICK_S = 0.01


class Churn:
    """Pod changes at `rate` pod events a second, for `seconds` (None: until `stop()`)."""

    def __init__(self, cluster: Any, rate: float, seconds: float | None = None, *, seed: int = 0,
                 exclude: tuple[str, ...] = (), max_pods: int = 2000) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.cluster = cluster
        self.store = cluster.store
        self.rate = float(rate)
        self.seconds = seconds
        self.rng = random.Random(f"churn/{seed}")
        self.exclude = frozenset(exclude)
        self.max_pods = max_pods
        self.ops: Counter[str] = Counter()
        self.events = 0                     # pod watch events emitted while running
        self.errors = 0
        self.started = 0.0
        self.ended: float | None = None
        self._keys: list[tuple[str, str]] = []
        self._nodes: list[str] = []
        self._keys_at = -1.0
        self._restore: deque[tuple[float, tuple[str, str]]] = deque()
        self._mine: deque[str] = deque()
        self._serial = 0
        self._task: asyncio.Task | None = None
        self._kinds, self._weights = zip(*MIX)

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        self.started = time.monotonic()
        self._ensure_namespace()
        self.store.subscribe(self._heard)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-churn")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._finish()

    def _finish(self) -> None:
        if self.ended is None:
            self.ended = time.monotonic()
            self.store.unsubscribe(self._heard)
            while self._restore:  # leave no pod NotReady behind
                self._ready(self._restore.popleft()[1], True)

    @property
    def running(self) -> bool:
        return self.ended is None and self._task is not None and not self._task.done()

    def state(self) -> dict[str, Any]:
        end = self.ended if self.ended is not None else time.monotonic()
        elapsed = max(1e-9, end - self.started) if self.started else 0.0
        return {"running": self.running, "rate": self.rate, "seconds": self.seconds,
                "elapsedSeconds": round(elapsed, 3), "podEvents": self.events,
                "podEventsPerSecond": round(self.events / elapsed, 1) if elapsed else 0.0,
                "operations": dict(self.ops), "errors": self.errors, "churnPods": len(self._mine),
                "exclude": sorted(self.exclude)}

    # ---------------------------------------------------------------- the loop
    def _heard(self, ch: Change) -> None:
        if ch.rkey == "pods":
            self.events += 1

    async def _run(self) -> None:
        try:
            while self.seconds is None or time.monotonic() - self.started < self.seconds:
                now = time.monotonic()
                while self._restore and self._restore[0][0] <= now:
                    self._ready(self._restore.popleft()[1], True)
                due = self.rate * (now - self.started)
                budget = 5000  # one tick never runs away, however far behind it is
                while self.events < due and budget > 0:
                    self.step()
                    budget -= 1
                await asyncio.sleep(TICK_S)
        finally:
            self._finish()

    def step(self) -> str:
        """One operation (chosen by MIX); returns its name."""
        op = self.rng.choices(self._kinds, self._weights)[0]
        if op == "delete" and not self._mine:
            op = "create"
        if op == "create" and len(self._mine) >= self.max_pods:
            op = "delete"
        try:
            getattr(self, f"_{op}")()
            self.ops[op] += 1
        except ApiError:
            self.errors += 1
        return op

    # ---------------------------------------------------------------- operations
    def _pods(self) -> list[tuple[str, str]]:
        now = time.monotonic()
        if now - self._keys_at > KEYS_EVERY_S:   # a 60,000-pod walk: not on every step (gone ones are skipped)
            self._keys = [(o["metadata"].get("namespace", ""), o["metadata"]["name"])
                          for o in self.store.items(PODS)
                          if o["metadata"].get("namespace") not in self.exclude]
            self._nodes = [o["metadata"]["name"] for o in self.store.items(NODES)]
            self._keys_at = now
        return self._keys

    def _pick(self, running: bool = False) -> tuple[str, str] | None:
        keys = self._pods()
        for _ in range(20):
            if not keys:
                return None
            key = keys[self.rng.randrange(len(keys))]
            obj = self.store.try_get(PODS, key[0], key[1])
            if obj is None:
                continue
            if running and ((obj.get("status") or {}).get("phase") != "Running"
                            or obj["metadata"].get("deletionTimestamp")):
                continue
            return key
        return None

    def _status(self) -> None:
        key = self._pick(running=True)
        if key is None or any(k == key for _, k in self._restore):
            return
        self._ready(key, False)
        self._restore.append((time.monotonic() + RESTORE_AFTER_S, key))

    def _ready(self, key: tuple[str, str], ready: bool) -> None:
        value = "True" if ready else "False"

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            conds = [dict(c) for c in st.get("conditions") or []]
            for c in conds:
                if c.get("type") in ("Ready", "ContainersReady"):
                    c["status"] = value
            st["conditions"] = conds
            st["containerStatuses"] = [{**c, "ready": ready} for c in st.get("containerStatuses") or []]

        if self.store.try_get(PODS, key[0], key[1]) is not None:
            self.store.mutate(PODS, key[0], key[1], fn, subresource="status")

    def _meta(self, field: str, name: str) -> None:
        key = self._pick()
        if key is None:
            return
        self._serial += 1
        value = str(self._serial)

        def fn(o: Obj) -> None:
            o["metadata"].setdefault(field, {})[name] = value

        self.store.mutate(PODS, key[0], key[1], fn)

    def _label(self) -> None:
        self._meta("labels", LABEL)

    def _annotation(self) -> None:
        self._meta("annotations", ANNOTATION)

    def _create(self) -> None:
        self._pods()
        nodes = self._nodes
        self._serial += 1
        name = f"churn-{self._serial:07d}"
        pod: Obj = {"metadata": {"name": name, "namespace": NAMESPACE, "labels": {LABEL: "created"}},
                    "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}
        if nodes:
            pod["spec"]["nodeName"] = nodes[self.rng.randrange(len(nodes))]
        self.store.create(PODS, pod, NAMESPACE)
        self._mine.append(name)

    def _delete(self) -> None:
        name = self._mine.popleft()
        if self.store.try_get(PODS, NAMESPACE, name) is not None:
            self.store.delete(PODS, NAMESPACE, name, grace_period=0)   # gone at once, as with --force

    def _ensure_namespace(self) -> None:
        if self.store.try_get(NAMESPACES, None, NAMESPACE) is None:
            self.store.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        self._mine.extend(o["metadata"]["name"] for o in self.store.items(PODS, NAMESPACE)
                          if o["metadata"]["name"] not in self._mine)


def apply_json(cluster: Any, body: Any) -> dict[str, Any]:
    """`POST /sim/churn`: {"rate": N, "seconds": S, "seed": K, "exclude": [namespaces]} starts (replacing a
    running churn), {"action": "stop"} stops. Raises ApiError 400 for a bad body."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", "BadRequest")
    old: Churn | None = cluster.extras.get("churn")
    if body.get("action") == "stop":
        if old is None:
            raise ApiError(404, "no churn has been started", "NotFound")
        if old._task is not None:
            old._task.cancel()
        old._finish()
        return old.state()
    try:
        rate = float(body.get("rate", 0))
        seconds = None if body.get("seconds") is None else float(body["seconds"])
        seed = int(body.get("seed", 0))
        exclude = tuple(str(x) for x in body.get("exclude") or ())
        if rate <= 0 or rate > 100_000:
            raise ValueError(f"rate must be in (0, 100000], not {rate:g}")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"seconds must be positive, not {seconds:g}")
    except (TypeError, ValueError) as e:
        raise ApiError(400, f"churn: {e}", "BadRequest") from None
    if old is not None and old._task is not None:
        old._task.cancel()
        old._finish()
    churn = Churn(cluster, rate, seconds, seed=seed, exclude=exclude)
    churn.start()
    cluster.extras["churn"] = churn
    return churn.state()
