"""The fake NVML is held to pynvml's real surface: names, signatures, error classes, structs, init state."""

from __future__ import annotations

import ctypes
import inspect

import pynvml
import pytest

from console.telemetry.fake_nvml import FakeNvml, demo_scenario, mig_gpu


def fake_functions() -> list[str]:
    return sorted(n for n in vars(FakeNvml) if n.startswith("nvml") and callable(getattr(FakeNvml, n)))


def test_bindings_are_nvidia_ml_py() -> None:
    # nvidia-ml-py ships one file, pynvml.py; a `pynvml/` package here would be the deprecated pynvml.
    assert pynvml.__file__.endswith("pynvml.py")
    assert hasattr(pynvml, "nvmlInitWithFlags")


def test_every_fake_function_exists_in_pynvml_with_the_same_signature() -> None:
    names = fake_functions()
    assert len(names) >= 25
    fake = FakeNvml(demo_scenario())
    for n in names:
        assert hasattr(pynvml, n), f"pynvml has no {n}"
        assert inspect.signature(getattr(fake, n)) == inspect.signature(getattr(pynvml, n)), n


def test_unknown_names_fail_like_the_module_and_constants_read_through() -> None:
    fake = FakeNvml(demo_scenario())
    with pytest.raises(AttributeError):
        fake.nvmlDeviceGetUtilisationRates   # misspelt: must not silently work  # noqa: B018
    assert fake.NVML_TEMPERATURE_GPU == pynvml.NVML_TEMPERATURE_GPU
    assert fake.NVMLError_GpuIsLost is pynvml.NVMLError_GpuIsLost
    assert fake.nvmlMemory_v2 == pynvml.nvmlMemory_v2


def test_init_state_and_real_error_classes() -> None:
    fake = FakeNvml(demo_scenario())
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    fake.nvmlInit()
    fake.nvmlShutdown()
    assert fake.nvmlDeviceGetCount() == 2                   # refcounted: still initialised
    fake.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    broken = FakeNvml(demo_scenario(), init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(pynvml.NVMLError_LibraryNotFound) as e:
        broken.nvmlInit()
    assert str(e.value) == "NVML Shared Library Not Found"


def test_structs_handles_and_strings_are_the_real_types() -> None:
    now = [100.0]
    fake = FakeNvml(demo_scenario(["11111111-2222-3333-4444-555555555555"]), clock=lambda: now[0])
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(h, pynvml.c_nvmlDevice_t)
    assert ctypes.cast(fake.nvmlDeviceGetHandleByUUID(fake.nvmlDeviceGetUUID(h)), ctypes.c_void_p).value == \
        ctypes.cast(h, ctypes.c_void_p).value
    assert isinstance(fake.nvmlDeviceGetName(h), str) and fake.nvmlDeviceGetUUID(h).startswith("GPU-")
    assert isinstance(fake.nvmlDeviceGetUtilizationRates(h), pynvml.c_nvmlUtilization_t)
    v2 = fake.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2)
    v1 = fake.nvmlDeviceGetMemoryInfo(h)
    assert isinstance(v2, pynvml.c_nvmlMemory_v2_t) and isinstance(v1, pynvml.c_nvmlMemory_t)
    assert v2.total == v1.total and v1.used == v2.used + v2.reserved     # v1 folds the reserve into used
    (proc,) = fake.nvmlDeviceGetComputeRunningProcesses(h)
    assert isinstance(proc, pynvml.nvmlFriendlyObject) and proc.pid == 4242 and proc.usedGpuMemory > 0
    samples = fake.nvmlDeviceGetProcessUtilization(h, 0)
    assert isinstance(samples[0], pynvml.c_nvmlProcessUtilizationSample_t)
    with pytest.raises(pynvml.NVMLError_NotFound):      # nothing newer than the last timestamp seen
        fake.nvmlDeviceGetProcessUtilization(h, samples[0].timeStamp)
    now[0] += 1.0
    assert fake.nvmlDeviceGetProcessUtilization(h, samples[0].timeStamp)[0].timeStamp > samples[0].timeStamp
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(7)


def test_faults_per_call_and_device_and_lost_gpus() -> None:
    fake = FakeNvml(demo_scenario())
    fake.nvmlInit()
    h0, h1 = fake.nvmlDeviceGetHandleByIndex(0), fake.nvmlDeviceGetHandleByIndex(1)
    fake.fail("nvmlDeviceGetPowerUsage", pynvml.NVML_ERROR_NOT_SUPPORTED, device=1, times=1)
    assert fake.nvmlDeviceGetPowerUsage(h0) > 0
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetPowerUsage(h1)
    assert fake.nvmlDeviceGetPowerUsage(h1) > 0             # only once
    fake.lose(0)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetTemperature(h0, pynvml.NVML_TEMPERATURE_GPU)
    assert fake.nvmlDeviceGetTemperature(h1, pynvml.NVML_TEMPERATURE_GPU) > 0
    old = FakeNvml(demo_scenario(), missing_symbols=["nvmlDeviceGetComputeRunningProcesses_v3"])
    old.nvmlInit()
    with pytest.raises(pynvml.NVMLLibraryMismatchError):
        old.nvmlDeviceGetComputeRunningProcesses(old.nvmlDeviceGetHandleByIndex(0))
    assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)


def test_mig_children() -> None:
    sc = demo_scenario()
    sc.gpus = [mig_gpu(0, 0)]
    fake = FakeNvml(sc)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    assert fake.nvmlDeviceGetMigMode(h) == [pynvml.NVML_DEVICE_MIG_ENABLE] * 2
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetUtilizationRates(h)
    kids = [fake.nvmlDeviceGetMigDeviceHandleByIndex(h, i) for i in range(3)]
    with pytest.raises(pynvml.NVMLError_NotFound):
        fake.nvmlDeviceGetMigDeviceHandleByIndex(h, 3)
    assert [fake.nvmlDeviceGetGpuInstanceId(k) for k in kids] == [7, 8, 5]
    assert fake.nvmlDeviceIsMigDeviceHandle(kids[0]).value == 1 and fake.nvmlDeviceIsMigDeviceHandle(h).value == 0
    parent = fake.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(kids[1])
    assert ctypes.cast(parent, ctypes.c_void_p).value == ctypes.cast(h, ctypes.c_void_p).value
    assert [p.pid for p in fake.nvmlDeviceGetComputeRunningProcesses(kids[1])] == [7001]
    assert fake.nvmlDeviceGetComputeRunningProcesses(kids[0]) == []


def test_xid_events_block_like_nvml_and_use_its_struct() -> None:
    fake = FakeNvml(demo_scenario())
    fake.nvmlInit()
    h1 = fake.nvmlDeviceGetHandleByIndex(1)
    fake.xid(1, 31)                                   # before anyone listens: kept for the first set
    es = fake.nvmlEventSetCreate()
    assert isinstance(es, pynvml.c_nvmlEventSet_t)
    with pytest.raises(pynvml.NVMLError_Timeout):
        fake.nvmlEventSetWait_v2(es, 1)               # nothing registered yet
    fake.nvmlDeviceRegisterEvents(h1, pynvml.nvmlEventTypeXidCriticalError, es)
    data = fake.nvmlEventSetWait_v2(es, 1)
    assert isinstance(data, pynvml.c_nvmlEventData_t) and data.eventData == 31
    assert data.eventType == pynvml.nvmlEventTypeXidCriticalError
    assert ctypes.cast(data.device, ctypes.c_void_p).value == ctypes.cast(h1, ctypes.c_void_p).value
    fake.xid(0, 13)                                   # GPU 0 is not registered with this set: nothing
    with pytest.raises(pynvml.NVMLError_Timeout):
        fake.nvmlEventSetWait(es, 1)
    fake.nvmlEventSetFree(es)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlEventSetWait_v2(es, 1)
    fake.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlEventSetCreate()
