"""A faithful fake of `pynvml` (nvidia-ml-py) for tests and the demo's "local GPUs" pane.

Same function names and signatures as pynvml (a test compares them), real ctypes structs and handle
types, and pynvml's own error classes (`pynvml.NVMLError(code)` yields `NVMLError_GpuIsLost` and the
rest), so a sampler exercised here behaves the same against the real library. Constants and error
classes are read through from pynvml; a name pynvml does not have raises AttributeError, as the
module would.

Faults: an init error (LibraryNotFound, DriverNotLoaded, LibRmVersionMismatch), any error code or
exception per call and device (`fail`), a GPU lost mid-run (`lose`), C symbols missing from an older
driver (`missing_symbols`: memory v2 falls back to v1, unversioned process calls raise
`NVMLLibraryMismatchError`, clock event reasons fall back to throttle reasons), and MIG children.
Health: a throttle bitmask, ECC and row remap counts per GPU, and XID events (`xid`) delivered through
an event set that blocks like the real `nvmlEventSetWait_v2`. Values move with `clock`, seeded.
"""

from __future__ import annotations

import ctypes
import math
import random
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pynvml

_BASE = 0x7F0000001000  # handle addresses: physical GPU i at _BASE + i * 0x100, MIG child j at + 1 + j


@dataclass
class FakeProc:
    pid: int
    used_mib: float | None         # None: the driver cannot say (WDDM, some containers)
    sm_pct: float = 0.0
    cgroup: str = ""               # the text of /proc/<pid>/cgroup (see `write_proc`)
    gi_id: int | None = None       # MIG GPU instance the process runs in
    graphics: bool = False
    name: str = "python3"          # what nvmlSystemGetProcessName answers (a path, as NVML gives it)


@dataclass
class FakeMig:
    gi_id: int
    profile: str
    memory_mib: int
    ci_id: int = 0
    uuid: str = ""


@dataclass
class FakeGpu:
    name: str
    uuid: str
    memory_mib: int
    util_pct: float = 0.0          # centre of the utilisation it shows
    util_swing: float = 5.0        # how far it drifts either side
    temp_c: float = 35.0
    power_limit_w: float = 700.0
    idle_w: float = 70.0
    reserved_mib: int = 0
    procs: list[FakeProc] = field(default_factory=list)
    mig: list[FakeMig] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)   # function names answering NotSupported
    sm_clock_mhz: int = 1980       # at full load; idle GPUs clock down
    sm_idle_mhz: int = 345
    throttle_mask: int = 0         # nvmlClocksEventReason* bits while busy (idle adds GpuIdle)
    ecc_uncorrected: int | None = 0        # None: no ECC on this board (NotSupported)
    remapped_rows: tuple[int, int, int, int] | None = (0, 0, 0, 0)   # corr, unc, pending, failure
    xids: list[int] = field(default_factory=list)   # XID events waiting for a registered event set


@dataclass
class LocalScenario:
    gpus: list[FakeGpu]
    driver: str = "550.127.08"
    nvml_version: str = "12.550.127.08"
    seed: int = 0


@dataclass
class _EventSet:
    devices: set[int] = field(default_factory=set)
    queue: list[tuple[int, int]] = field(default_factory=list)   # (GPU index, XID)
    freed: bool = False


_EVENT_BASE = 0x7E0000000000


@dataclass
class _Fault:
    func: str                      # function name, or "*"
    device: int | None             # physical GPU index (MIG children count as their parent), None = any
    action: int | BaseException | Callable[[], Any]
    times: int | None              # None = every call


def cgroup_text(pod_uid: str, qos: str = "burstable", container_id: str | None = None) -> str:
    """What /proc/<pid>/cgroup says for a container of a pod on cgroup v2 with the systemd driver."""
    cid = container_id or uuidlib.uuid5(uuidlib.NAMESPACE_OID, pod_uid).hex * 2
    uid = pod_uid.replace("-", "_")
    return (f"0::/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid}.slice/"
            f"cri-containerd-{cid}.scope\n")


def demo_scenario(pods: Sequence[str] = (), seed: int = 0) -> LocalScenario:
    """Two H100s: GPU 0 busy with a process of `pods[0]`, GPU 1 nearly idle with one of `pods[1]`,
    and a host process (not in a pod) on GPU 1. `pods` are pod UIDs; missing ones get made-up UIDs."""
    uids = list(pods) + [str(uuidlib.UUID(int=random.Random(f"{seed}/{i}").getrandbits(128)))
                         for i in range(len(pods), 2)]
    name = "NVIDIA H100 80GB HBM3"
    return LocalScenario(seed=seed, gpus=[
        FakeGpu(name, _uuid(seed, 0), 81559, util_pct=86, util_swing=8, temp_c=38, power_limit_w=700,
                idle_w=72, reserved_mib=559,
                procs=[FakeProc(4242, 61440, 84, cgroup_text(uids[0]))]),
        FakeGpu(name, _uuid(seed, 1), 81559, util_pct=1, util_swing=1, temp_c=31, power_limit_w=700,
                idle_w=72, reserved_mib=559,
                procs=[FakeProc(5151, 20480, 1, cgroup_text(uids[1], "besteffort")),
                       FakeProc(1337, 512, 0, "0::/system.slice/nvidia-persistenced.service\n")]),
    ])


def demo_sampler(pod_uids: Sequence[str], proc_root: str | Path, *, node: str = "local", seed: int = 0,
                 interval_s: float = 1.0) -> Any:
    """The demo's "local GPUs": an NvmlSampler on `demo_scenario(pod_uids)`, its processes' cgroup files
    laid down under `proc_root`, so processes map to those pods through the production code path."""
    from .cgroup import PodUidResolver
    from .nvml import NvmlSampler

    fake = FakeNvml(demo_scenario(pod_uids, seed))
    fake.write_proc(proc_root)
    return NvmlSampler(fake, node=node, interval_s=interval_s, pod_of_pid=PodUidResolver(proc_root))


def _uuid(seed: int, i: int) -> str:
    return "GPU-" + str(uuidlib.UUID(int=random.Random(f"fake-nvml/{seed}/{i}").getrandbits(128)))


def _smooth(seed: Any, t: float, period: float = 10.0) -> float:
    """A seeded value in [-1, 1] drifting smoothly with time."""
    k = math.floor(t / period)
    a = random.Random(f"{seed}/{k}").random()
    b = random.Random(f"{seed}/{k + 1}").random()
    x = t / period - k
    w = (1 - math.cos(math.pi * x)) / 2
    return 2 * (a + (b - a) * w) - 1


class FakeNvml:
    """Use in place of the `pynvml` module: `NvmlSampler(nvml=FakeNvml(scenario))`."""

    def __init__(self, scenario: LocalScenario, *, clock: Callable[[], float] = time.monotonic,
                 init_error: int | None = None, missing_symbols: Sequence[str] = ()) -> None:
        self.scenario = scenario
        self.clock = clock
        self.init_error = init_error
        self.missing_symbols = set(missing_symbols)
        self.calls: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._lost: set[int] = set()
        self._refcount = 0
        self._lock = threading.Lock()
        self._events = threading.Condition()
        self._sets: dict[int, _EventSet] = {}

    @classmethod
    def from_scenario(cls, scenario: LocalScenario, **kw: Any) -> "FakeNvml":
        return cls(scenario, **kw)

    # ---------------------------------------------------------------- fault injection
    def fail(self, func: str, action: int | BaseException | Callable[[], Any], *, device: int | None = None,
             times: int | None = None) -> None:
        """Make `func` (or "*") on `device` raise `NVMLError(action)` / `action`, or run `action` first
        (e.g. wait on an event to simulate a hung driver call). `times=None` means every call."""
        self._faults.append(_Fault(func, device, action, times))

    def lose(self, index: int) -> None:
        """The GPU falls off the bus: every call on it answers GpuIsLost from now on."""
        self._lost.add(index)

    def xid(self, index: int, code: int) -> None:
        """An XID on GPU `index`: delivered to the event sets it is registered with, or kept until then."""
        with self._events:
            targets = [s for s in self._sets.values() if index in s.devices]
            if not targets:
                self.scenario.gpus[index].xids.append(code)
            for s in targets:
                s.queue.append((index, code))
            self._events.notify_all()

    def pod_of_pid(self, pid: int) -> str | None:
        """The pod UID a process's cgroup text names (the same parser as `PodUidResolver`, no files)."""
        from .cgroup import pod_uid_from_cgroup

        for g in self.scenario.gpus:
            for p in g.procs:
                if p.pid == pid:
                    return pod_uid_from_cgroup(p.cgroup)
        return None

    def write_proc(self, root: str | Path) -> Path:
        """Lay down `<root>/<pid>/cgroup` for every process, for `PodUidResolver(root)`."""
        root = Path(root)
        for g in self.scenario.gpus:
            for p in g.procs:
                d = root / str(p.pid)
                d.mkdir(parents=True, exist_ok=True)
                (d / "cgroup").write_text(p.cgroup)
        return root

    # ---------------------------------------------------------------- plumbing
    def __getattr__(self, name: str) -> Any:
        # Constants, structs and error classes come from pynvml itself; functions must be faked here.
        if name.startswith(("NVML", "nvmlMemory", "c_nvml", "nvmlFriendlyObject", "nvmlEventType",
                            "nvmlClocksEventReason", "nvmlClocksThrottleReason")):
            return getattr(pynvml, name)
        raise AttributeError(f"FakeNvml has no {name!r}")

    def _enter(self, func: str, device: int | None = None) -> None:
        self.calls[func] = self.calls.get(func, 0) + 1
        if func not in ("nvmlInit", "nvmlInitWithFlags") and self._refcount == 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        for f in list(self._faults):
            if f.func not in (func, "*") or (f.device is not None and f.device != device):
                continue
            if f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
            a = f.action
            if isinstance(a, int):
                raise pynvml.NVMLError(a)
            if isinstance(a, BaseException):
                raise a
            a()
        if device is not None and device in self._lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    def _symbol(self, name: str) -> None:
        if name in self.missing_symbols:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)

    def _handle(self, i: int, child: int | None = None) -> Any:
        addr = _BASE + i * 0x100 + (0 if child is None else 1 + child)
        return ctypes.cast(addr, pynvml.c_nvmlDevice_t)

    def _resolve(self, handle: Any) -> tuple[int, int | None]:
        addr = ctypes.cast(handle, ctypes.c_void_p).value or 0
        off = addr - _BASE
        i, rest = divmod(off, 0x100)
        if off < 0 or i >= len(self.scenario.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if rest == 0:
            return i, None
        j = rest - 1
        if j >= len(self.scenario.gpus[i].mig):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return i, j

    def _dev(self, func: str, handle: Any) -> tuple[FakeGpu, int, FakeMig | None]:
        i, j = self._resolve(handle)
        self._enter(func, i)
        g = self.scenario.gpus[i]
        if func in g.unsupported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return g, i, (g.mig[j] if j is not None else None)

    def _util(self, i: int) -> float:
        g = self.scenario.gpus[i]
        u = g.util_pct + g.util_swing * _smooth((self.scenario.seed, i, "util"), self.clock(), 10.0)
        return max(0.0, min(100.0, u))

    def _used_mib(self, g: FakeGpu, gi: int | None = None) -> float:
        return sum(p.used_mib or 0.0 for p in g.procs if gi is None or p.gi_id == gi)

    # ---------------------------------------------------------------- library
    def nvmlInitWithFlags(self, flags):
        self._enter("nvmlInitWithFlags")
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        with self._lock:
            self._refcount += 1

    def nvmlInit(self):
        self.nvmlInitWithFlags(0)

    def nvmlShutdown(self):
        self._enter("nvmlShutdown")
        with self._lock:
            self._refcount = max(0, self._refcount - 1)

    def nvmlSystemGetDriverVersion(self):
        self._enter("nvmlSystemGetDriverVersion")
        return self.scenario.driver

    def nvmlSystemGetNVMLVersion(self):
        self._enter("nvmlSystemGetNVMLVersion")
        return self.scenario.nvml_version

    # ---------------------------------------------------------------- devices
    def nvmlDeviceGetCount(self):
        self._enter("nvmlDeviceGetCount")
        return len(self.scenario.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        self._enter("nvmlDeviceGetHandleByIndex", index)
        if not 0 <= index < len(self.scenario.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self._handle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        u = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, g in enumerate(self.scenario.gpus):
            if g.uuid == u:
                self._enter("nvmlDeviceGetHandleByUUID", i)
                return self._handle(i)
        self._enter("nvmlDeviceGetHandleByUUID")
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetIndex(self, handle):
        _, i, _ = self._dev("nvmlDeviceGetIndex", handle)
        return i

    def nvmlDeviceGetName(self, handle):
        g, _, m = self._dev("nvmlDeviceGetName", handle)
        return g.name if m is None else f"{g.name} MIG {m.profile}"

    def nvmlDeviceGetUUID(self, handle):
        g, _, m = self._dev("nvmlDeviceGetUUID", handle)
        return g.uuid if m is None else m.uuid

    def nvmlDeviceGetUtilizationRates(self, handle):
        g, i, m = self._dev("nvmlDeviceGetUtilizationRates", handle)
        if m is not None or g.mig:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)  # as on real MIG devices
        u = self._util(i)
        return pynvml.c_nvmlUtilization_t(gpu=int(round(u)), memory=int(round(u * 0.4)))

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        g, _, m = self._dev("nvmlDeviceGetMemoryInfo", handle)
        mib = 1 << 20
        if m is not None:
            total, reserved, used = m.memory_mib, 0, self._used_mib(g, m.gi_id)
        else:
            total, reserved, used = g.memory_mib, g.reserved_mib, self._used_mib(g)
        free = max(0, total - reserved - used)
        if not version:
            return pynvml.c_nvmlMemory_t(total=total * mib, free=int(free * mib), used=int((used + reserved) * mib))
        self._symbol("nvmlDeviceGetMemoryInfo_v2")
        return pynvml.c_nvmlMemory_v2_t(version=version, total=total * mib, reserved=reserved * mib,
                                        free=int(free * mib), used=int(used * mib))

    def nvmlDeviceGetTemperature(self, handle, sensor):
        g, i, m = self._dev("nvmlDeviceGetTemperature", handle)
        if m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return int(round(g.temp_c + 0.45 * self._util(i)))

    def nvmlDeviceGetPowerUsage(self, handle):
        g, i, m = self._dev("nvmlDeviceGetPowerUsage", handle)
        if m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        w = g.idle_w + (g.power_limit_w - g.idle_w) * 0.9 * self._util(i) / 100.0
        return int(w * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        g, _, m = self._dev("nvmlDeviceGetEnforcedPowerLimit", handle)
        if m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(g.power_limit_w * 1000)

    def nvmlDeviceGetClockInfo(self, handle, type):
        g, i, m = self._dev("nvmlDeviceGetClockInfo", handle)
        if type != pynvml.NVML_CLOCK_SM:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return g.sm_clock_mhz if self._util(i) >= 1.0 else g.sm_idle_mhz

    def _reasons(self, func: str, handle: Any) -> int:
        g, i, m = self._dev(func, handle)
        self._symbol(func)
        return g.throttle_mask | (pynvml.nvmlClocksThrottleReasonGpuIdle if self._util(i) < 1.0 else 0)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._reasons("nvmlDeviceGetCurrentClocksEventReasons", handle)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):
        return self._reasons("nvmlDeviceGetCurrentClocksThrottleReasons", handle)

    def nvmlDeviceGetTotalEccErrors(self, handle, errorType, counterType):
        g, _, m = self._dev("nvmlDeviceGetTotalEccErrors", handle)
        if g.ecc_uncorrected is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if errorType != pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return 0
        return g.ecc_uncorrected

    def nvmlDeviceGetRemappedRows(self, device):
        g, _, m = self._dev("nvmlDeviceGetRemappedRows", device)
        if g.remapped_rows is None or m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return g.remapped_rows

    def nvmlSystemGetProcessName(self, pid):
        self._enter("nvmlSystemGetProcessName")
        for g in self.scenario.gpus:
            for p in g.procs:
                if p.pid == pid:
                    return p.name
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    # ---------------------------------------------------------------- events (XIDs)
    def nvmlEventSetCreate(self):
        self._enter("nvmlEventSetCreate")
        with self._events:
            addr = _EVENT_BASE + len(self._sets) + 1
            self._sets[addr] = _EventSet()
        return ctypes.cast(addr, pynvml.c_nvmlEventSet_t)

    def _event_set(self, eventSet: Any) -> "_EventSet":
        s = self._sets.get(ctypes.cast(eventSet, ctypes.c_void_p).value or 0)
        if s is None or s.freed:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return s

    def nvmlDeviceRegisterEvents(self, handle, eventTypes, eventSet):
        g, i, m = self._dev("nvmlDeviceRegisterEvents", handle)
        if m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        with self._events:
            s = self._event_set(eventSet)
            if eventTypes & pynvml.nvmlEventTypeXidCriticalError:
                s.devices.add(i)
                s.queue.extend((i, x) for x in g.xids)
                g.xids.clear()
                self._events.notify_all()

    def nvmlEventSetWait_v2(self, eventSet, timeoutms):
        self._enter("nvmlEventSetWait_v2")
        with self._events:
            s = self._event_set(eventSet)
            if not self._events.wait_for(lambda: bool(s.queue) or s.freed, timeoutms / 1000.0) or not s.queue:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
            i, code = s.queue.pop(0)
        na = 0xFFFFFFFF
        return pynvml.c_nvmlEventData_t(device=self._handle(i), eventType=pynvml.nvmlEventTypeXidCriticalError,
                                        eventData=code, gpuInstanceId=na, computeInstanceId=na)

    def nvmlEventSetWait(self, eventSet, timeoutms):
        return self.nvmlEventSetWait_v2(eventSet, timeoutms)

    def nvmlEventSetFree(self, eventSet):
        self._enter("nvmlEventSetFree")
        with self._events:
            self._event_set(eventSet).freed = True
            self._events.notify_all()

    def _procs(self, func: str, handle: Any, graphics: bool, symbol: str) -> list[Any]:
        g, _, m = self._dev(func, handle)
        self._symbol(symbol)
        out = []
        na = pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value
        for p in g.procs:
            if p.graphics != graphics or (m is not None and p.gi_id != m.gi_id):
                continue
            gi = p.gi_id if p.gi_id is not None else 0xFFFFFFFF
            s = pynvml.c_nvmlProcessInfo_v3_t(pid=p.pid, usedGpuMemory=int(p.used_mib * (1 << 20))
                                              if p.used_mib is not None else na,
                                              gpuInstanceId=gi, computeInstanceId=0xFFFFFFFF if p.gi_id is None
                                              else 0)
            obj = pynvml.nvmlStructToFriendlyObject(s)
            if obj.usedGpuMemory == na:
                obj.usedGpuMemory = None
            out.append(obj)
        return out

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        try:
            return self._procs("nvmlDeviceGetComputeRunningProcesses", handle, False,
                               "nvmlDeviceGetComputeRunningProcesses_v3")
        except pynvml.NVMLError_FunctionNotFound:
            raise pynvml.NVMLLibraryMismatchError(
                "Unversioned function called and the pyNVML version does not match the NVML lib version. "
                "Either use matching pyNVML and NVML lib versions or use a versioned function such as "
                "nvmlDeviceGetComputeRunningProcesses_v2") from None

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        try:
            return self._procs("nvmlDeviceGetGraphicsRunningProcesses", handle, True,
                               "nvmlDeviceGetGraphicsRunningProcesses_v3")
        except pynvml.NVMLError_FunctionNotFound:
            raise pynvml.NVMLLibraryMismatchError(
                "Unversioned function called and the pyNVML version does not match the NVML lib version. "
                "Either use matching pyNVML and NVML lib versions or use a versioned function such as "
                "nvmlDeviceGetGraphicsRunningProcesses_v2") from None

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle):
        return self._procs("nvmlDeviceGetComputeRunningProcesses_v2", handle, False,
                           "nvmlDeviceGetComputeRunningProcesses_v2")

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle):
        return self._procs("nvmlDeviceGetGraphicsRunningProcesses_v2", handle, True,
                           "nvmlDeviceGetGraphicsRunningProcesses_v2")

    def nvmlDeviceGetProcessUtilization(self, handle, timeStamp):
        g, i, m = self._dev("nvmlDeviceGetProcessUtilization", handle)
        if m is not None or g.mig:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        now_us = int(self.clock() * 1_000_000)
        # One sample per active process per call, stamped now: nothing newer than `timeStamp` → NotFound.
        active = [p for p in g.procs if p.sm_pct > 0]
        if not active or now_us <= timeStamp:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        scale = self._util(i) / g.util_pct if g.util_pct else 1.0
        out = []
        for p in active:
            sm = max(0, min(100, int(round(p.sm_pct * scale))))
            out.append(pynvml.c_nvmlProcessUtilizationSample_t(pid=p.pid, timeStamp=now_us, smUtil=sm,
                                                               memUtil=int(sm * 0.4), encUtil=0, decUtil=0))
        return out

    # ---------------------------------------------------------------- MIG
    def nvmlDeviceGetMigMode(self, device):
        g, _, m = self._dev("nvmlDeviceGetMigMode", device)
        if m is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if g.mig else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, device):
        g, _, m = self._dev("nvmlDeviceGetMaxMigDeviceCount", device)
        return 7 if g.mig else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device, index):
        g, i, m = self._dev("nvmlDeviceGetMigDeviceHandleByIndex", device)
        if m is not None or not 0 <= index < 7:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if index >= len(g.mig):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return self._handle(i, index)

    def nvmlDeviceIsMigDeviceHandle(self, device):
        _, _, m = self._dev("nvmlDeviceIsMigDeviceHandle", device)
        return ctypes.c_uint(1 if m is not None else 0)   # pynvml returns the c_uint itself

    def nvmlDeviceGetGpuInstanceId(self, device):
        _, _, m = self._dev("nvmlDeviceGetGpuInstanceId", device)
        if m is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return m.gi_id

    def nvmlDeviceGetComputeInstanceId(self, device):
        _, _, m = self._dev("nvmlDeviceGetComputeInstanceId", device)
        if m is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return m.ci_id

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice):
        _, i, m = self._dev("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", migDevice)
        if m is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self._handle(i)


def mig_gpu(seed: int, index: int, name: str = "NVIDIA A100-SXM4-40GB") -> FakeGpu:
    """An A100 split into 1g.5gb ×2 and 2g.10gb, with a process in GPU instance 8 (as in the real MIG
    scrape)."""
    uuid = _uuid(seed, index)
    migs = [FakeMig(7, "1g.5gb", 4864), FakeMig(8, "1g.5gb", 4864), FakeMig(5, "2g.10gb", 9856)]
    for k, m in enumerate(migs):
        m.uuid = "MIG-" + str(uuidlib.UUID(int=random.Random(f"{uuid}/{k}").getrandbits(128)))
    return FakeGpu(name, uuid, 40960, util_pct=40, temp_c=33, power_limit_w=400, idle_w=50,
                   procs=[FakeProc(7001, 4378, 40, "", gi_id=8)], mig=migs)
