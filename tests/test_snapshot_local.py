"""`gpuconsole snapshot`: GPU health and device indexes from the demo's exporters, and `--view local`
(this machine's GPUs through NVML, or the demo's fake NVML) run as the real command against the demo
simulator over loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pynvml
import pytest

from console.sim.resources import PODS
from console.snapshot_cmd import take
from console.snapshot_format import render


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The gpuconsole command in a child process (the simulator keeps serving on this loop meanwhile)."""
    full = {k: v for k, v in os.environ.items() if k not in ("GPUCONSOLE_FAKE_NVML", "GPUCONSOLE_FAKE_NVML_NODE")}
    full.update(env or {})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "console.cli", *args, env=full,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


async def test_gpu_health_and_device_indexes(demo) -> None:
    cluster, kubeconfig = demo
    snap = await take(kubeconfig, None, "gpus")
    by_node: dict[str, list[dict]] = {}
    for g in snap["gpus"]:
        by_node.setdefault(g["node"], []).append(g)
    for node, gpus in by_node.items():
        # listed in device order, numbered as the exporter's `gpu` label numbers them
        assert [g["index"] for g in gpus] == list(range(len(gpus))), node
        assert sorted(g["slot"] for g in gpus) == list(range(len(gpus)))
        assert all(g["uuid"].startswith("GPU-") for g in gpus)   # from the exporter where the API has none
    h = {g["index"]: g["health"] for g in by_node["dgx-h100-01"]}
    assert h[2] == {"ok": False, "xid_last": None, "throttle": ["sw_thermal", "hw_thermal"], "ecc_uncorrected": 0,
                    "row_remap_failed": False, "nvlink_errors": None}
    assert (h[6]["ok"], h[6]["xid_last"], h[6]["ecc_uncorrected"]) == (False, 48, 1)
    healthy = [g for g in snap["gpus"] if (g["node"], g["index"]) not in (("dgx-h100-01", 2), ("dgx-h100-01", 6))]
    assert all(g["health"]["ok"] for g in healthy)
    text = render(snap, "table", "gpus")
    assert "HEALTH" in text and "XID 48,ECC 1" in text and "sw_thermal,hw_thermal" in text


async def test_local_view_on_the_demo_fake_maps_processes_to_pods(demo) -> None:
    cluster, kubeconfig = demo
    rc, out, err = await cli("snapshot", "--view", "local", "-o", "json", "--kubeconfig", kubeconfig,
                             env={"GPUCONSOLE_FAKE_NVML": "demo"})
    assert rc == 0, err
    local = orjson.loads(out)["local"]
    assert local["available"] and local["node"] == "dgx-h100-01" and local["reason"] is None
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in cluster.store.items(PODS)
            if p["spec"].get("nodeName") == "dgx-h100-01"}
    procs = [p for g in local["gpus"] for p in g["processes"]]
    assert [g["index"] for g in local["gpus"]] == list(range(8))
    mapped = [p for p in procs if p["pod"]]
    assert mapped and all((p["namespace"], p["pod"]) in pods for p in mapped)
    assert all(p["workload"] for p in mapped) and all(p["used_mib"] > 0 for p in mapped)
    assert [p["pid"] for p in procs if not p["pod"]] == [2101]                    # the one host process
    sick = {g["index"]: g for g in local["gpus"]}
    assert sick[2]["throttle"] == ["sw_thermal", "hw_thermal"] and sick[6]["ecc_uncorrected"] == 1
    rc, table, _ = await cli("snapshot", "--view", "local", "--kubeconfig", kubeconfig,
                             env={"GPUCONSOLE_FAKE_NVML": "demo"})
    assert rc == 0 and table.startswith("host dgx-h100-01  node dgx-h100-01  fake NVML (demo)")
    assert "PROCESSES (" in table and "host process" in table


async def test_local_view_without_a_cluster_still_lists_the_gpus(tmp_path: Path) -> None:
    rc, out, err = await cli("snapshot", "--view", "local", "-o", "json", "--kubeconfig",
                             str(tmp_path / "missing.yaml"), env={"GPUCONSOLE_FAKE_NVML": "demo"})
    assert rc == 0, err
    local = orjson.loads(out)["local"]
    assert local["available"] and len(local["gpus"]) == 2 and local["node"] is None
    assert local["note"].startswith("no cluster (") and "processes are not mapped to pods" in local["note"]
    assert all(p["pod"] is None for g in local["gpus"] for p in g["processes"])


@pytest.mark.skipif(nvml_present(), reason="this machine has a working NVIDIA driver")
async def test_local_view_without_nvml_exits_1_naming_nvml(tmp_path: Path) -> None:
    # no cluster is needed to say so: the kubeconfig does not even exist
    rc, out, err = await cli("snapshot", "--view", "local", "-o", "json", "--kubeconfig", str(tmp_path / "nope"))
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("gpuconsole snapshot: NVML unavailable: ")


async def test_unknown_fake_setting_is_refused() -> None:
    rc, out, err = await cli("snapshot", "--view", "local", env={"GPUCONSOLE_FAKE_NVML": "yes"})
    assert rc == 1 and "GPUCONSOLE_FAKE_NVML='yes': unknown" in err
