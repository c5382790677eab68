"""A simulated dcgm-exporter: the `/metrics` text of one node's GPUs, as the real exporter writes it.

Served through the pod proxy on port 9400 of each `nvidia-dcgm-exporter` pod. Families, HELP texts,
label names and order, and number formats follow real scrapes (realworld/dcgm-exporter). Values follow
the workloads the simulated kubelet placed on each device: training is busy, inference follows its
load curve, pods annotated `run.ai/simulated-gpu-utilization: "lo-hi"` stay in that range, free GPUs
idle; memory follows the holders' fractions; temperature and power follow utilisation. Everything is a
function of the seed, the GPU and the sim clock (the energy counter also of when it was last read).

Health: the last XID, the clock event reasons bitmask, ECC and row remapping, healthy unless a node's
annotations inject a fault (`sim.gpuconsole.io/xid-errors: "3=79"`, `…/clock-events: "5=sw_thermal"`,
`…/ecc-dbe: "2=4"`, `…/row-remap-failure: "2"`; the keys are GPU indexes). The remapping families are in
dcgm-exporter's default counters; the clock event reasons and volatile ECC counts are the ones its
counters files list commented out, published as a deployment that enables them would.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from console.telemetry.health import BY_NAME

from .cluster import SimCluster
from .errors import ApiError
from .gpus import model_name
from .kubelet import devices, gpu_groups_of, is_reservation_pod
from .resources import NODES, PODS
from .store import Obj
from .workloads import HASH_LABEL, controller_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UTIL_ANNOTATION = "run.ai/simulated-gpu-utilization"

# (family, type, HELP) in the order dcgm-exporter's default counters list them.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors."),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors"),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors"),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active (in %)."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active (in %)."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge",
     "Ratio of cycles the device memory interface is active sending or receiving data (in %)."),
)
# Families the exporter prints as floats with six decimals; the rest are integers.
FLOAT_FAMILIES = frozenset({"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                            "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"})


@dataclass(frozen=True, slots=True)
class Model:
    """Electrical and clock facts of a GPU model, as NVML reports them."""

    name: str          # NVML device name (dcgm-exporter's modelName)
    idle_w: float
    max_w: float
    sm_idle: int
    sm_max: int
    mem_clock: int
    mem_clock_idle: int
    hbm: bool


MODELS: dict[str, Model] = {
    "NVIDIA-H100-80GB-HBM3": Model(model_name("NVIDIA-H100-80GB-HBM3"), 72.0, 700.0, 345, 1980, 2619, 2619, True),
    "NVIDIA-A100-SXM4-40GB": Model(model_name("NVIDIA-A100-SXM4-40GB"), 50.0, 400.0, 210, 1410, 1215, 1215, True),
    "NVIDIA-A100-SXM4-80GB": Model(model_name("NVIDIA-A100-SXM4-80GB"), 62.0, 400.0, 210, 1410, 1593, 1593, True),
    "NVIDIA-L40S": Model(model_name("NVIDIA-L40S"), 36.0, 350.0, 210, 2520, 9001, 405, False),
    "Tesla-T4": Model(model_name("Tesla-T4"), 17.0, 70.0, 300, 1590, 5000, 405, False),
}
# PCI bus of each GPU slot on an 8-GPU HGX board.
_BUSES = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")


def model_of(product: str) -> Model:
    return MODELS.get(product) or Model(model_name(product), 30.0, 250.0, 300, 1500, 5000, 405, False)


def pci_bus_id(index: int) -> str:
    bus = _BUSES[index] if index < len(_BUSES) else f"{(0xE0 + index) % 256:02X}"
    return f"00000000:{bus}:00.0"


def smooth(seed: Any, t: float, period: float = 20.0) -> float:
    """A deterministic value in [0, 1] that drifts smoothly with time (cosine between seeded knots)."""
    k = math.floor(t / period)
    a = random.Random(f"{seed}/{k}").random()
    b = random.Random(f"{seed}/{k + 1}").random()
    x = (t / period) - k
    w = (1 - math.cos(math.pi * x)) / 2
    return a + (b - a) * w


def parse_range(text: str | None) -> tuple[float, float] | None:
    """`"10-30"` or `"5"` as a utilisation range in percent; None when absent or malformed."""
    if not text:
        return None
    try:
        parts = [float(p) for p in str(text).split("-", 1)]
    except ValueError:
        return None
    lo, hi = (parts[0], parts[-1])
    lo, hi = max(0.0, min(lo, hi)), min(100.0, max(lo, hi))
    return lo, hi


def workload_role(pod: Obj) -> str:
    """training, inference or interactive: what decides how busy a pod keeps its GPU."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    pc = labels.get("priorityClassName") or (pod.get("spec") or {}).get("priorityClassName") or ""
    ref = controller_of(pod)
    kind = ref.get("kind") if ref else None
    if pc in ("build", "build-preemptible") or labels.get("workloadKind") == "InteractiveWorkload":
        return "interactive"
    if kind == "Job" or pc == "train":
        return "training"
    if kind in ("ReplicaSet", "StatefulSet") or pc == "inference":
        return "inference"
    return "interactive"


def deployment_key(pod: Obj) -> tuple[str, str] | None:
    md = pod.get("metadata") or {}
    ref = controller_of(pod)
    if not ref or ref.get("kind") != "ReplicaSet":
        return None
    h = (md.get("labels") or {}).get(HASH_LABEL)
    name = ref["name"]
    if h and name.endswith("-" + h):
        name = name[: -len(h) - 1]
    return md.get("namespace", ""), name


class Exporter:
    """Renders every node's metrics; remembers only each GPU's energy counter between reads."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self._energy: dict[str, tuple[float, float]] = {}

    # ---------------------------------------------------------------- per-pod behaviour
    def pod_util(self, pod: Obj, t: float) -> float:
        md = pod["metadata"]
        uid = md.get("uid", "")
        rng = parse_range((md.get("annotations") or {}).get(UTIL_ANNOTATION))
        if rng is None:
            role = workload_role(pod)
            if role == "training":
                rng = (80.0, 100.0)
            elif role == "inference":
                from . import serving_load
                pl = serving_load.of(self.cluster).pod((md.get("namespace", ""), md.get("name", "")))
                if pl is not None:  # an autoscaled service: its replicas are as busy as its load makes them
                    load = max(0.05, pl.utilization)
                else:
                    from .dynamics import load_of
                    dk = deployment_key(pod) or (md.get("namespace", ""), md.get("name", ""))
                    load = load_of(self.cluster, dk, t)
                centre = 8.0 + 84.0 * load
                rng = (max(0.0, centre - 6.0), min(100.0, centre + 6.0))
            else:
                rng = (0.0, 3.0)
        lo, hi = rng
        return lo + (hi - lo) * smooth((self.cluster.seed, uid, "util"), t, 15.0)

    def pod_memory(self, pod: Obj, usable: int, t: float) -> float:
        """MiB a pod keeps on its GPU(s): most of what it was given, like a framework's allocator."""
        from console.model.podspec import gpu_request
        md = pod["metadata"]
        try:
            req = gpu_request(pod)
        except ValueError:
            return 0.0
        role = workload_role(pod)
        fill = {"training": 0.78, "inference": 0.9, "interactive": 0.25}[role]
        fill += 0.08 * smooth((self.cluster.seed, md.get("uid"), "mem"), t, 60.0)
        # A shared GPU's memory follows the fractions handed out (as fake-gpu-operator reports fbUsed).
        share = 0.9 + 0.08 * smooth((self.cluster.seed, md.get("uid"), "mem"), t, 60.0)
        if req.kind == "memory":
            return min(float(req.memory_mib), usable) * share
        if req.kind == "fraction":
            return usable * req.portion * share
        return usable * min(fill, 0.98)

    # ---------------------------------------------------------------- one GPU
    def gpu_values(self, node: Obj, index: int, uuid: str, holder: Obj | None, t: float) -> dict[str, float]:
        labels = node["metadata"].get("labels") or {}
        product = labels.get("nvidia.com/gpu.product", "")
        model = model_of(product)
        total = int(labels.get("nvidia.com/gpu.memory", "16384") or 16384)
        reserved = int(256 + total * 0.008)
        usable = total - reserved
        seed = (self.cluster.seed, uuid)
        consumers: list[Obj] = []
        if holder is not None:
            if is_reservation_pod(holder):
                consumers = self._group_pods(holder)
            else:
                consumers = [holder]
        utils = [self.pod_util(p, t) for p in consumers]
        busy = 1.0
        for u in utils:
            busy *= 1.0 - u / 100.0
        util = round(100.0 * (1.0 - busy)) if consumers else 0
        used = min(float(usable), sum(self.pod_memory(p, usable, t) for p in consumers))
        used = round(used)
        ambient = 28.0 + 6.0 * random.Random(f"{seed}/amb").random()
        reasons = _clock_events(node, index)
        if util == 0:
            reasons |= BY_NAME["gpu_idle"][0]
        hot = reasons & (BY_NAME["sw_thermal"][0] | BY_NAME["hw_thermal"][0])
        temp = ambient + 0.46 * util + 1.5 * smooth((*seed, "temp"), t, 30.0)
        if hot:   # held at the slowdown temperature by the throttling itself
            temp = max(temp, 86.0 + 3.0 * smooth((*seed, "hot"), t, 30.0))
        temp = round(temp)
        power = model.idle_w + (model.max_w - model.idle_w) * (util / 100.0) ** 0.9
        power *= 0.97 + 0.06 * smooth((*seed, "pw"), t, 10.0)
        energy = self._energy_at(uuid, model, power, t)
        gr = (util / 100.0) * (0.86 + 0.1 * smooth((*seed, "gr"), t, 15.0))
        role = workload_role(consumers[0]) if consumers else "interactive"
        tensor = gr * {"training": 0.5, "inference": 0.25, "interactive": 0.05}[role]
        dram = gr * (0.3 + 0.25 * smooth((*seed, "dram"), t, 25.0))
        xid = _xid(node, index)
        dbe = _per_gpu(node, "sim.gpuconsole.io/ecc-dbe", index)
        failed = str(index) in _annotation(node, "sim.gpuconsole.io/row-remap-failure").replace(" ", "").split(",")
        sm = model.sm_max if util > 0 else model.sm_idle
        if hot:
            sm = int(sm * 0.7)   # slowed down: the reason it is reported at all
        return {
            "DCGM_FI_DEV_SM_CLOCK": sm,
            "DCGM_FI_DEV_MEM_CLOCK": model.mem_clock if (util > 0 or used > 0) else model.mem_clock_idle,
            "DCGM_FI_DEV_MEMORY_TEMP": (temp + 4) if model.hbm else 0,
            "DCGM_FI_DEV_GPU_TEMP": temp,
            "DCGM_FI_DEV_POWER_USAGE": power,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": energy,
            "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": 0,
            "DCGM_FI_DEV_GPU_UTIL": util,
            "DCGM_FI_DEV_MEM_COPY_UTIL": round(util * (0.25 + 0.3 * smooth((*seed, "mcu"), t, 20.0))),
            "DCGM_FI_DEV_ENC_UTIL": 0,
            "DCGM_FI_DEV_DEC_UTIL": 0,
            "DCGM_FI_DEV_XID_ERRORS": xid,
            "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": reasons,
            "DCGM_FI_DEV_FB_FREE": total - reserved - used,
            "DCGM_FI_DEV_FB_USED": used,
            "DCGM_FI_DEV_FB_RESERVED": reserved,
            "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": 0,
            "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": dbe,
            "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": dbe,   # each uncorrectable error cost a row
            "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": 0,
            "DCGM_FI_DEV_ROW_REMAP_FAILURE": 1 if failed else 0,
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE": gr,
            "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": tensor,
            "DCGM_FI_PROF_DRAM_ACTIVE": dram,
        }

    def _energy_at(self, uuid: str, model: Model, power: float, t: float) -> int:
        last = self._energy.get(uuid)
        if last is None:
            boot_days = 3 + 40 * random.Random(f"{self.cluster.seed}/{uuid}/boot").random()
            last = (t, model.idle_w * 1.8 * boot_days * 86400 * 1000)
        lt, le = last
        e = le + max(0.0, t - lt) * power * 1000.0
        self._energy[uuid] = (max(t, lt), e)
        return int(e)

    def _group_pods(self, reservation: Obj) -> list[Obj]:
        kubelet = self.cluster.extras.get("kubelet")
        out: list[Obj] = []
        if kubelet is None:
            return out
        for g in gpu_groups_of(reservation):
            for key in kubelet.group_members(g):
                p = self.cluster.store.try_get(PODS, *key)
                if p is not None and (p.get("status") or {}).get("phase") == "Running":
                    out.append(p)
        return out

    # ---------------------------------------------------------------- the scrape
    def render(self, exporter_pod: Obj) -> str:
        node_name = (exporter_pod.get("spec") or {}).get("nodeName")
        node = self.cluster.store.try_get(NODES, None, node_name) if node_name else None
        if node is None:
            return ""
        t = self.cluster.clock.now()
        labels = node["metadata"].get("labels") or {}
        model = model_of(labels.get("nvidia.com/gpu.product", ""))
        driver = ".".join(labels.get(f"nvidia.com/cuda.driver.{p}", d)
                          for p, d in (("major", "550"), ("minor", "127"), ("rev", "08")))
        hostname = exporter_pod["metadata"]["name"]
        rows: list[tuple[str, dict[str, float]]] = []
        for index, uuid, holder_key in devices(self.cluster, node_name):
            holder = self.cluster.store.try_get(PODS, *holder_key) if holder_key else None
            who = _holder_labels(holder)
            head = (f'gpu="{index}",UUID="{uuid}",pci_bus_id="{pci_bus_id(index)}",device="nvidia{index}",'
                    f'modelName="{_esc(model.name)}",Hostname="{_esc(hostname)}",'
                    f'DCGM_FI_DRIVER_VERSION="{driver}",container="{_esc(who[0])}",namespace="{_esc(who[1])}",'
                    f'pod="{_esc(who[2])}"')
            rows.append((head, self.gpu_values(node, index, uuid, holder, t)))
        out: list[str] = []
        for fam, typ, help_ in FAMILIES:
            out.append(f"# HELP {fam} {help_}")
            out.append(f"# TYPE {fam} {typ}")
            for head, values in rows:
                v = values[fam]
                text = f"{v:.6f}" if fam in FLOAT_FAMILIES else str(int(v))
                out.append(f"{fam}{{{head}}} {text}")
        return "\n".join(out) + "\n"

    def handle(self, pod: Obj, path: str, query: dict[str, str]) -> tuple[str, bytes]:
        p = path.strip("/")
        if p == "metrics":
            return CONTENT_TYPE, self.render(pod).encode()
        if p == "health":
            return "text/plain; charset=utf-8", b"KO" if self.cluster.store.try_get(
                NODES, None, (pod.get("spec") or {}).get("nodeName") or "") is None else b"OK"
        raise ApiError(404, "404 page not found", "NotFound")


def _holder_labels(holder: Obj | None) -> tuple[str, str, str]:
    if holder is None:
        return "", "", ""
    md = holder["metadata"]
    container = ""
    try:
        from console.model.podspec import gpu_request
        container = gpu_request(holder).container or ""
    except ValueError:
        pass
    if not container:
        cs = (holder.get("spec") or {}).get("containers") or []
        container = cs[0].get("name", "") if cs else ""
    return container, md.get("namespace", ""), md.get("name", "")


def _annotation(node: Obj, key: str) -> str:
    return str((node["metadata"].get("annotations") or {}).get(key) or "")


def _per_gpu(node: Obj, key: str, index: int) -> int:
    """GPU `index`'s integer in a node annotation of the form `"3=79,5=48"`; 0 when absent or unreadable."""
    for part in _annotation(node, key).split(","):
        i, _, x = part.partition("=")
        if i.strip() == str(index):
            try:
                return int(x)
            except ValueError:
                return 0
    return 0


def _xid(node: Obj, index: int) -> int:
    """Last XID per GPU from node annotation `sim.gpuconsole.io/xid-errors: "3=79,5=48"` (fault injection)."""
    return _per_gpu(node, "sim.gpuconsole.io/xid-errors", index)


def _clock_events(node: Obj, index: int) -> int:
    """The clock event bits of `sim.gpuconsole.io/clock-events: "5=sw_thermal+hw_thermal,2=power_cap"`."""
    mask = 0
    for part in _annotation(node, "sim.gpuconsole.io/clock-events").split(","):
        i, _, names = part.partition("=")
        if i.strip() == str(index):
            for n in names.split("+"):
                mask |= BY_NAME.get(n.strip(), (0,))[0]
    return mask


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def install(cluster: SimCluster) -> Exporter:
    ex = Exporter(cluster)
    cluster.proxies[9400] = ex.handle
    cluster.extras["dcgm-exporter"] = ex
    return ex

