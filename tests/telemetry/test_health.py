"""GPU health families: the throttle table against pynvml, and real dcgm-exporter text parsed into health."""

from __future__ import annotations

from pathlib import Path

import pynvml
import pytest

from console.telemetry import health
from console.telemetry.dcgm_parse import parse, to_sample
from console.telemetry.health import THROTTLE_BITS, GpuHealth, decode_throttle, from_exporter, merge

# NVML's own names for each bit, in both spellings (clock "event" reasons since R535).
NVML_NAMES = {
    0x0001: "GpuIdle", 0x0002: "ApplicationsClocksSetting", 0x0004: "SwPowerCap", 0x0008: "HwSlowdown",
    0x0010: "SyncBoost", 0x0020: "SwThermalSlowdown", 0x0040: "HwThermalSlowdown",
    0x0080: "HwPowerBrakeSlowdown", 0x0100: "DisplayClockSetting", 0x0200: "BoardLimit", 0x0400: "Reliability",
}


def test_throttle_bits_are_nvmls_constants() -> None:
    assert set(THROTTLE_BITS) == set(NVML_NAMES)
    for bit, name in NVML_NAMES.items():
        assert getattr(pynvml, f"nvmlClocksThrottleReason{name}") == bit, name
        if hasattr(pynvml, f"nvmlClocksEventReason{name}"):   # the newer spelling lacks the last two
            assert getattr(pynvml, f"nvmlClocksEventReason{name}") == bit, name


def test_decode_keeps_only_what_slows_a_loaded_gpu() -> None:
    assert decode_throttle(None) == () and decode_throttle(0) == ()
    assert decode_throttle(pynvml.nvmlClocksThrottleReasonGpuIdle) == ()            # idle: not a problem
    assert decode_throttle(0x60) == ("sw_thermal", "hw_thermal")                     # 96, as in the PR below
    assert decode_throttle(0x4 | 0x1 | 0x10000) == ("power_cap",)                    # unknown bits ignored
    h = GpuHealth(throttle=decode_throttle(0x60), xid_last=48, ecc_uncorrected=2, row_remap_failed=True,
                  reported=True)
    assert h.problems() == ["XID 48", "row remap failed", "ECC", "thermal", "HW thermal"] and not h.ok
    assert h.to_dict() == {"ok": False, "xid_last": 48, "throttle": ["sw_thermal", "hw_thermal"],
                           "ecc_uncorrected": 2, "row_remap_failed": True, "nvlink_errors": None}
    assert GpuHealth(reported=True).ok and GpuHealth(xid_last=None, ecc_uncorrected=0).problems() == []


def test_real_scrapes_report_healthy_gpus(realworld: Path) -> None:
    # realworld/dcgm-exporter/*.prom: scrapes taken unchanged from run-ai/fake-gpu-operator's samples of
    # real clusters (see ../shared/realworld/README.md). They carry the default counters' health
    # families: the last XID, and where the GPU remaps rows (the A100 not in MIG mode; not the T4s, nor
    # MIG instances) row remap failure and the remapped row counts.
    seen, remap = 0, 0
    for f in sorted((realworld / "dcgm-exporter").glob("*.prom")):
        for g in parse(f.read_text()).gpus.values():
            s = to_sample(g, "n")
            assert s.health is not None and s.health.reported, f.name
            assert s.health.xid is None and s.health.ok and s.health.problems() == []
            if health.ROW_REMAP_FAILURE in g.values:
                assert s.health.row_remap_failed is False and s.health.remapped_rows == 0
                remap += 1
            else:
                assert s.health.row_remap_failed is None
            seen += 1
    assert seen >= 5 and remap >= 1


def test_old_throttle_name_on_mig_instances() -> None:
    # dcgm-exporter's own output, quoted by a maintainer in NVIDIA/dcgm-exporter#317 (A30 in MIG mode,
    # driver 535.129.03): the field under its pre-3.3 name, and an empty HELP text.
    text = (
        "# HELP DCGM_FI_DEV_CLOCK_THROTTLE_REASONS\n"
        "# TYPE DCGM_FI_DEV_CLOCK_THROTTLE_REASONS gauge\n"
        'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-886520a3-f4c4-4d1c-b5cc-655ca8b02758",'
        'device="nvidia0",modelName="NVIDIA A30",GPU_I_PROFILE="1g.6gb",GPU_I_ID="3",'
        'Hostname="hldy-data-k8s-gpu-a30-node0110.mt"} 1\n'
        'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-886520a3-f4c4-4d1c-b5cc-655ca8b02758",'
        'device="nvidia0",modelName="NVIDIA A30",GPU_I_PROFILE="1g.6gb",GPU_I_ID="4",'
        'Hostname="hldy-data-k8s-gpu-a30-node0110.mt"} 97\n')
    p = parse(text)
    assert p.bad_lines == 0 and len(p.gpus) == 2
    by_gi = {g.gi_id: to_sample(g, "n").health for g in p.gpus.values()}
    assert by_gi[3].throttle == () and by_gi[3].ok                  # 1 = idle
    assert by_gi[4].throttle == ("sw_thermal", "hw_thermal")        # 97 = idle + both thermal bits
    assert merge(by_gi.values()).throttle == ("sw_thermal", "hw_thermal")


def test_exporter_clock_event_counts() -> None:
    # DCGM_EXP_CLOCK_EVENTS_COUNT as NVIDIA/dcgm-exporter#261 shows it (a T400 after a thermal event):
    # one sample per reason seen in the window, told apart by the `clock_event` label.
    head = ('gpu="0",UUID="GPU-b9f9e81b-bee7-34bc-af17-132ef6592740",device="nvidia0",modelName="NVIDIA T400 4GB",'
            'Hostname="home",DCGM_FI_DRIVER_VERSION="545.29.02"')
    text = (
        "# TYPE DCGM_EXP_CLOCK_EVENTS_COUNT gauge\n"
        f'DCGM_EXP_CLOCK_EVENTS_COUNT{{{head},clock_event="gpu_idle",window_size_in_ms="300000"}} 2\n'
        f'DCGM_EXP_CLOCK_EVENTS_COUNT{{{head},clock_event="sw_thermal",window_size_in_ms="300000"}} 1\n'
        f'DCGM_EXP_CLOCK_EVENTS_COUNT{{{head},clock_event="hw_thermal",window_size_in_ms="300000"}} 1\n'
        f'DCGM_FI_DEV_XID_ERRORS{{{head}}} 0\n')
    (g,) = parse(text).gpus.values()
    h = to_sample(g, "n").health
    assert g.labeled[health.CLOCK_EVENTS_COUNT] == {"gpu_idle": 2.0, "sw_thermal": 1.0, "hw_thermal": 1.0}
    assert h.throttle == ("sw_thermal", "hw_thermal") and h.problems() == ["thermal", "HW thermal"]


def test_xid_with_its_message_labels_and_the_window_counts() -> None:
    # Current exporters add `err_code` and `err_msg` to DCGM_FI_DEV_XID_ERRORS (gpu_collector.go,
    # NVIDIA/dcgm-exporter#309; the message text from its xid_errors.go table), and DCGM_EXP_XID_ERRORS_COUNT
    # counts XIDs in a window with an `xid` label (xid_collector.go; window label from collector/const.go).
    # Labels in the order of rendermetrics/render_metrics.go's template.
    head = ('gpu="3",UUID="GPU-5f587dd4-6505-0873-c6db-8324dbfe5ba9",pci_bus_id="00000000:5D:00.0",'
            'device="nvidia3",modelName="NVIDIA H100 80GB HBM3",hostname="dgx-17"')
    text = (
        f'DCGM_FI_DEV_XID_ERRORS{{{head},err_code="45",err_msg="Preemptive cleanup, due to previous errors '
        f'-- Most likely to see when running multiple cuda"}} 45\n'
        f'DCGM_EXP_XID_ERRORS_COUNT{{{head},window_size_in_ms="300000",xid="45"}} 1\n'
        f'DCGM_EXP_XID_ERRORS_COUNT{{{head},window_size_in_ms="300000",xid="13"}} 0\n'
        f'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{{{head}}} 2\n'
        f'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL{{{head}}} 1\n'
        f'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL{{{head}}} 4\n')
    p = parse(text)
    (g,) = p.gpus.values()
    s = to_sample(g, "n")
    assert p.bad_lines == 0 and s.index == 3 and s.last_xid == 45
    assert s.health.xid_recent == (45,) and s.health.xid == 45
    assert s.health.problems() == ["XID 45", "ECC", "NVLink"]
    assert s.health.to_dict()["nvlink_errors"] == 5 and s.health.ecc_uncorrected == 2


def test_no_health_family_means_nothing_said() -> None:
    text = 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 5\n'
    (g,) = parse(text).gpus.values()
    assert to_sample(g, "n").health is None
    assert from_exporter({}, {}) is None and merge([None, None]) is None


@pytest.mark.parametrize("old", [True, False])
def test_either_name_of_the_clock_event_reasons_field(old: bool) -> None:
    name = health.CLOCK_REASONS[1 if old else 0]
    (g,) = parse(f'{name}{{gpu="0",UUID="GPU-a"}} 4\n').gpus.values()
    assert to_sample(g, "n").health.throttle == ("power_cap",)
