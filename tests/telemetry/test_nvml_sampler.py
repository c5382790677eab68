"""NvmlSampler against the fake NVML (and the real library, which has no driver on CI machines)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pynvml
import pytest

from console.telemetry.cgroup import PodUidResolver
from console.telemetry.fake_nvml import FakeNvml, demo_scenario, mig_gpu
from console.telemetry.nvml import NvmlSampler
from console.telemetry.sampler import Sampler, Snapshot, state_line

POD_A = "0f6c2a4e-1b9d-4c3e-8a7f-5d2b1e0c9a88"
POD_B = "7d1e9b2c-3a4f-4e5d-9c8b-1a2b3c4d5e6f"


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, tmp_path: Path) -> FakeNvml:
    f = FakeNvml(demo_scenario([POD_A, POD_B]), clock=clock)
    f.write_proc(tmp_path / "proc")
    return f


def sampler(nvml: object, tmp_path: Path, clock: Clock, **kw: object) -> NvmlSampler:
    return NvmlSampler(nvml, node="gpu-node-1", interval_s=0, pod_of_pid=PodUidResolver(tmp_path / "proc"),
                       clock=clock, **kw)


async def test_values_processes_and_pods(fake: FakeNvml, tmp_path: Path, clock: Clock) -> None:
    s = sampler(fake, tmp_path, clock)
    assert isinstance(s, Sampler)
    snap = await s.sample()
    assert snap.error is None and snap.source == "nvml"
    g0, g1 = snap.nodes["gpu-node-1"].gpus
    assert (g0.index, g1.index) == (0, 1) and g0.uuid != g1.uuid and g0.model == "NVIDIA H100 80GB HBM3"
    assert 70 <= g0.util_pct <= 100 and g1.util_pct <= 5
    assert g0.mem_used_mib == 61440 and g0.mem_reserved_mib == 559 and g0.mem_total_mib == 81559
    assert g0.mem_free_mib == 81559 - 559 - 61440
    assert g0.power_limit_w == 700.0 and 70 < g0.power_w <= 700 and g0.power_w > g1.power_w
    assert g0.temp_c > g1.temp_c
    (p,) = g0.procs
    assert (p.pid, p.pod_uid, p.used_mem_mib) == (4242, POD_A, 61440) and p.sm_pct > 50
    host, pod_b = sorted(g1.procs, key=lambda p: p.pid)
    assert host.pod_uid is None and pod_b.pod_uid == POD_B
    assert [r.uid for r in g1.pods] == [POD_B] and g1.pods[0].via == "cgroup"
    assert fake.calls["nvmlInitWithFlags"] == 1
    await s.close()
    assert fake.calls["nvmlShutdown"] == 1


async def test_static_facts_are_cached_and_cadence_is_respected(fake: FakeNvml, tmp_path: Path,
                                                                clock: Clock) -> None:
    s = NvmlSampler(fake, node="n", interval_s=2.0, clock=clock, pod_of_pid=lambda pid: None)
    first = await s.sample()
    assert await s.sample() is first                         # sooner than the interval: same snapshot
    clock.t += 2.0
    second = await s.sample()
    assert second is not first and second.taken_at == clock.t
    assert fake.calls["nvmlDeviceGetUUID"] == 2 and fake.calls["nvmlDeviceGetHandleByIndex"] == 2
    assert fake.calls["nvmlDeviceGetUtilizationRates"] == 4 and fake.calls["nvmlInitWithFlags"] == 1


async def test_not_supported_is_a_missing_value_for_that_gpu_only(fake: FakeNvml, tmp_path: Path,
                                                                  clock: Clock) -> None:
    fake.fail("nvmlDeviceGetPowerUsage", pynvml.NVML_ERROR_NOT_SUPPORTED, device=1)
    fake.fail("nvmlDeviceGetTemperature", pynvml.NVML_ERROR_NO_PERMISSION, device=0)
    g0, g1 = (await sampler(fake, tmp_path, clock).sample()).gpus()
    assert g1.power_w is None and g0.power_w is not None
    assert g0.temp_c is None and g1.temp_c is not None
    assert g0.error is None and g1.error is None and not g0.lost and not g1.lost


async def test_unexpected_errors_are_reported_in_the_data(fake: FakeNvml, tmp_path: Path, clock: Clock) -> None:
    fake.fail("nvmlDeviceGetUtilizationRates", pynvml.NVML_ERROR_UNKNOWN, device=0, times=1)
    s = sampler(fake, tmp_path, clock)
    g0, g1 = (await s.sample()).gpus()
    assert g0.util_pct is None and "Unknown Error" in g0.error and g1.error is None
    clock.t += 1
    g0, _ = (await s.sample()).gpus()
    assert g0.util_pct is not None and g0.error is None      # the next tick is clean again


async def test_gpu_lost_mid_run(fake: FakeNvml, tmp_path: Path, clock: Clock) -> None:
    s = sampler(fake, tmp_path, clock)
    before = await s.sample()
    assert not any(g.lost for g in before.gpus())
    fake.lose(1)
    clock.t += 1
    after = await s.sample()
    g0, g1 = after.gpus()
    assert g1.lost and g1.error == "GPU is lost" and g1.util_pct is None and g1.uuid == before.gpus()[1].uuid
    assert not g0.lost and g0.util_pct is not None
    assert "1 lost" in state_line(after)
    clock.t += 1
    calls = dict(fake.calls)
    again = await s.sample()
    assert again.gpus()[1].lost
    # A lost GPU is not asked again every tick (the driver can take seconds to fail each call).
    assert fake.calls["nvmlDeviceGetTemperature"] == calls["nvmlDeviceGetTemperature"] + 1


@pytest.mark.parametrize("code,why", [
    (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "library not found"),
    (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded"),
    (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "reload"),
])
async def test_no_driver_says_why_and_retries_later(code: int, why: str, tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(demo_scenario(), clock=clock, init_error=code)
    s = sampler(fake, tmp_path, clock, retry_init_s=30.0)
    snap = await s.sample()
    assert snap.error.startswith("NVML unavailable: ") and why in snap.error and snap.nodes == {}
    assert state_line(snap) == snap.error
    fake.init_error = None
    clock.t += 10
    assert (await s.sample()).error == snap.error            # not retried before retry_init_s
    assert fake.calls["nvmlInitWithFlags"] == 1
    clock.t += 30
    assert (await s.sample()).error is None and len((await s.sample()).gpus()) == 2


async def test_real_library_on_this_machine() -> None:
    """With a driver: sample the real GPUs. Without one (CI): the clear unavailable message, no raise."""
    s = NvmlSampler(node="local", interval_s=0)
    snap = await s.sample()
    await s.close()
    if snap.error:
        assert snap.error.startswith("NVML unavailable: ")
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            assert isinstance(e, (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded,
                                  pynvml.NVMLError_LibRmVersionMismatch, pynvml.NVMLError_NoPermission))
        else:
            pynvml.nvmlShutdown()
            pytest.fail(f"NVML works here but the sampler said {snap.error!r}")
    else:
        gpus = snap.gpus()
        assert gpus and all(g.uuid and (g.uuid.startswith("GPU-") or g.uuid.startswith("MIG-")) for g in gpus)
        assert all(g.mem_total_mib and g.mem_total_mib > 0 for g in gpus if not g.lost)


async def test_memory_v1_fallback_on_an_old_driver(tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(demo_scenario([POD_A]), clock=clock, missing_symbols=["nvmlDeviceGetMemoryInfo_v2"])
    s = sampler(fake, tmp_path, clock)
    g0, _ = (await s.sample()).gpus()
    assert g0.mem_reserved_mib is None and g0.mem_used_mib == 61440 + 559    # v1 folds the reserve in
    assert g0.mem_total_mib == 81559 and any("v2" in n for n in s.notes)


async def test_library_mismatch_falls_back_to_v2_process_calls(fake: FakeNvml, tmp_path: Path,
                                                               clock: Clock) -> None:
    fake.missing_symbols = {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3"}
    s = sampler(fake, tmp_path, clock)
    g0, g1 = (await s.sample()).gpus()
    assert [p.pid for p in g0.procs] == [4242] and {p.pid for p in g1.procs} == {1337, 5151}
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses_v2"] == 2
    assert any("_v2" in n for n in s.notes)
    clock.t += 1
    await s.sample()
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses"] == 1   # the unversioned call is not retried


class RecordingFake(FakeNvml):
    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)
        self.stamps: list[int] = []

    def nvmlDeviceGetProcessUtilization(self, handle, timeStamp):
        self.stamps.append(timeStamp)
        return super().nvmlDeviceGetProcessUtilization(handle, timeStamp)


async def test_process_utilisation_passes_the_last_seen_timestamp(tmp_path: Path, clock: Clock) -> None:
    fake = RecordingFake(demo_scenario([POD_A, POD_B]), clock=clock)
    s = NvmlSampler(fake, node="n", interval_s=0, clock=clock, pod_of_pid=lambda pid: None)
    await s.sample()
    assert fake.stamps == [0, 0]
    clock.t += 1.5
    snap = await s.sample()
    assert fake.stamps[2:] == [1_000_000_000, 1_000_000_000]   # each GPU's newest sample from the last tick
    # No newer sample (same instant): NotFound, which means the processes were not active.
    fake.stamps.clear()
    s._last = None
    again = await s.sample()
    assert fake.stamps == [1_001_500_000, 1_001_500_000]
    assert [p.sm_pct for p in again.gpus()[0].procs] == [0.0] and snap.gpus()[0].procs[0].sm_pct > 0


async def test_mig_children_are_sampled_per_instance(tmp_path: Path, clock: Clock) -> None:
    sc = demo_scenario()
    sc.gpus = [mig_gpu(0, 0)]
    fake = FakeNvml(sc, clock=clock)
    parent, *kids = (await sampler(fake, tmp_path, clock).sample()).gpus()
    assert parent.gi_id is None and parent.util_pct is None and parent.temp_c is not None
    assert [k.gi_id for k in kids] == [7, 8, 5] and all(k.parent_uuid == parent.uuid for k in kids)
    assert [k.mig_profile for k in kids] == ["1g.5gb", "1g.5gb", "2g.10gb"]
    assert all(k.uuid.startswith("MIG-") for k in kids)
    busy = kids[1]
    assert busy.mem_used_mib == 4378 and busy.mem_total_mib == 4864 and [p.pid for p in busy.procs] == [7001]
    assert busy.procs[0].gpu_instance_id == 8 and kids[0].procs == ()


async def test_a_hung_driver_call_never_blocks_the_event_loop(fake: FakeNvml, tmp_path: Path,
                                                              clock: Clock) -> None:
    release = threading.Event()
    fake.fail("nvmlDeviceGetTemperature", release.wait, device=1, times=1)
    s = sampler(fake, tmp_path, clock, timeout_s=0.2)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    hb = asyncio.create_task(heartbeat())
    try:
        snap = await s.sample()
        assert snap.error == "NVML sampling timed out after 0.2 s" and ticks > 3
        clock.t += 1
        calls = sum(fake.calls.values())
        stuck = await s.sample()
        assert stuck.error.startswith("NVML call stuck") and sum(fake.calls.values()) == calls
        release.set()
        await s._running                     # the worker thread finishes once the driver answers
        clock.t += 1
        assert (await s.sample()).error is None
    finally:
        hb.cancel()


def test_snapshot_protocol_shape() -> None:
    snap = Snapshot("nvml", 1.0)
    assert snap.gpus() == [] and snap.failing_nodes == [] and "0 GPUs" in state_line(snap)
    assert state_line(None) == "starting"


async def test_demo_sampler_maps_processes_to_the_given_pods(tmp_path: Path) -> None:
    from console.telemetry.fake_nvml import demo_sampler
    s = demo_sampler([POD_A, POD_B], tmp_path / "proc", node="head-node", interval_s=0)
    snap = await s.sample()
    g0, g1 = snap.nodes["head-node"].gpus
    assert [p.uid for p in g0.pods] == [POD_A] and [p.uid for p in g1.pods] == [POD_B]
    assert g0.util_pct > g1.util_pct
    await s.close()


async def test_gpu_is_lost_from_any_call(fake: FakeNvml, tmp_path: Path, clock: Clock) -> None:
    fake.fail("nvmlDeviceGetUtilizationRates", pynvml.NVML_ERROR_GPU_IS_LOST, device=0, times=1)
    g0, g1 = (await sampler(fake, tmp_path, clock).sample()).gpus()
    assert g0.lost and g0.mem_used_mib is None and not g1.lost


# ------------------------------------------------------------------------------------------ health and names
def health_scenario() -> FakeNvml:
    scen = demo_scenario([POD_A, POD_B])
    g0, g1 = scen.gpus
    g0.throttle_mask = pynvml.nvmlClocksThrottleReasonSwThermalSlowdown | pynvml.nvmlClocksThrottleReasonHwSlowdown
    g0.procs[0].name = "/opt/conda/bin/python3.11"
    g1.ecc_uncorrected = 2
    g1.remapped_rows = (5, 3, 1, 0)      # correctable, uncorrectable, pending, failure
    g1.util_pct = g1.util_swing = 0.0    # idle: clocks down, and NVML sets the GpuIdle bit
    return scen


async def test_health_clock_and_process_names(tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(health_scenario(), clock=clock)
    fake.write_proc(tmp_path / "proc")
    s = sampler(fake, tmp_path, clock, xid_events=False)
    g0, g1 = (await s.sample()).gpus()
    assert g0.sm_clock_mhz == 1980 and g1.sm_clock_mhz == 345          # the idle one clocks down
    assert g0.health.throttle == ("hw_slowdown", "sw_thermal") and g0.health.ecc_uncorrected == 0
    assert g0.health.problems() == ["HW slowdown", "thermal"]
    assert g1.health.throttle == () and g1.health.ecc_uncorrected == 2   # idle (GpuIdle bit) is no problem
    assert (g1.health.remapped_rows, g1.health.row_remap_pending, g1.health.row_remap_failed) == (3, True, False)
    assert g1.health.problems() == ["ECC", "remap pending"]
    assert g0.procs[0].name == "python3.11" and {p.name for p in g1.procs} == {"python3"}
    # ECC and row remapping change rarely: read every slow_s (5 s), not every tick.
    calls = fake.calls["nvmlDeviceGetTotalEccErrors"]
    clock.t += 1
    await s.sample()
    assert fake.calls["nvmlDeviceGetTotalEccErrors"] == calls
    clock.t += 5
    await s.sample()
    assert fake.calls["nvmlDeviceGetTotalEccErrors"] == calls + 2


async def test_fields_a_board_lacks_are_missing_not_errors(tmp_path: Path, clock: Clock) -> None:
    scen = health_scenario()
    scen.gpus[1].ecc_uncorrected = None          # a board without ECC: NotSupported
    scen.gpus[1].remapped_rows = None
    scen.gpus[0].unsupported = {"nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons"}
    fake = FakeNvml(scen, clock=clock)
    fake.fail("nvmlSystemGetProcessName", pynvml.NVML_ERROR_NOT_FOUND)   # the process already exited
    g0, g1 = (await sampler(fake, tmp_path, clock, xid_events=False).sample()).gpus()
    assert g0.sm_clock_mhz is None and g0.health.throttle == () and g0.error is None
    assert g1.health.ecc_uncorrected is None and g1.health.row_remap_failed is None and g1.error is None
    assert g1.health.ok and all(p.name is None for p in g0.procs + g1.procs)


async def test_throttle_reasons_on_a_driver_before_clock_events(tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(health_scenario(), clock=clock, missing_symbols=["nvmlDeviceGetCurrentClocksEventReasons"])
    s = sampler(fake, tmp_path, clock, xid_events=False)
    g0, _ = (await s.sample()).gpus()
    assert g0.health.throttle == ("hw_slowdown", "sw_thermal")
    assert fake.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 2
    assert any("throttle" in n for n in s.notes)


async def test_xids_arrive_as_events_on_their_own_thread(tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(health_scenario(), clock=clock)
    fake.fail("nvmlDeviceRegisterEvents", pynvml.NVML_ERROR_NOT_SUPPORTED, device=0)
    fake.xid(1, 31)                               # raised before the console started: seen at registration
    s = sampler(fake, tmp_path, clock, xid_wait_ms=20)
    try:
        first = await s.sample()
        assert s.xids is not None and s.xids.watched == [first.gpus()[1].uuid]   # GPU 0 cannot report XIDs
        assert await asyncio.to_thread(s.xids.wait, 1, 5.0)
        fake.xid(1, 48)
        assert await asyncio.to_thread(s.xids.wait, 2, 5.0)
        clock.t += 1
        g0, g1 = (await s.sample()).gpus()
        assert g0.health.xid is None and g1.last_xid == 48 and g1.health.problems()[0] == "XID 48"
        loop_thread = threading.current_thread()
        assert s.xids._thread is not None and s.xids._thread is not loop_thread
    finally:
        await s.close()
    assert s.xids is None and fake.calls["nvmlEventSetFree"] == 1


@pytest.mark.parametrize("code,why", [
    (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
    (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "shared library not found"),
])
async def test_init_failures_read_as_one_line(code: int, why: str, tmp_path: Path, clock: Clock) -> None:
    fake = FakeNvml(demo_scenario(), clock=clock, init_error=code)
    snap = await sampler(fake, tmp_path, clock).sample()
    assert snap.error.startswith("NVML unavailable: ") and why in snap.error and "\n" not in snap.error
