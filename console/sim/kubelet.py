"""The simulated kubelet and NVIDIA device plugin of every node.

Bound pods start (status, conditions, IPs, container states); pods with a simulated run time finish so
Jobs complete; `nvidia.com/gpu` requests get physical devices from a per-node map (what kubelet's
PodResources API would report, and what dcgm-exporter attributes metrics by); a GPU reservation pod
patches `run.ai/reserve_for_gpu_index` with its device's UUID, as KAI's reservation image does.
Log lines are generated from the pod's identity and run time, so they are the same on every read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import heapq
import zlib
from typing import Any

from ..model.kai_read import gpu_groups_of
from .cluster import SimCluster
from .errors import ApiError
from .gpus import gpu_uuid
from .resources import NODES, PODS
from .store import DELETED, Change, Key, Obj
from .workloads import EventRecorder, controller_of, set_condition

RUN_SECONDS = "sim.gpuconsole.io/run-seconds"      # the container exits after this much sim time
EXIT_CODE = "sim.gpuconsole.io/exit-code"          # ... with this code (default 0)
RESERVE_ANNOTATION = "run.ai/reserve_for_gpu_index"
RESERVATION_NAMESPACES = ("kai-resource-reservation", "runai-reservation")
RESERVATION_APPS = ("kai-resource-reservation", "runai-reservation")
GPU_GROUP_LABEL = "runai-gpu-group"
GPU_RESOURCE = "nvidia.com/gpu"


def is_reservation_pod(pod: Obj) -> bool:
    md = pod.get("metadata") or {}
    return md.get("namespace") in RESERVATION_NAMESPACES and \
        (md.get("labels") or {}).get("app") in RESERVATION_APPS




def whole_gpus(pod: Obj) -> int:
    """Devices the device plugin must hand out: the pod's `nvidia.com/gpu` (limits, as kubelet counts them)."""
    try:
        from console.model.podspec import gpu_request
        req = gpu_request(pod)
    except ValueError:
        return 0
    return req.count if req.kind == "whole" else 0


def node_gpu_count(node: Obj) -> int:
    st = node.get("status") or {}
    for src in (st.get("capacity") or {}, st.get("allocatable") or {}):
        if GPU_RESOURCE in src:
            try:
                return int(str(src[GPU_RESOURCE]))
            except ValueError:
                pass
    try:
        return int(((node.get("metadata") or {}).get("labels") or {}).get("nvidia.com/gpu.count", 0))
    except ValueError:
        return 0


def _sha(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _qos(pod: Obj) -> str:
    cs = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = bool(cs)
    for c in cs:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Kubelet:
    """Every node's kubelet at once: starts, finishes and tracks devices of the pods bound to nodes."""

    name = "kubelet"

    def __init__(self, cluster: SimCluster, start_delay: float = 0.0) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.start_delay = start_delay
        self.events = EventRecorder(cluster.store, "kubelet")
        self.to_start: dict[Key, float] = {}           # pod → sim time it may start
        self.timers: list[tuple[float, int, Key, str]] = []  # (at, seq, pod, uid): container exits
        self._seq = 0
        self.started: dict[str, float] = {}             # pod uid → sim time its containers started
        self.by_node: dict[str, set[Key]] = {}
        self.groups: dict[str, set[Key]] = {}           # GPU group → shared-GPU pods (not reservations)
        self.devmap: dict[str, list[Key | None]] = {}   # node → holder of each device index
        self.held: dict[Key, tuple[str, list[int]]] = {}
        self._ip_next: dict[str, int] = {}
        self._full = True
        self.store.subscribe(self._on_change)

    # ---------------------------------------------------------------- indexes
    def resync(self) -> None:
        """Rebuild every index from the store at the next round (after a bulk load)."""
        self._full = True

    def _index(self, pod: Obj | None, add: bool) -> None:
        if pod is None:
            return
        md = pod["metadata"]
        key = (md["namespace"], md["name"])
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            s = self.by_node.setdefault(node, set()) if add else self.by_node.get(node)
            if s is not None:
                (s.add if add else s.discard)(key)
        if not is_reservation_pod(pod):
            for g in gpu_groups_of(pod):
                s = self.groups.setdefault(g, set()) if add else self.groups.get(g)
                if s is not None:
                    (s.add if add else s.discard)(key)
                    if not s:
                        self.groups.pop(g, None)

    def _on_change(self, ch: Change) -> None:
        if self._full:
            return
        if ch.rkey == NODES.key:
            if ch.type == DELETED:
                self.devmap.pop(ch.obj["metadata"]["name"], None)
            return
        if ch.rkey != PODS.key:
            return
        md = ch.obj["metadata"]
        key = (md["namespace"], md["name"])
        self._index(ch.old, False)
        if ch.type == DELETED:
            self.to_start.pop(key, None)
            self.started.pop(md.get("uid", ""), None)
            self._release(key)
            return
        self._index(ch.obj, True)
        self._consider(key, ch.obj)

    def _consider(self, key: Key, pod: Obj) -> None:
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            self.to_start.pop(key, None)
            self._release(key)
        elif (pod.get("spec") or {}).get("nodeName") and phase == "Pending" and key not in self.to_start:
            self.to_start[key] = self.cluster.clock.now() + self.start_delay

    def _full_sync(self) -> None:
        self._full = False
        self.by_node.clear()
        self.groups.clear()
        self.devmap.clear()
        self.held.clear()
        self.to_start.clear()
        now = self.cluster.clock.now()
        for pod in self.store.items(PODS):
            md = pod["metadata"]
            self._index(pod, True)
            if (pod.get("status") or {}).get("phase") == "Running":
                self.started.setdefault(md["uid"], now)
                ann = md.get("annotations") or {}
                if RUN_SECONDS in ann:
                    self._arm((md["namespace"], md["name"]), md["uid"], pod)
            else:
                self._consider((md["namespace"], md["name"]), pod)

    # ---------------------------------------------------------------- devices
    def _node_map(self, node: str) -> list[Key | None] | None:
        """The device map of a node, built from the pods already running there on first use."""
        m = self.devmap.get(node)
        if m is not None:
            return m
        nobj = self.store.try_get(NODES, None, node)
        if nobj is None:
            return None
        m = [None] * node_gpu_count(nobj)
        self.devmap[node] = m
        uuids = {gpu_uuid(node, i): i for i in range(len(m))}
        later: list[tuple[Key, int]] = []
        for key in sorted(self.by_node.get(node, ())):
            pod = self.store.try_get(PODS, *key)
            if pod is None or (pod.get("status") or {}).get("phase") != "Running":
                continue
            n = whole_gpus(pod)
            if not n:
                continue
            want = (pod["metadata"].get("annotations") or {}).get(RESERVE_ANNOTATION)
            if want in uuids and m[uuids[want]] is None:
                m[uuids[want]] = key
                self.held[key] = (node, [uuids[want]])
            else:
                later.append((key, n))
        for key, n in later:
            free = [i for i, h in enumerate(m) if h is None][:n]
            for i in free:
                m[i] = key
            self.held[key] = (node, free)
        return m

    def _allocate(self, node: str, key: Key, n: int) -> list[int] | None:
        m = self._node_map(node)
        if m is None:
            return None
        free = [i for i, h in enumerate(m) if h is None]
        if len(free) < n:
            return None
        got = free[:n]
        for i in got:
            m[i] = key
        self.held[key] = (node, got)
        return got

    def _release(self, key: Key) -> None:
        held = self.held.pop(key, None)
        if not held:
            return
        m = self.devmap.get(held[0])
        if m is not None:
            for i in held[1]:
                if i < len(m) and m[i] == key:
                    m[i] = None

    def devices(self, node: str) -> list[tuple[int, str, Key | None]]:
        if self._full:
            self._full_sync()
        m = self._node_map(node) or []
        return [(i, gpu_uuid(node, i), h) for i, h in enumerate(m)]

    def group_members(self, group: str) -> list[Key]:
        if self._full:
            self._full_sync()
        return sorted(self.groups.get(group, ()))

    def started_at(self, pod: Obj) -> float | None:
        return self.started.get(pod["metadata"].get("uid", ""))

    # ---------------------------------------------------------------- reconcile
    def reconcile(self) -> bool:
        if self._full:
            self._full_sync()
        now = self.cluster.clock.now()
        wrote = False
        while self.timers and self.timers[0][0] <= now:
            _, _, key, uid = heapq.heappop(self.timers)
            wrote |= self._finish(key, uid)
        due = sorted(k for k, at in self.to_start.items() if at <= now)
        for key in due:
            self.to_start.pop(key, None)
            wrote |= self._start(key)
        return wrote

    def _arm(self, key: Key, uid: str, pod: Obj) -> None:
        ann = pod["metadata"].get("annotations") or {}
        try:
            run = float(ann[RUN_SECONDS])
        except (KeyError, ValueError):
            return
        self._seq += 1
        heapq.heappush(self.timers, (self.started.get(uid, self.cluster.clock.now()) + max(0.0, run),
                                     self._seq, key, uid))

    def _pod_ip(self, node: Obj) -> str:
        name = node["metadata"]["name"]
        cidr = (node.get("spec") or {}).get("podCIDR") or f"10.{200 + zlib.crc32(name.encode()) % 50}." \
            f"{zlib.crc32(name.encode()) // 50 % 256}.0/24"
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        n = self._ip_next.get(name, 2)
        self._ip_next[name] = 2 if n >= 254 else n + 1
        return f"{base}.{n}"

    @staticmethod
    def _host_ip(node: Obj) -> str:
        for a in (node.get("status") or {}).get("addresses") or ():
            if a.get("type") == "InternalIP":
                return a.get("address", "")
        return ""

    def _start(self, key: Key) -> bool:
        pod = self.store.try_get(PODS, *key)
        if pod is None:
            return False
        spec = pod.get("spec") or {}
        st = pod.get("status") or {}
        node_name = spec.get("nodeName")
        if not node_name or st.get("phase", "Pending") != "Pending" or pod["metadata"].get("deletionTimestamp"):
            return False
        node = self.store.try_get(NODES, None, node_name)
        if node is None:
            return False
        n = whole_gpus(pod)
        got: list[int] = []
        if n:
            alloc = self._allocate(node_name, key, n)
            if alloc is None:
                free = sum(1 for h in (self._node_map(node_name) or []) if h is None)
                msg = (f"Allocate failed due to requested number of devices unavailable for {GPU_RESOURCE}. "
                       f"Requested: {n}, Available: {free}, which is unexpected")
                self._fail_admission(pod, msg)
                return True
            got = alloc
        uid = pod["metadata"]["uid"]
        now = self.cluster.clock.now()
        self.started[uid] = now
        ts = self.store.clock()
        pod_ip = self._pod_ip(node)
        host_ip = self._host_ip(node)

        def run(o: Obj) -> None:
            s = o.setdefault("status", {})
            conds = list(s.get("conditions") or [])
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
                conds = set_condition(conds, t, "True", "", "", ts)
            for c in conds:
                c.pop("reason", None)
                c.pop("message", None)
                c.setdefault("lastProbeTime", None)
            s.update({
                "phase": "Running", "conditions": conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": ts,
                "qosClass": s.get("qosClass") or _qos(o),
                "containerStatuses": [self._running_status(o, c, ts) for c in o["spec"].get("containers") or []],
            })
            if o["spec"].get("initContainers"):
                s["initContainerStatuses"] = [self._done_status(o, c, ts, ts, 0, 0)
                                              for c in o["spec"]["initContainers"]]
            s.pop("reason", None)
            s.pop("message", None)
        self.store.mutate(PODS, key[0], key[1], run, subresource="status")
        if got and is_reservation_pod(pod):
            uuid = gpu_uuid(node_name, got[0])

            def reserve(o: Obj) -> None:
                o["metadata"].setdefault("annotations", {})[RESERVE_ANNOTATION] = uuid
            self.store.mutate(PODS, key[0], key[1], reserve)
        self._arm(key, uid, pod)
        return True

    def _running_status(self, pod: Obj, c: Obj, ts: str, restarts: int = 0, last: Obj | None = None) -> Obj:
        uid = pod["metadata"]["uid"]
        image = c.get("image", "")
        ref = image if "/" in image.split(":")[0] else f"docker.io/library/{image}"
        return {
            "name": c.get("name"), "image": image,
            "imageID": f"{ref.split(':')[0]}@sha256:{_sha('image', image)}",
            "containerID": f"containerd://{_sha(uid, c.get('name', ''), str(restarts))}",
            "ready": True, "started": True, "restartCount": restarts,
            "state": {"running": {"startedAt": ts}}, "lastState": last or {},
        }

    def _done_status(self, pod: Obj, c: Obj, started: str, finished: str, code: int, restarts: int) -> Obj:
        st = self._running_status(pod, c, started, restarts)
        st.update({"ready": False, "started": False,
                   "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                            "startedAt": started, "finishedAt": finished,
                                            "containerID": st["containerID"]}}})
        return st

    def _fail_admission(self, pod: Obj, msg: str) -> None:
        md = pod["metadata"]

        def fail(o: Obj) -> None:
            s = o.setdefault("status", {})
            s.update({"phase": "Failed", "reason": "UnexpectedAdmissionError", "message": f"Pod was rejected: {msg}",
                      "startTime": self.store.clock()})
        self.store.mutate(PODS, md["namespace"], md["name"], fail, subresource="status")
        self.events.record(pod, "UnexpectedAdmissionError", f"Allocate failed: {msg}", "Warning")

    def _finish(self, key: Key, uid: str) -> bool:
        pod = self.store.try_get(PODS, *key)
        if pod is None or pod["metadata"].get("uid") != uid or (pod.get("status") or {}).get("phase") != "Running":
            return False
        ann = pod["metadata"].get("annotations") or {}
        try:
            code = int(ann.get(EXIT_CODE, "0"))
        except ValueError:
            code = 1
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        ts = self.store.clock()
        old = pod.get("status") or {}
        started = old.get("startTime", ts)
        restarts = max([c.get("restartCount", 0) for c in old.get("containerStatuses") or []] or [0])
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            # The container is restarted in place; the pod stays Running.
            def restart(o: Obj) -> None:
                s = o["status"]
                s["containerStatuses"] = [
                    self._running_status(o, c, ts, restarts + 1,
                                         {"terminated": self._done_status(o, c, started, ts, code, restarts)
                                          ["state"]["terminated"]})
                    for c in o["spec"].get("containers") or []]
            self.store.mutate(PODS, key[0], key[1], restart, subresource="status")
            self.started[uid] = self.cluster.clock.now()
            self._arm(key, uid, pod)
            return True

        def done(o: Obj) -> None:
            s = o["status"]
            s["phase"] = "Succeeded" if code == 0 else "Failed"
            conds = list(s.get("conditions") or [])
            for t in ("Ready", "ContainersReady"):
                conds = set_condition(conds, t, "False", "PodCompleted" if code == 0 else "PodFailed", "", ts)
            for c in conds:
                if not c.get("message"):
                    c.pop("message", None)
                c.setdefault("lastProbeTime", None)
            s["conditions"] = conds
            s["containerStatuses"] = [self._done_status(o, c, started, ts, code, restarts)
                                      for c in o["spec"].get("containers") or []]
        self.store.mutate(PODS, key[0], key[1], done, subresource="status")
        self._release(key)
        if pod["metadata"].get("deletionTimestamp"):
            # its containers are done before the grace period is: the kubelet deletes it now
            self.store.delete(PODS, key[0], key[1], grace_period=0)
        return True

    # ---------------------------------------------------------------- logs
    def logs(self, pod: Obj, container: str | None, tail: int | None) -> list[str]:
        """Deterministic log lines for a pod: what its workload would print by now."""
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []] + \
            [c.get("name") for c in spec.get("initContainers") or []]
        if container is None:
            if len(spec.get("containers") or []) > 1:
                raise ApiError(400, f"a container name must be specified for pod {md.get('name')}, choose one of: "
                                    f"[{' '.join(str(n) for n in names)}]", "BadRequest")
            container = names[0] if names else "main"
        elif container not in names:
            raise ApiError(400, f"container {container} is not valid for pod {md.get('name')}", "BadRequest")
        st = pod.get("status") or {}
        if st.get("phase", "Pending") == "Pending":
            raise ApiError(400, f'container "{container}" in pod "{md.get("name")}" is waiting to start: '
                                "ContainerCreating", "BadRequest")
        return log_lines(pod, container, self.started_at(pod), self.cluster.clock.now(), self.cluster.seed, tail)


MAX_LOG_LINES = 2000


def log_lines(pod: Obj, container: str, started: float | None, now: float, seed: int,
              tail: int | None) -> list[str]:
    """The lines a pod's container has printed after running from `started` to `now` (sim seconds).

    Training pods print step/loss lines, inference pods request and throughput lines, reservation and
    exporter pods their start-up lines; each line depends only on the pod, its index and the seed.
    """
    md = pod.get("metadata") or {}
    ann = md.get("annotations") or {}
    uid = md.get("uid", "")
    elapsed = max(0.0, now - (started if started is not None else now))
    try:
        elapsed = min(elapsed, float(ann[RUN_SECONDS]))
    except (KeyError, ValueError):
        pass
    base = _parse_ts((pod.get("status") or {}).get("startTime"))
    labels = md.get("labels") or {}
    kind = owner_kind(pod)
    if is_reservation_pod(pod):
        head = [f"{_ts(base, 0)} resource reservation pod started",
                f"{_ts(base, 1)} reserving GPU {ann.get(RESERVE_ANNOTATION, '<pending>')}"]
        return _tail(head, tail)
    if labels.get("app") == "nvidia-dcgm-exporter":
        head = [f'time="{_ts(base, 0)}" level=info msg="Starting dcgm-exporter"',
                f'time="{_ts(base, 1)}" level=info msg="DCGM successfully initialized!"',
                f'time="{_ts(base, 2)}" level=info msg="Kubernetes metrics collection enabled!"',
                f'time="{_ts(base, 3)}" level=info msg="Starting webserver"',
                f'time="{_ts(base, 3)}" level=info msg="Listening on" address="[::]:9400"']
        return _tail(head, tail)
    if kind == "Job" or labels.get("priorityClassName") in ("train", "build-preemptible"):
        return _tail(_training(md, container, base, elapsed, seed), tail)
    if kind in ("ReplicaSet", "StatefulSet") or labels.get("priorityClassName") == "inference":
        return _tail(_inference(md, container, base, elapsed, seed), tail)
    n = min(MAX_LOG_LINES, int(elapsed // 30) + 1)
    first = int(elapsed // 30) + 1 - n
    return _tail([f"{_ts(base, (first + i) * 30)} {md.get('name')} heartbeat {first + i}" for i in range(n)], tail)


def _ts(base: _dt.datetime, seconds: float) -> str:
    return (base + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tail(lines: list[str], tail: int | None) -> list[str]:
    if tail is not None and tail >= 0:
        return lines[-tail:] if tail else []
    return lines


def _training(md: Obj, container: str, base: _dt.datetime, elapsed: float, seed: int) -> list[str]:
    import math
    import random
    every = 10.0
    count = int(elapsed // every)
    first = max(0, count - MAX_LOG_LINES)
    key = f"{seed}/{md.get('uid')}/{container}"
    rng0 = random.Random(key)
    total_steps = rng0.choice((10_000, 20_000, 50_000, 100_000))
    steps_per_line = rng0.choice((20, 25, 50))
    lr0 = rng0.choice((1e-4, 2e-4, 3e-4, 6e-4))
    tput = rng0.uniform(20_000, 60_000)
    out = [f"{_ts(base, 0)} INFO train.py:88] starting run {md.get('name')}: world_size=auto, "
           f"total_steps={total_steps}"] if first == 0 else []
    for i in range(first + 1, count + 1):
        r = random.Random(f"{key}/{i}")
        step = min(total_steps, i * steps_per_line)
        loss = 0.35 + 2.6 * math.exp(-step / (total_steps / 6)) + r.gauss(0, 0.03)
        lr = lr0 * min(1.0, step / 500) * (0.5 + 0.5 * math.cos(math.pi * step / total_steps))
        out.append(f"{_ts(base, i * every)} INFO train.py:212] step={step}/{total_steps} loss={loss:.4f} "
                   f"lr={lr:.2e} grad_norm={abs(r.gauss(0.9, 0.2)):.3f} tokens/s={tput * r.uniform(0.95, 1.05):.0f}")
    return out


def _inference(md: Obj, container: str, base: _dt.datetime, elapsed: float, seed: int) -> list[str]:
    import random
    every = 5.0
    count = int(elapsed // every)
    first = max(0, count - MAX_LOG_LINES // 2)
    key = f"{seed}/{md.get('uid')}/{container}"
    out = []
    if first == 0:
        out += [f"INFO {_ts(base, 0)} [api_server.py:1024] Starting vLLM API server on http://0.0.0.0:8000",
                f"INFO {_ts(base, 1)} [launcher.py:28] Available routes are: /health, /v1/models, "
                "/v1/completions, /v1/chat/completions"]
    for i in range(first + 1, count + 1):
        r = random.Random(f"{key}/{i}")
        running = r.randint(0, 24)
        out.append(f"INFO {_ts(base, i * every)} [loggers.py:118] Avg prompt throughput: {r.uniform(50, 900):.1f} "
                   f"tokens/s, Avg generation throughput: {r.uniform(100, 1800):.1f} tokens/s, Running: {running} "
                   f"reqs, Waiting: {r.choice((0, 0, 0, 1, 2))} reqs, GPU KV cache usage: {r.uniform(5, 85):.1f}%")
        client = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(2, 254)}:{r.randint(30000, 60000)}"
        code = "200 OK" if r.random() > 0.01 else "503 Service Unavailable"
        out.append(f'INFO:     {client} - "POST /v1/chat/completions HTTP/1.1" {code}')
    return out


def _parse_ts(ts: str | None) -> _dt.datetime:
    try:
        return _dt.datetime.strptime(ts or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def devices(cluster: SimCluster, node: str) -> list[tuple[int, str, Key | None]]:
    """Device index, UUID and the pod holding it (None when free) for one node, as PodResources reports."""
    kubelet: Kubelet | None = cluster.extras.get("kubelet")
    if kubelet is None:
        raise RuntimeError("the kubelet is not installed on this cluster (console.sim.controllers.install)")
    return kubelet.devices(node)


def install(cluster: SimCluster, start_delay: float = 0.0) -> Kubelet:
    k = Kubelet(cluster, start_delay)
    cluster.add(k)
    cluster.extras["kubelet"] = k
    cluster.log_source = k.logs
    return k


def owner_kind(pod: Obj) -> str | None:
    ref = controller_of(pod)
    return ref.get("kind") if ref else None


__all__: list[Any] = ["Kubelet", "devices", "install", "is_reservation_pod", "gpu_groups_of", "whole_gpus"]
