"""XID errors from NVML: the only way NVML reports them is as events, and waiting for one blocks.

`nvmlEventSetWait_v2` blocks the calling thread up to its timeout (and raises `NVMLError_Timeout` when
nothing came), so the watcher owns a daemon thread of its own and waits in short slices so that it can
stop promptly. Hand-over rule: the watcher thread writes `_last` (UUID → (XID, when)) only under
`_lock`; readers take a copy under the same lock (`last()`), so neither ever sees a half-written entry.
NVML cannot report some XIDs this way (79 "fallen off the bus", 119 and 120: NVIDIA/DCGM#162); a GPU
that fell off the bus shows up as lost in the sampler instead.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("gpuconsole.telemetry")


def _address(handle: Any) -> int:
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


class XidWatcher:
    """Registers each GPU for `nvmlEventTypeXidCriticalError` and records the last XID per GPU UUID."""

    def __init__(self, nvml: Any, devices: Sequence[tuple[str, Any]], *, wait_ms: int = 500,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.nvml = nvml
        self.devices = [(uuid, h) for uuid, h in devices if uuid and h is not None]
        self.wait_ms = wait_ms
        self.clock = clock
        self.watched: list[str] = []            # UUIDs whose XIDs this watcher can see
        self.error: str | None = None           # why it watches nothing (or stopped)
        self._lock = threading.Condition()
        self._last: dict[str, tuple[int, float]] = {}
        self.received = 0                       # XID events recorded so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._set: Any = None
        self._by_address: dict[int, str] = {}

    def start(self) -> bool:
        """Create the event set and the thread; False (and `error`) when no GPU can report XIDs."""
        nvml = self.nvml
        try:
            self._set = nvml.nvmlEventSetCreate()
        except (nvml.NVMLError, AttributeError) as e:
            self.error = f"XID events unavailable: {e}"
            return False
        for uuid, h in self.devices:
            try:
                nvml.nvmlDeviceRegisterEvents(h, nvml.nvmlEventTypeXidCriticalError, self._set)
            except nvml.NVMLError as e:   # NotSupported on some boards, NoPermission without root
                log.info("NVML: no XID events for %s: %s", uuid, e)
                continue
            self.watched.append(uuid)
            self._by_address[_address(h)] = uuid
        if not self.watched:
            self.error = "XID events unavailable: no GPU accepts the registration"
            self._free()
            return False
        self._thread = threading.Thread(target=self._run, name="gpuconsole-nvml-xid", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        nvml = self.nvml
        while not self._stop.is_set():
            try:
                data = nvml.nvmlEventSetWait_v2(self._set, self.wait_ms)
            except nvml.NVMLError as e:
                if getattr(e, "value", None) == nvml.NVML_ERROR_TIMEOUT:
                    continue
                self.error = f"XID events: {e}"
                if self._stop.wait(5.0):          # a failing wait must not spin
                    return
                continue
            except Exception as e:  # a broken binding must end the watcher, never the console
                self.error = f"XID events stopped: {type(e).__name__}: {e}"
                return
            if not data.eventType & nvml.nvmlEventTypeXidCriticalError:
                continue
            uuid = self._by_address.get(_address(data.device))
            if uuid is None:
                continue
            with self._lock:
                self._last[uuid] = (int(data.eventData), self.clock())
                self.received += 1
                self._lock.notify_all()

    def last(self) -> dict[str, tuple[int, float]]:
        """UUID → (last XID, when it came, on `clock`)."""
        with self._lock:
            return dict(self._last)

    def wait(self, count: int, timeout: float) -> bool:
        """Block until `count` XID events have been recorded (or `timeout` s pass); for callers that
        must know an event has arrived rather than guess how long it takes."""
        with self._lock:
            return self._lock.wait_for(lambda: self.received >= count, timeout)

    def stop(self) -> None:
        """Stop the thread (within one wait slice) and free the event set. Blocks: call it off the UI."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(self.wait_ms / 1000.0 + 2.0)
        if t is None or not t.is_alive():
            self._free()

    def _free(self) -> None:
        s, self._set = self._set, None
        if s is not None:
            try:
                self.nvml.nvmlEventSetFree(s)
            except Exception as e:  # freeing on a broken library must not fail the console's exit
                log.debug("nvmlEventSetFree failed: %s", e)
