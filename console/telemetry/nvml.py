"""NvmlSampler: the GPUs of the machine the console runs on, through nvidia-ml-py (`import pynvml`).

NVML is initialised once and handles and static facts (UUID, name, power limit, MIG children) are
cached: init and the first device open are the slow part (seconds with persistence mode off), warm
calls are sub-millisecond. Each tick runs in a worker thread with a timeout, so a hung driver call
never blocks the event loop; while one is stuck no second one is started.

Errors stay in the data: NotSupported / NotFound / NoPermission / FunctionNotFound give a missing
value, GpuIsLost marks the GPU lost, a failed init (no library, driver not loaded, library/driver
version mismatch) makes the snapshot say "NVML unavailable: <why>" and init is retried later. Memory
uses the v2 call (reserved apart from used) with a v1 fallback; unversioned process calls that raise
`NVMLLibraryMismatchError` fall back to the `_v2` calls. Per-process utilisation passes the last
timestamp seen, so each tick reads only new samples. Processes are tied to pods through their cgroup.

Health: the SM clock and the clock event (throttle) reasons every tick (`…ClocksEventReasons`, or
`…ClocksThrottleReasons` on drivers before R535), uncorrectable ECC errors and row remapping every
`slow_s` (they change rarely; NotSupported on boards without ECC), and XIDs from an event thread
(`XidWatcher`), since NVML reports them only as events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cgroup import PodUidResolver
from .health import GpuHealth, decode_throttle
from .nvml_xid import XidWatcher
from .sampler import VIA_CGROUP, GpuSample, NodeGpus, PodRef, ProcSample, Snapshot

log = logging.getLogger("gpuconsole.telemetry")

MIB = float(1 << 20)
_SOFT = {3: "not supported", 4: "no permission", 6: "not found", 13: "function not found"}
_WHY = {
    12: "NVML shared library not found (no NVIDIA driver installed on this machine)",
    9: "the NVIDIA driver is not loaded",
    18: "the NVML library and the loaded driver differ (driver upgraded without reloading the kernel "
        "module; reboot or reload nvidia)",
    4: "no permission to open the NVIDIA devices",
}


class _Lost(Exception):
    pass


@dataclass
class _Device:
    index: int
    handle: Any
    uuid: str | None = None
    name: str | None = None
    power_limit_w: float | None = None
    lost: bool = False
    error: str | None = None
    parent_uuid: str | None = None
    gi_id: int | None = None
    children: list["_Device"] = field(default_factory=list)
    slow_at: float | None = None                   # when ECC and row remapping were last read
    ecc: int | None = None
    remap: tuple[int, int, int, int] | None = None  # (correctable, uncorrectable, pending, failure)


def _text(v: Any) -> str | None:
    """Names and UUIDs are str in current bindings, bytes in old ones."""
    if v is None:
        return None
    return v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else str(v)


def load_pynvml() -> Any:
    """The nvidia-ml-py module, or raise ImportError saying what is wrong with the installation."""
    import pynvml
    if not hasattr(pynvml, "nvmlInitWithFlags") or not str(getattr(pynvml, "__file__", "")).endswith("pynvml.py"):
        raise ImportError("the pynvml module is not nvidia-ml-py's (an old pynvml package shadows it)")
    return pynvml


class NvmlSampler:
    """Samples local GPUs. `nvml` is the pynvml module or a `FakeNvml`; `node` names this machine's node."""

    name = "nvml"

    def __init__(self, nvml: Any = None, *, node: str | None = None, interval_s: float = 1.0,
                 timeout_s: float = 5.0, retry_init_s: float = 60.0, rescan_s: float = 300.0,
                 pod_of_pid: Callable[[int], str | None] | None = None, slow_s: float = 5.0,
                 xid_events: bool = True, xid_wait_ms: int = 500,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._nvml = nvml
        self.node = node or os.environ.get("NODE_NAME") or socket.gethostname()
        self._interval = max(0.0, interval_s)
        self.timeout_s = timeout_s
        self.retry_init_s = retry_init_s
        self.rescan_s = rescan_s
        self.pod_of_pid = pod_of_pid or PodUidResolver()
        self.clock = clock
        self.slow_s = slow_s
        self.xid_events = xid_events
        self.xid_wait_ms = xid_wait_ms
        self.xids: XidWatcher | None = None
        self.unavailable: str | None = None
        self.driver_version: str | None = None
        self.notes: list[str] = []              # fallbacks taken, each said once
        self._inited = False
        self._init_failed_at: float | None = None
        self._devices: list[_Device] | None = None
        self._scanned_at = 0.0
        self._mem_v2 = True
        self._proc_v2 = False
        self._last_ts: dict[str, int] = {}
        self._throttle_fn = "nvmlDeviceGetCurrentClocksEventReasons"
        self._names: dict[int, str | None] = {}
        self._last: Snapshot | None = None
        self._running: asyncio.Future | None = None
        self._running_since = 0.0

    @property
    def interval_s(self) -> float:
        return self._interval

    # ---------------------------------------------------------------- async face
    async def sample(self) -> Snapshot:
        now = self.clock()
        if self._last is not None and now - self._last.taken_at < self._interval:
            return self._last
        if self._running is not None and not self._running.done():
            return Snapshot(self.name, now, error=f"NVML call stuck for {now - self._running_since:.0f} s "
                                                  "(driver not answering)")
        self._running = asyncio.ensure_future(asyncio.to_thread(self._tick, now))
        self._running_since = now
        try:
            snap = await asyncio.wait_for(asyncio.shield(self._running), self.timeout_s)
        except asyncio.TimeoutError:
            snap = Snapshot(self.name, now, error=f"NVML sampling timed out after {self.timeout_s:g} s")
        self._last = snap
        return snap

    async def close(self) -> None:
        w, self.xids = self.xids, None
        if w is not None:
            await asyncio.to_thread(w.stop)
        if self._inited and (self._running is None or self._running.done()):
            try:
                await asyncio.to_thread(self._lib().nvmlShutdown)
            except Exception as e:  # shutting down a broken library must not fail the console's exit
                log.debug("nvmlShutdown failed: %s", e)
            self._inited = False

    # ---------------------------------------------------------------- one tick (worker thread)
    def _lib(self) -> Any:
        if self._nvml is None:
            self._nvml = load_pynvml()
        return self._nvml

    def _init(self, now: float) -> str | None:
        """Initialise once; returns why NVML is unusable, or None."""
        if self._inited:
            return None
        if self._init_failed_at is not None and now - self._init_failed_at < self.retry_init_s:
            return self.unavailable
        try:
            nvml = self._lib()
        except ImportError as e:
            return self._fail(now, f"NVML unavailable: {e}")
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as e:
            code = getattr(e, "value", None)
            return self._fail(now, f"NVML unavailable: {_WHY.get(code) or str(e)}")
        except OSError as e:
            return self._fail(now, f"NVML unavailable: {e}")
        self._inited = True
        self._init_failed_at = None
        self.unavailable = None
        try:
            self.driver_version = _text(nvml.nvmlSystemGetDriverVersion())
        except nvml.NVMLError:
            self.driver_version = None
        return None

    def _fail(self, now: float, why: str) -> str:
        self._init_failed_at = now
        self.unavailable = why
        return why

    def _tick(self, now: float) -> Snapshot:
        why = self._init(now)
        if why:
            return Snapshot(self.name, now, error=why)
        nvml = self._lib()
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as e:
            return Snapshot(self.name, now, {self.node: NodeGpus(self.node, (), f"NVML: {e}", "nvml")})
        if self._devices is None or len(self._devices) != count or now - self._scanned_at >= self.rescan_s:
            self._devices = [self._open(i) for i in range(count)]
            self._scanned_at = now
            self._watch_xids()
        pods: dict[int, str | None] = {}
        gpus: list[GpuSample] = []
        xids = self.xids.last() if self.xids is not None else {}
        for d in self._devices:
            gpus.extend(self._sample_device(d, pods, now, xids))
        seen = {p.pid for g in gpus for p in g.procs}
        for pid in [p for p in self._names if p not in seen]:
            del self._names[pid]           # a PID may be reused by another program later
        return Snapshot(self.name, now, {self.node: NodeGpus(self.node, tuple(gpus), None, "nvml")})

    def _watch_xids(self) -> None:
        """(Re)start the XID event thread when the set of GPUs changed."""
        if not self.xid_events or self._devices is None:
            return
        devices = [(d.uuid, d.handle) for d in self._devices if d.uuid and not d.lost]
        if self.xids is not None:
            if sorted(u for u, _ in devices) == sorted(self.xids.watched):
                return
            self.xids.stop()
        self.xids = XidWatcher(self._lib(), devices, wait_ms=self.xid_wait_ms, clock=self.clock)
        if not self.xids.start() and self.xids.error:
            self._note(self.xids.error)

    def _q(self, d: _Device, fn: str, *args: Any, **kw: Any) -> Any:
        """One NVML call on a device: soft errors give None, GpuIsLost raises _Lost, others are noted."""
        nvml = self._lib()
        try:
            return getattr(nvml, fn)(d.handle, *args, **kw)
        except nvml.NVMLError as e:
            code = getattr(e, "value", None)
            if code == nvml.NVML_ERROR_GPU_IS_LOST:
                raise _Lost() from None
            if code not in _SOFT and d.error is None:
                d.error = f"{fn}: {e}"
            return None

    def _open(self, i: int) -> _Device:
        nvml = self._lib()
        d = _Device(i, None)
        try:
            d.handle = nvml.nvmlDeviceGetHandleByIndex(i)
        except nvml.NVMLError as e:
            d.lost = getattr(e, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST
            d.error = f"cannot open GPU {i}: {e}"
            return d
        try:
            d.uuid = _text(self._q(d, "nvmlDeviceGetUUID"))
            d.name = _text(self._q(d, "nvmlDeviceGetName"))
            limit = self._q(d, "nvmlDeviceGetEnforcedPowerLimit")
            d.power_limit_w = limit / 1000.0 if limit is not None else None
            mode = self._q(d, "nvmlDeviceGetMigMode")
            if mode and mode[0] == nvml.NVML_DEVICE_MIG_ENABLE:
                d.children = self._mig_children(d)
        except _Lost:
            d.lost = True
        return d

    def _mig_children(self, d: _Device) -> list[_Device]:
        nvml = self._lib()
        out: list[_Device] = []
        for j in range(self._q(d, "nvmlDeviceGetMaxMigDeviceCount") or 0):
            try:
                h = nvml.nvmlDeviceGetMigDeviceHandleByIndex(d.handle, j)
            except nvml.NVMLError as e:
                if getattr(e, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST:
                    raise _Lost() from None
                continue   # an empty slot
            c = _Device(d.index, h, parent_uuid=d.uuid)
            c.uuid = _text(self._q(c, "nvmlDeviceGetUUID"))
            c.name = _text(self._q(c, "nvmlDeviceGetName"))
            c.gi_id = self._q(c, "nvmlDeviceGetGpuInstanceId")
            out.append(c)
        return out

    def _sample_device(self, d: _Device, pods: dict[int, str | None], now: float = 0.0,
                       xids: dict[str, tuple[int, float]] | None = None) -> list[GpuSample]:
        if d.lost or d.handle is None:
            return [GpuSample(self.node, d.index, d.uuid, d.name, lost=d.lost,
                              error=d.error or "GPU is lost", power_limit_w=d.power_limit_w)]
        d.error = None
        try:
            util = self._q(d, "nvmlDeviceGetUtilizationRates")
            used, free, reserved, total = self._memory(d)
            temp = self._q(d, "nvmlDeviceGetTemperature", self._lib().NVML_TEMPERATURE_GPU)
            power = self._q(d, "nvmlDeviceGetPowerUsage")
            clock = self._q(d, "nvmlDeviceGetClockInfo", self._lib().NVML_CLOCK_SM)
            health = self._health(d, now, (xids or {}).get(d.uuid or ""))
            procs = self._processes(d, pods, per_process_util=not d.children)
            out = [GpuSample(
                self.node, d.index, d.uuid, d.name, util_pct=float(util.gpu) if util is not None else None,
                mem_used_mib=used, mem_free_mib=free, mem_reserved_mib=reserved, mem_total_mib=total,
                temp_c=float(temp) if temp is not None else None,
                power_w=power / 1000.0 if power is not None else None, power_limit_w=d.power_limit_w,
                last_xid=health.xid_last, sm_clock_mhz=float(clock) if clock is not None else None,
                health=health, error=d.error, pods=_pods_of(procs), procs=procs)]
            for c in d.children:
                c.error = None
                cu, cf, cr, ct = self._memory(c)
                cp = self._processes(c, pods, per_process_util=False)
                profile = c.name.rpartition(" MIG ")[2] or None if c.name and " MIG " in c.name else None
                out.append(GpuSample(self.node, d.index, c.uuid, c.name, gi_id=c.gi_id, parent_uuid=d.uuid,
                                     mig_profile=profile,
                                     mem_used_mib=cu, mem_free_mib=cf, mem_reserved_mib=cr, mem_total_mib=ct,
                                     error=c.error, pods=_pods_of(cp), procs=cp))
            return out
        except _Lost:
            d.lost = True
            d.error = "GPU is lost"
            return [GpuSample(self.node, d.index, d.uuid, d.name, lost=True, error=d.error,
                              power_limit_w=d.power_limit_w)]

    def _throttle(self, d: _Device) -> int | None:
        """The clock event reasons bitmask: the R535+ call, else its older name (same bits)."""
        nvml = self._lib()
        if self._throttle_fn == "nvmlDeviceGetCurrentClocksEventReasons":
            try:
                return nvml.nvmlDeviceGetCurrentClocksEventReasons(d.handle)
            except nvml.NVMLError as e:
                code = getattr(e, "value", None)
                if code == nvml.NVML_ERROR_GPU_IS_LOST:
                    raise _Lost() from None
                if code != nvml.NVML_ERROR_FUNCTION_NOT_FOUND:
                    return None
            except AttributeError:
                pass
            self._throttle_fn = "nvmlDeviceGetCurrentClocksThrottleReasons"
            self._note("throttle reasons: the driver predates clock event reasons; using the throttle call")
        return self._q(d, self._throttle_fn)

    def _health(self, d: _Device, now: float, xid: tuple[int, float] | None) -> GpuHealth:
        """Throttle reasons each tick; ECC and row remapping every `slow_s`; the XID thread's last XID."""
        nvml = self._lib()
        if d.slow_at is None or now - d.slow_at >= self.slow_s:
            d.slow_at = now
            d.ecc = self._q(d, "nvmlDeviceGetTotalEccErrors", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                            nvml.NVML_VOLATILE_ECC)
            d.remap = self._q(d, "nvmlDeviceGetRemappedRows")
        remap = d.remap
        return GpuHealth(
            xid_last=xid[0] if xid else None, throttle=decode_throttle(self._throttle(d)),
            ecc_uncorrected=None if d.ecc is None else int(d.ecc),
            row_remap_failed=None if remap is None else bool(remap[3]),
            row_remap_pending=None if remap is None else bool(remap[2]),
            remapped_rows=None if remap is None else int(remap[1]), reported=True)

    def _proc_name(self, pid: int) -> str | None:
        if pid not in self._names:
            nvml = self._lib()
            try:
                self._names[pid] = _text(nvml.nvmlSystemGetProcessName(pid)) or None
            except nvml.NVMLError:
                self._names[pid] = None        # gone already, or another PID namespace
        name = self._names[pid]
        return name.rpartition("/")[2] if name else None

    def _memory(self, d: _Device) -> tuple[float | None, float | None, float | None, float | None]:
        nvml = self._lib()
        if self._mem_v2:
            try:
                m = nvml.nvmlDeviceGetMemoryInfo(d.handle, version=nvml.nvmlMemory_v2)
                return m.used / MIB, m.free / MIB, m.reserved / MIB, m.total / MIB
            except nvml.NVMLError as e:
                code = getattr(e, "value", None)
                if code == nvml.NVML_ERROR_GPU_IS_LOST:
                    raise _Lost() from None
                if code != nvml.NVML_ERROR_FUNCTION_NOT_FOUND:
                    if code not in _SOFT and d.error is None:
                        d.error = f"nvmlDeviceGetMemoryInfo: {e}"
                    return None, None, None, None
            except (TypeError, AttributeError):
                pass
            self._mem_v2 = False
            self._note("memory: the driver has no v2 call; used memory includes the driver's reserve")
        m = self._q(d, "nvmlDeviceGetMemoryInfo")
        if m is None:
            return None, None, None, None
        return m.used / MIB, m.free / MIB, None, m.total / MIB

    def _proc_list(self, d: _Device, fn: str) -> list[Any] | None:
        nvml = self._lib()
        if not self._proc_v2:
            try:
                return self._q(d, fn)
            except nvml.NVMLLibraryMismatchError:
                self._proc_v2 = True
                self._note(f"processes: {fn} is newer than the driver; using the _v2 calls")
        return self._q(d, fn + "_v2")

    def _processes(self, d: _Device, pods: dict[int, str | None], per_process_util: bool) -> tuple[ProcSample, ...]:
        merged: dict[int, tuple[float | None, int | None]] = {}
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            for p in self._proc_list(d, fn) or ():
                mem = p.usedGpuMemory / MIB if getattr(p, "usedGpuMemory", None) is not None else None
                gi = getattr(p, "gpuInstanceId", None)
                gi = None if gi is None or gi >= 0xFFFFFFFF else int(gi)
                old = merged.get(p.pid)
                if old is None or (mem or 0) > (old[0] or 0):
                    merged[p.pid] = (mem, gi)
        if not merged:
            return ()
        util = self._proc_util(d) if per_process_util else None
        out = []
        for pid in sorted(merged):
            mem, gi = merged[pid]
            if pid not in pods:
                pods[pid] = self.pod_of_pid(pid)
            sm = mu = None
            if util is not None:
                sm, mu = util.get(pid, (0.0, 0.0))
            out.append(ProcSample(pid, mem, sm, mu, pods[pid], gi, self._proc_name(pid)))
        return tuple(out)

    def _proc_util(self, d: _Device) -> dict[int, tuple[float, float]] | None:
        """Latest SM / memory utilisation per PID since the last timestamp seen; None if unsupported."""
        nvml = self._lib()
        key = d.uuid or str(d.index)
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(d.handle, self._last_ts.get(key, 0))
        except nvml.NVMLError as e:
            code = getattr(e, "value", None)
            if code == nvml.NVML_ERROR_GPU_IS_LOST:
                raise _Lost() from None
            return {} if code == nvml.NVML_ERROR_NOT_FOUND else None   # NotFound: no activity since then
        latest: dict[int, Any] = {}
        for s in samples:
            if s.pid not in latest or s.timeStamp >= latest[s.pid].timeStamp:
                latest[s.pid] = s
        if latest:
            self._last_ts[key] = max(s.timeStamp for s in latest.values())
        return {pid: (float(s.smUtil), float(s.memUtil)) for pid, s in latest.items()}

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.info("NVML: %s", text)


def _pods_of(procs: tuple[ProcSample, ...]) -> tuple[PodRef, ...]:
    """Pods known only by UID here; the model turns them into names."""
    seen: list[str] = []
    for p in procs:
        if p.pod_uid and p.pod_uid not in seen:
            seen.append(p.pod_uid)
    return tuple(PodRef("", "", "", VIA_CGROUP, uid) for uid in seen)
