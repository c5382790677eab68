"""The simulated dcgm-exporter: exact text format, labels as real exporters write them, values that follow work."""

from __future__ import annotations

import re

import pytest

from console.sim import scenario_build as b
from console.sim.cluster import SimCluster
from console.sim.exporter import FAMILIES
from console.sim.gpus import gpu_uuid
from console.sim.resources import DAEMONSETS, JOBS, NAMESPACES, PODS
from tests.sim.test_kubelet import bare_pod
from tests.sim.test_workloads import make

LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION", "container",
          "namespace", "pod"]
_SAMPLE = re.compile(r'^([A-Z_]+)\{((?:[A-Za-z_]+="[^"\\]*",)*[A-Za-z_]+="[^"\\]*")\} (\d+(?:\.\d{6})?)$')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict parser: HELP, TYPE, then samples of that family; anything else fails the test."""
    assert text.endswith("\n")
    fams: dict[str, list[tuple[dict[str, str], float]]] = {}
    current = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^# HELP ([A-Z_]+) (.+)$", lines[i])
        assert m, f"line {i + 1}: expected HELP, got {lines[i]!r}"
        current = m.group(1)
        assert re.match(rf"^# TYPE {current} (gauge|counter)$", lines[i + 1]), lines[i + 1]
        fams[current] = []
        i += 2
        while i < len(lines) and not lines[i].startswith("#"):
            s = _SAMPLE.match(lines[i])
            assert s, f"line {i + 1}: bad sample {lines[i]!r}"
            assert s.group(1) == current
            pairs = re.findall(r'([A-Za-z_]+)="([^"]*)"', s.group(2))
            assert [k for k, _ in pairs] == LABELS
            fams[current].append((dict(pairs), float(s.group(3))))
            i += 1
    return fams


# The fixture's workloads, by the GPU each holds (looked up from the scrape: the kubelet picks devices).
ROLES = {"train": "busy", "notebook": "idle", "gpu-reservation-n1-xyz12": "shared", "": "free"}


def by_gpu(fams: dict, family: str) -> dict[str, float]:
    """Values of one family keyed by role: busy, idle, shared, free."""
    return {ROLES[lbl["pod"]]: v for lbl, v in fams[family]}


@pytest.fixture
def cluster() -> SimCluster:
    c = make(nodes=1, gpus=4, binder=False)
    c.store.create(NAMESPACES, b.namespace("gpu-operator"))
    c.store.create(NAMESPACES, b.namespace("kai-resource-reservation"))
    c.store.create(DAEMONSETS, b.exporter_daemonset())
    busy = bare_pod("train", "n1", 1, labels={"priorityClassName": "train"})
    c.store.create(PODS, busy)                                    # GPU 0: training
    idle = bare_pod("notebook", "n1", 1)
    idle["metadata"]["annotations"] = {"run.ai/simulated-gpu-utilization": "0-2"}
    c.store.create(PODS, idle)                                    # GPU 1: allocated, idle
    c.settle()
    res = bare_pod("gpu-reservation-n1-xyz12", "n1", 1, ns="kai-resource-reservation",
                   labels={"app": "kai-resource-reservation", "runai-gpu-group": "grp"})
    res["spec"]["containers"][0]["name"] = "resource-reservation"
    c.store.create(PODS, res)                                     # GPU 2: shared by two halves
    for n in ("half-a", "half-b"):
        p = bare_pod(n, "n1", 0, labels={"runai-gpu-group": "grp"})
        p["metadata"]["annotations"] = {"gpu-fraction": "0.5", "run.ai/simulated-gpu-utilization": "40-60"}
        c.store.create(PODS, p)
    c.settle()                                                    # GPU 3: free
    return c


def scrape(c: SimCluster) -> tuple[str, dict]:
    ex = next(p for p in c.store.items(PODS, "gpu-operator"))
    ctype, body = c.proxies[9400](ex, "metrics", {})
    assert ctype.startswith("text/plain; version=0.0.4")
    return ex["metadata"]["name"], parse(body.decode())


def test_format_families_and_labels(cluster: SimCluster, realworld) -> None:
    host, fams = scrape(cluster)
    assert list(fams) == [f for f, _, _ in FAMILIES]
    for fam, samples in fams.items():
        assert [int(lbl["gpu"]) for lbl, _ in samples] == [0, 1, 2, 3], fam
    for lbl, _ in fams["DCGM_FI_DEV_GPU_UTIL"]:
        i = int(lbl["gpu"])
        assert lbl["UUID"] == gpu_uuid("n1", i) and lbl["device"] == f"nvidia{i}"
        assert re.fullmatch(r"[0-9A-F]{8}:[0-9A-F]{2}:00\.0", lbl["pci_bus_id"])
        assert lbl["Hostname"] == host and host.startswith("nvidia-dcgm-exporter-")
        assert lbl["modelName"] == "NVIDIA H100 80GB HBM3" and lbl["DCGM_FI_DRIVER_VERSION"] == "550.127.08"
    # HELP and TYPE lines are word for word those of a real exporter.
    real = (realworld / "dcgm-exporter" / "empty_mig_disabled.prom").read_text()
    real_meta = {line for line in real.splitlines() if line.startswith("# ")}
    text = cluster.proxies[9400](next(iter(cluster.store.items(PODS, "gpu-operator"))), "/metrics", {})[1].decode()
    ours = [line for line in text.splitlines() if line.startswith("# ") and "FB_RESERVED" not in line]
    assert ours and all(line in real_meta or line in COUNTERS_FILE_META for line in ours), \
        [line for line in ours if line not in real_meta and line not in COUNTERS_FILE_META]
    assert COUNTERS_FILE_META <= set(ours)


# Families the real scrape above lacks: HELP and TYPE as NVIDIA/dcgm-exporter's counters files
# (etc/default-counters.csv, etc/dcp-metrics-included.csv) list them, and the clock event reasons field
# with the description NVIDIA/go-dcgm gives field 112 (pkg/dcgm/const_fields.go).
COUNTERS_FILE_META = {
    "# HELP DCGM_FI_DEV_ECC_SBE_VOL_TOTAL Total number of single-bit volatile ECC errors.",
    "# TYPE DCGM_FI_DEV_ECC_SBE_VOL_TOTAL counter",
    "# HELP DCGM_FI_DEV_ECC_DBE_VOL_TOTAL Total number of double-bit volatile ECC errors.",
    "# TYPE DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter",
    "# HELP DCGM_FI_DEV_CLOCKS_EVENT_REASONS Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*).",
    "# TYPE DCGM_FI_DEV_CLOCKS_EVENT_REASONS gauge",
}


def test_holders_are_labelled_like_real_exporters(cluster: SimCluster) -> None:
    _, fams = scrape(cluster)
    who = sorted((lbl["container"], lbl["namespace"], lbl["pod"]) for lbl, _ in fams["DCGM_FI_DEV_FB_USED"])
    assert who == [("", "", ""), ("main", "team", "notebook"), ("main", "team", "train"),
                   ("resource-reservation", "kai-resource-reservation", "gpu-reservation-n1-xyz12")]
    gpu_of = {lbl["pod"]: lbl["UUID"] for lbl, _ in fams["DCGM_FI_DEV_FB_USED"]}
    res = cluster.store.get(PODS, "kai-resource-reservation", "gpu-reservation-n1-xyz12")
    assert res["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"] == gpu_of["gpu-reservation-n1-xyz12"]


def test_values_follow_the_workloads(cluster: SimCluster) -> None:
    _, fams = scrape(cluster)
    util = by_gpu(fams, "DCGM_FI_DEV_GPU_UTIL")
    assert 80 <= util["busy"] <= 100
    assert util["idle"] <= 2
    assert 55 <= util["shared"] <= 90          # two pods at 40–60 % each keep the GPU busier than either
    assert util["free"] == 0
    used, free, reserved = (by_gpu(fams, f) for f in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                                                        "DCGM_FI_DEV_FB_RESERVED"))
    assert all(used[r] + free[r] + reserved[r] == 81559 for r in used)
    usable = 81559 - reserved["shared"]
    assert 0.8 * usable <= used["shared"] <= usable          # two halves, each filling most of its share
    assert used["free"] == 0 and used["busy"] > 0.7 * usable
    temp, power = by_gpu(fams, "DCGM_FI_DEV_GPU_TEMP"), by_gpu(fams, "DCGM_FI_DEV_POWER_USAGE")
    assert temp["busy"] > temp["free"] + 20 and power["busy"] > power["free"] * 4
    assert power["idle"] < power["shared"] < power["busy"]
    assert by_gpu(fams, "DCGM_FI_DEV_SM_CLOCK")["free"] < by_gpu(fams, "DCGM_FI_DEV_SM_CLOCK")["busy"]
    assert 0.7 < by_gpu(fams, "DCGM_FI_PROF_GR_ENGINE_ACTIVE")["busy"] <= 1.0


def test_values_move_with_the_clock_and_repeat_with_the_seed(cluster: SimCluster) -> None:
    _, a = scrape(cluster)
    cluster.clock.advance(45)
    _, b2 = scrape(cluster)
    assert by_gpu(a, "DCGM_FI_DEV_GPU_UTIL") != by_gpu(b2, "DCGM_FI_DEV_GPU_UTIL") or \
        by_gpu(a, "DCGM_FI_DEV_POWER_USAGE") != by_gpu(b2, "DCGM_FI_DEV_POWER_USAGE")
    e1, e2 = by_gpu(a, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"), by_gpu(b2, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    assert all(e2[r] > e1[r] for r in e1)
    assert e2["busy"] - e1["busy"] > 3 * (e2["free"] - e1["free"])    # the busy GPU drew more energy
    again = cluster.proxies[9400]
    ex = next(p for p in cluster.store.items(PODS, "gpu-operator"))
    assert parse(again(ex, "metrics", {})[1].decode())["DCGM_FI_DEV_GPU_UTIL"] == b2["DCGM_FI_DEV_GPU_UTIL"]


def test_job_pods_count_as_training(cluster: SimCluster) -> None:
    cluster.store.create(JOBS, b.training_job("ft", "team", "team", gpus=1))
    pod = next(p for p in cluster.store.items(PODS, "team") if p["metadata"]["name"] == "half-a")
    cluster.store.delete(PODS, "team", pod["metadata"]["name"])
    ex = next(p for p in cluster.store.items(PODS, "gpu-operator"))
    cluster.settle()
    for p in list(cluster.store.items(PODS, "team")):
        if not p["spec"].get("nodeName"):
            def bind(o: dict) -> None:
                o["spec"]["nodeName"] = "n1"
            cluster.store.mutate(PODS, "team", p["metadata"]["name"], bind)
    cluster.settle()
    fams = parse(cluster.proxies[9400](ex, "metrics", {})[1].decode())
    util = {lbl["pod"]: v for lbl, v in fams["DCGM_FI_DEV_GPU_UTIL"]}
    (ft,) = [v for k, v in util.items() if k.startswith("ft-")]
    assert ft >= 80


def test_unknown_path_is_404(cluster: SimCluster) -> None:
    from console.sim.errors import ApiError
    ex = next(p for p in cluster.store.items(PODS, "gpu-operator"))
    with pytest.raises(ApiError) as e:
        cluster.proxies[9400](ex, "nope", {})
    assert e.value.code == 404
