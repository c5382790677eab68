"""This machine's GPUs joined to the cluster: processes to pods through cgroup v1 and v2 paths, the host's
node, GPU rows, and the `snapshot --view local` shape. The GPUs come from the fake NVML (pynvml's names,
structs and errors) through the production sampler and the production cgroup reader."""

from __future__ import annotations

from pathlib import Path

import pynvml

from console.model.cluster_store import ClusterStore
from console.model.local_fake import scenario_for_node
from console.model.local_view import HOST_PROCESS, build, host_node
from console.telemetry.cgroup import PodUidResolver
from console.telemetry.fake_nvml import FakeGpu, FakeNvml, FakeProc, LocalScenario, cgroup_text
from console.telemetry.nvml import NvmlSampler
from tests.model.test_views_gpus import load, node, pod

UID_V1 = "0f6c2a4e-1b9d-4c3e-8a7f-5d2b1e0c9a88"
UID_V2 = "7d1e9b2c-3a4f-4e5d-9c8b-1a2b3c4d5e6f"
UID_GONE = "11111111-2222-4333-8444-555555555555"
# cgroup v1 with the cgroupfs driver (one line per controller), as /proc/<pid>/cgroup reads in a pod
V1 = f"12:memory:/kubepods/burstable/pod{UID_V1}/4f1c0e5b9a\n11:cpu,cpuacct:/kubepods/burstable/pod{UID_V1}/4f1c0e5b9a\n"


def with_uid(obj: dict, uid: str, workload: str | None = None) -> dict:
    obj["metadata"]["uid"] = uid
    if workload:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": workload,
                                               "uid": "job-" + uid, "controller": True}]
    return obj


def cluster() -> ClusterStore:
    store = load(("nodes", node("gpu-node-7", count=2)),
                 ("pods", with_uid(pod("train-0", "gpu-node-7", gpus=1), UID_V1, "train")),
                 ("pods", with_uid(pod("notebook", "gpu-node-7", gpus=1, ns="team-b"), UID_V2)),
                 ("nodes", node("other", count=2)))
    store.refresh()
    return store


def scenario() -> LocalScenario:
    return LocalScenario([
        FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-aaaa", 40960, util_pct=90,
                procs=[FakeProc(4242, 30000, 88, V1, name="/usr/bin/python3")]),
        FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-bbbb", 40960, util_pct=3, util_swing=0,
                procs=[FakeProc(5151, 2048, 2, cgroup_text(UID_V2, "besteffort"), name="jupyter-lab"),
                       FakeProc(6000, 100, 0, cgroup_text(UID_GONE)),
                       FakeProc(1337, 512, 0, "0::/user.slice/user-1000.slice/session-4.scope\n")]),
    ])


async def sample(tmp_path: Path, scen: LocalScenario, host: str = "gpu-node-7"):  # type: ignore[no-untyped-def]
    fake = FakeNvml(scen, clock=lambda: 1000.0)
    fake.write_proc(tmp_path / "proc")
    s = NvmlSampler(fake, node=host, interval_s=0, pod_of_pid=PodUidResolver(tmp_path / "proc"), xid_events=False,
                    clock=lambda: 1000.0)
    try:
        return await s.sample()
    finally:
        await s.close()


async def test_processes_map_to_pods_through_cgroup_v1_and_v2(tmp_path: Path) -> None:
    store = cluster()
    snap = await sample(tmp_path, scenario())
    v = build(snap, host="gpu-node-7", store=store, driver="550.127.08", sparks={"GPU-aaaa": (80.0, 90.0)})
    assert v.available and v.node == "gpu-node-7" and v.note is None
    g0, g1 = v.gpus
    (p,) = g0.procs
    assert (p.pid, p.name, p.namespace, p.pod, p.workload, p.used_mib) == \
        (4242, "python3", "team-a", "train-0", "train", 30000)          # cgroup v1, cgroupfs driver
    nb, gone, host = sorted(g1.procs, key=lambda p: {5151: 0, 6000: 1, 1337: 2}[p.pid])
    assert (nb.namespace, nb.pod, nb.workload) == ("team-b", "notebook", "notebook")   # v2, systemd driver
    assert gone.pod is None and gone.pod_uid == UID_GONE and "not in the cluster model" in gone.owner
    assert host.pod_uid is None and host.owner == HOST_PROCESS
    # each local GPU found its row in the cluster model: the one its process's pod holds
    assert g0.row is not None and g0.row[0] == "gpu-node-7"
    assert store.gpus.rows[g0.row].holders[0].pod == "train-0"
    assert store.gpus.rows[g1.row].holders[0].pod == "notebook"
    assert v.by_row[g0.row] is g0 and g0.spark == (80.0, 90.0)


async def test_without_a_cluster_processes_keep_their_uids(tmp_path: Path) -> None:
    snap = await sample(tmp_path, scenario(), host="laptop")
    v = build(snap, host="laptop", note="no cluster connection")
    assert v.available and v.node is None and v.by_row == {} and v.note == "no cluster connection"
    owners = sorted(p.owner for g in v.gpus for p in g.procs)
    assert owners[0] == HOST_PROCESS and all("not in the cluster model" in o for o in owners[1:])


async def test_which_node_this_machine_is(tmp_path: Path) -> None:
    store = cluster()
    snap = await sample(tmp_path, scenario(), host="somewhere")
    assert host_node(store, ["gpu-node-7.cluster.local"], []) == "gpu-node-7"       # the short hostname
    assert host_node(store, ["unknown"], [], [UID_V2]) == "gpu-node-7"                # where its pods run
    assert host_node(store, ["unknown"], ["GPU-zzz"]) is None
    assert host_node(None, ["gpu-node-7"], []) is None
    v = build(snap, host="somewhere", store=store)
    assert v.node == "gpu-node-7"                                                     # found by its pods
    lonely = build(await sample(tmp_path / "x", LocalScenario([FakeGpu("T4", "GPU-x", 15360)]), "laptop"),
                   host="laptop", store=store)
    assert lonely.node is None and "not a node of the connected cluster" in lonely.note


async def test_nvml_failures_become_a_reason(tmp_path: Path) -> None:
    fake = FakeNvml(scenario(), init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    s = NvmlSampler(fake, node="n", interval_s=0, xid_events=False, pod_of_pid=lambda pid: None)
    v = build(await s.sample(), host="n", store=cluster())
    assert not v.available and v.reason == "NVML unavailable: the NVIDIA driver is not loaded" and v.gpus == ()
    assert v.to_dict()["available"] is False and v.to_dict()["gpus"] == []


async def test_snapshot_shape(tmp_path: Path) -> None:
    scen = scenario()
    scen.gpus[0].throttle_mask = pynvml.nvmlClocksThrottleReasonSwPowerCap
    scen.gpus[1].ecc_uncorrected = 1
    d = build(await sample(tmp_path, scen), host="gpu-node-7", store=cluster(), driver="550.127.08").to_dict()
    assert {"available", "reason", "host", "gpus"} <= set(d) and d["available"] and d["driver"] == "550.127.08"
    g0, g1 = d["gpus"]
    assert {"index", "uuid", "name", "util_pct", "mem_used_mib", "mem_total_mib", "temp_c", "power_w",
            "power_limit_w", "throttle", "xid_last", "ecc_uncorrected", "processes"} <= set(g0)
    assert (g0["index"], g0["uuid"], g0["throttle"], g1["ecc_uncorrected"]) == (0, "GPU-aaaa", ["power_cap"], 1)
    assert g0["mem_total_mib"] == 40960 and g0["power_limit_w"] == 700.0
    (p,) = g0["processes"]
    assert {k: p[k] for k in ("pid", "name", "used_mib", "namespace", "pod", "workload")} == \
        {"pid": 4242, "name": "python3", "used_mib": 30000, "namespace": "team-a", "pod": "train-0",
         "workload": "train"}
    assert isinstance(p["util_pct"], float)


def test_the_demo_fake_follows_a_node_of_the_cluster() -> None:
    store = cluster()
    scen = scenario_for_node(store, "gpu-node-7")
    uids = sorted(p.cgroup for g in scen.gpus for p in g.procs if "kubepods" in p.cgroup)
    assert len(scen.gpus) == 2 and len(uids) == 2
    assert any(UID_V1.replace("-", "_") in c for c in uids) and any(UID_V2.replace("-", "_") in c for c in uids)
    assert sum(1 for g in scen.gpus for p in g.procs if "kubepods" not in p.cgroup) == 1   # one host process
