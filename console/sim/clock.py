"""Simulation time: real seconds by default, advanced by hand in tests so nothing sleeps."""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, manual: bool = False, start: float = 0.0) -> None:
        self.manual = manual
        self._offset = start
        self._base = time.monotonic()

    def now(self) -> float:
        """Seconds since the simulation started (plus whatever was advanced)."""
        if self.manual:
            return self._offset
        return time.monotonic() - self._base + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
