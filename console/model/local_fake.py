"""The demo's stand-in for NVML: a fake NVML whose GPUs and processes are those of one node of the cluster.

With `GPUCONSOLE_FAKE_NVML=demo` the console samples `FakeNvml` (pynvml's real names, structs and
errors) through the production sampler, and the fake's GPUs follow one cluster node: device indexes,
UUIDs, model, utilisation, memory, temperature, power and health from that node's dcgm-exporter scrape
when there is one (else from the model's GPU rows), and one process per pod holding each GPU, in a
cgroup named after the pod's UID as the kubelet's systemd driver names it. So the join from process
to pod runs exactly as on a real node, and what the Local pane shows agrees with the GPUs pane. One
process outside any pod (a user's session) shows the `host process` case.
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from console.telemetry.fake_nvml import FakeGpu, FakeProc, LocalScenario, cgroup_text
from console.telemetry.health import BY_NAME, GpuHealth
from console.telemetry.sampler import GpuSample, NodeGpus, Snapshot

from .telemetry_view import match_rows, uid_index

if TYPE_CHECKING:
    from .cluster_store import ClusterStore
    from .views_gpus import GpuRow

HOST_PID = 2101
HOST_CGROUP = "0::/user.slice/user-1000.slice/session-4.scope\n"   # an SSH session on the node, not a pod
_NS = uuidlib.UUID("2c8e3f1a-7b4d-4e6a-9f0c-5d1e8a7b3c21")


def pick_node(store: ClusterStore, wanted: str | None = None) -> str | None:
    """`wanted` when the model has it; else the first GPU node (by name) whose GPUs are held by pods."""
    if wanted:
        return wanted if wanted in store.nodes else None
    held = {r.node for r in store.gpus.rows.values() if r.holders}
    return next((n for n in sorted(store.nodes) if n in held), None)


def _pid(uid: str, slot: int) -> int:
    h = int.from_bytes(hashlib.sha1(f"{uid}/{slot}".encode()).digest()[:4], "big")
    return 3000 + h % 60000


def _mask(h: GpuHealth | None) -> int:
    mask = 0
    for name in (h.throttle if h is not None else ()):
        mask |= BY_NAME.get(name, (0,))[0]
    return mask


def scenario_for_node(store: ClusterStore, node: str, samples: Sequence[GpuSample] = ()) -> LocalScenario:
    """The fake NVML's GPUs for `node`: one per model GPU row, values from `samples` (its dcgm scrape)."""
    rows = {k: r for k, r in store.gpus.rows.items() if r.node == node}
    rec = store.nodes.get(node)
    matched: dict[tuple[str, int], GpuSample] = {}
    if samples:
        snap = Snapshot("dcgm-exporter", 0.0, {node: NodeGpus(node, tuple(samples))})
        matched = match_rows(snap, rows, uid_index(store))
    total_default = (rec.gpu_memory_mib if rec else None) or 81559
    product = ((rec.gpu_product if rec else None) or "NVIDIA GPU").replace("-", " ")
    gpus: list[tuple[int, FakeGpu]] = []
    used_indexes = {s.index for s in matched.values() if s.index is not None}
    spare = iter(i for i in range(len(rows) + len(used_indexes) + 1) if i not in used_indexes)
    for key in sorted(rows):
        r: GpuRow = rows[key]
        s = matched.get(key)
        index = s.index if s is not None and s.index is not None else (r.index if r.index is not None else next(spare))
        uuid = (s.uuid if s is not None else None) or r.uuid or "GPU-" + str(uuidlib.uuid5(_NS, f"{node}/{index}"))
        total = int(s.mem_total_mib) if s is not None and s.mem_total_mib else total_default
        reserved = int(s.mem_reserved_mib) if s is not None and s.mem_reserved_mib is not None else 0
        util = s.util_pct if s is not None and s.util_pct is not None else (80.0 if r.holders else 0.0)
        used = s.mem_used_mib if s is not None and s.mem_used_mib is not None else \
            sum(h.share or 0.0 for h in r.holders) * (total - reserved) * 0.9
        procs: list[FakeProc] = []
        shares = [(h, store.pods.get((h.namespace, h.pod))) for h in r.holders]
        shares = [(h, p) for h, p in shares if p is not None and p.uid]
        weight = sum(h.share or 1.0 for h, _ in shares) or 1.0
        for h, p in shares:
            part = (h.share or 1.0) / weight
            procs.append(FakeProc(_pid(p.uid, r.slot), round(used * part, 1), round(util * part, 1),
                                  cgroup_text(p.uid), name="/usr/bin/python3"))
        h = s.health if s is not None else None
        temp = s.temp_c if s is not None and s.temp_c is not None else 32.0 + 0.45 * util
        clock = int(s.sm_clock_mhz) if s is not None and s.sm_clock_mhz else None
        g = FakeGpu(
            (s.model if s is not None and s.model else product), uuid, total, util_pct=util, util_swing=1.0,
            **({"sm_clock_mhz": clock, "sm_idle_mhz": clock} if clock else {}),
            temp_c=temp - 0.45 * util, power_limit_w=700.0, idle_w=70.0, reserved_mib=reserved, procs=procs,
            throttle_mask=_mask(h), ecc_uncorrected=(h.ecc_uncorrected if h and h.ecc_uncorrected else 0),
            remapped_rows=(0, (h.remapped_rows or 0) if h else 0, int(bool(h and h.row_remap_pending)),
                           int(bool(h and h.row_remap_failed))))
        gpus.append((index, g))
    gpus.sort(key=lambda ig: ig[0])
    out = [g for _, g in gpus]
    if out:
        host = next((g for g in out if not g.procs), out[-1])
        host.procs.append(FakeProc(HOST_PID, 512.0, 0.0, HOST_CGROUP, name="/usr/bin/python3"))
    return LocalScenario(out)
