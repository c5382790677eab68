"""GPU health: the last XID, clock throttle (clock event) reasons, ECC, row remapping and NVLink errors.

One record for both sources. NVML gives the throttle bitmask (`nvmlDeviceGetCurrentClocksEventReasons`,
named `…ClocksThrottleReasons` before R535), ECC counts and row remapping per GPU, and XIDs only as
events. dcgm-exporter publishes the same facts as families (names checked against NVIDIA/dcgm-exporter
`etc/default-counters.csv` and `etc/dcp-metrics-included.csv`, and the field map of NVIDIA/go-dcgm
`pkg/dcgm/const_fields.go`): the bitmask as `DCGM_FI_DEV_CLOCKS_EVENT_REASONS`, or under its old name
`DCGM_FI_DEV_CLOCK_THROTTLE_REASONS` (both field 112; the metric takes the name the counters file uses),
and the exporter's own per-reason counts `DCGM_EXP_CLOCK_EVENTS_COUNT{clock_event=…}`.

The bits are NVML's `nvmlClocksThrottleReason*` / `nvmlClocksEventReason*` constants (a test holds this
table to pynvml's); the names are dcgm-exporter's `clock_event` label values
(`internal/pkg/collector/clock_events_collector.go`). Idle, application clocks, sync boost and display
clocks lower the clock of a GPU that has nothing to do, or as configured: they are not problems and are
left out of `throttle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# bit → (dcgm-exporter's clock_event name, slows a loaded GPU, short label for the HEALTH column)
THROTTLE_BITS: dict[int, tuple[str, bool, str]] = {
    0x0001: ("gpu_idle", False, "idle"),                     # nvmlClocksThrottleReasonGpuIdle
    0x0002: ("clocks_setting", False, "app clocks"),         # …ApplicationsClocksSetting
    0x0004: ("power_cap", True, "power cap"),                # …SwPowerCap
    0x0008: ("hw_slowdown", True, "HW slowdown"),            # …HwSlowdown
    0x0010: ("sync_boost", False, "sync boost"),             # …SyncBoost
    0x0020: ("sw_thermal", True, "thermal"),                 # …SwThermalSlowdown
    0x0040: ("hw_thermal", True, "HW thermal"),              # …HwThermalSlowdown
    0x0080: ("hw_power_brake", True, "power brake"),         # …HwPowerBrakeSlowdown
    0x0100: ("display_clocks", False, "display clocks"),     # …DisplayClockSetting
    0x0200: ("board_limit", True, "board limit"),            # nvmlClocksThrottleReasonBoardLimit
    0x0400: ("reliability", True, "reliability"),            # nvmlClocksThrottleReasonReliability
}
BY_NAME: dict[str, tuple[int, bool, str]] = {n: (bit, slows, label) for bit, (n, slows, label) in THROTTLE_BITS.items()}

# dcgm-exporter families read for health.
XID = "DCGM_FI_DEV_XID_ERRORS"                                  # gauge: the last XID (default counters)
XID_COUNT = "DCGM_EXP_XID_ERRORS_COUNT"                         # {xid=…}: XIDs in the exporter's window
CLOCK_REASONS = ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS")   # field 112
CLOCK_EVENTS_COUNT = "DCGM_EXP_CLOCK_EVENTS_COUNT"              # {clock_event=…}: events in the window
ECC_DBE_VOL, ECC_SBE_VOL = "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"
ECC_DBE_AGG = "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL"
ROW_REMAP_FAILURE, ROW_REMAP_PENDING = "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_DEV_ROW_REMAP_PENDING"
UNCORRECTABLE_REMAPPED_ROWS = "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS"
CORRECTABLE_REMAPPED_ROWS = "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS"
NVLINK_RECOVERY = "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL"
NVLINK_ERRORS = ("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
                 "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", NVLINK_RECOVERY)
FAMILIES: frozenset[str] = frozenset({
    XID, *CLOCK_REASONS, ECC_DBE_VOL, ECC_SBE_VOL, ECC_DBE_AGG, ROW_REMAP_FAILURE, ROW_REMAP_PENDING,
    UNCORRECTABLE_REMAPPED_ROWS, CORRECTABLE_REMAPPED_ROWS, *NVLINK_ERRORS})
# Families whose samples differ by one extra label, kept per label value.
LABELED: dict[str, str] = {XID_COUNT: "xid", CLOCK_EVENTS_COUNT: "clock_event"}


def decode_throttle(mask: int | None) -> tuple[str, ...]:
    """The reasons that slow a loaded GPU, in bit order; () for none, unknown bits ignored."""
    if mask is None:
        return ()
    return tuple(name for bit, (name, slows, _) in THROTTLE_BITS.items() if slows and mask & bit)


def throttle_label(name: str) -> str:
    return BY_NAME[name][2] if name in BY_NAME else name


@dataclass(frozen=True, slots=True)
class GpuHealth:
    """What is wrong with a GPU, as far as the source says; None where the source says nothing."""

    xid_last: int | None = None                 # the last XID seen (None: none, or not reported)
    xid_recent: tuple[int, ...] = ()            # XIDs counted in the exporter's window, when it counts them
    throttle: tuple[str, ...] = ()              # reasons that slow the GPU now (dcgm-exporter's names)
    ecc_uncorrected: int | None = None          # double-bit (uncorrectable) ECC errors since the driver loaded
    ecc_corrected: int | None = None
    row_remap_failed: bool | None = None        # no spare rows left: the GPU needs replacing
    row_remap_pending: bool | None = None       # a remap waits for a GPU reset
    remapped_rows: int | None = None            # rows remapped for uncorrectable errors
    nvlink_errors: int | None = None            # NVLink CRC, replay and recovery errors, summed
    nvlink_recovery: int | None = None
    reported: bool = False                      # the source said anything about health at all

    @property
    def xid(self) -> int | None:
        """The XID worth showing: the last one, or when the exporter counts XIDs in a window, one of those."""
        if self.xid_recent and self.xid_last not in self.xid_recent:
            return self.xid_recent[-1]
        return self.xid_last

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """Short words for what is wrong, worst first: `XID 79`, `row remap failed`, `ECC`, `thermal`…"""
        out: list[str] = []
        if self.xid:
            out.append(f"XID {self.xid}")
        if self.row_remap_failed:
            out.append("row remap failed")
        if self.ecc_uncorrected:
            out.append("ECC")
        if self.row_remap_pending:
            out.append("remap pending")
        for t in self.throttle:
            label = throttle_label(t)
            if label not in out:
                out.append(label)
        if self.nvlink_recovery:
            out.append("NVLink")
        return out

    def to_dict(self) -> dict[str, object]:
        """The `health` object of `gpuconsole snapshot`."""
        return {"ok": self.ok, "xid_last": self.xid, "throttle": list(self.throttle),
                "ecc_uncorrected": self.ecc_uncorrected, "row_remap_failed": self.row_remap_failed,
                "nvlink_errors": self.nvlink_errors}


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def from_exporter(values: Mapping[str, float | None], labeled: Mapping[str, Mapping[str, float | None]]
                  ) -> GpuHealth | None:
    """Health from one GPU's dcgm-exporter values; None when the scrape has no health family at all."""
    if not any(f in values for f in FAMILIES) and not any(f in labeled for f in LABELED):
        return None
    xid = _int(values.get(XID))
    recent: list[int] = []
    for code, n in (labeled.get(XID_COUNT) or {}).items():
        if n and code.isdigit():
            recent.append(int(code))
    mask = next((int(v) for f in CLOCK_REASONS if (v := values.get(f)) is not None), None)
    reasons = list(decode_throttle(mask))
    for name, n in (labeled.get(CLOCK_EVENTS_COUNT) or {}).items():
        if n and name in BY_NAME and BY_NAME[name][1] and name not in reasons:
            reasons.append(name)
    reasons.sort(key=lambda n: BY_NAME[n][0] if n in BY_NAME else 1 << 20)
    dbe = values.get(ECC_DBE_VOL)
    failed, pending = values.get(ROW_REMAP_FAILURE), values.get(ROW_REMAP_PENDING)
    nvlink = [v for f in NVLINK_ERRORS if (v := values.get(f)) is not None]
    return GpuHealth(
        xid_last=xid or None, xid_recent=tuple(sorted(recent)), throttle=tuple(reasons),
        ecc_uncorrected=_int(dbe), ecc_corrected=_int(values.get(ECC_SBE_VOL)),
        row_remap_failed=None if failed is None else failed > 0,
        row_remap_pending=None if pending is None else pending > 0,
        remapped_rows=_int(values.get(UNCORRECTABLE_REMAPPED_ROWS)),
        nvlink_errors=int(sum(nvlink)) if nvlink else None, nvlink_recovery=_int(values.get(NVLINK_RECOVERY)),
        reported=True)


def merge(parts: Iterable[GpuHealth | None]) -> GpuHealth | None:
    """One GPU's health from its MIG instances' (the exporter repeats GPU-wide fields per instance)."""
    hs = [h for h in parts if h is not None]
    if not hs:
        return None
    if len(hs) == 1:
        return hs[0]

    def most(f: str) -> int | None:
        vals = [getattr(h, f) for h in hs if getattr(h, f) is not None]
        return max(vals) if vals else None

    def anyof(f: str) -> bool | None:
        vals = [getattr(h, f) for h in hs if getattr(h, f) is not None]
        return any(vals) if vals else None

    throttle: list[str] = []
    recent: list[int] = []
    for h in hs:
        throttle.extend(t for t in h.throttle if t not in throttle)
        recent.extend(x for x in h.xid_recent if x not in recent)
    return GpuHealth(
        xid_last=next((h.xid_last for h in hs if h.xid_last), None), xid_recent=tuple(sorted(recent)),
        throttle=tuple(sorted(throttle, key=lambda n: BY_NAME[n][0] if n in BY_NAME else 1 << 20)),
        ecc_uncorrected=most("ecc_uncorrected"), ecc_corrected=most("ecc_corrected"),
        row_remap_failed=anyof("row_remap_failed"), row_remap_pending=anyof("row_remap_pending"),
        remapped_rows=most("remapped_rows"), nvlink_errors=most("nvlink_errors"),
        nvlink_recovery=most("nvlink_recovery"), reported=True)
