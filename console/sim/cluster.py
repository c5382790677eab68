"""The simulated cluster: the store, its controllers, and the hooks the HTTP server serves from.

Controllers talk to each other only through the store, as real Kubernetes controllers do through the
apiserver. `settle()` runs them until nothing changes, so tests await a state instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from .clock import SimClock
from .graceful import GracefulTerminator
from .store import Obj, Store

# (pod, container or None, tail lines or None) -> log lines
LogSource = Callable[[Obj, str | None, int | None], list[str]]
# (pod, path after the port, query) -> (content type, body)
ProxyHandler = Callable[[Obj, str, dict[str, str]], tuple[str, bytes]]


class Controller(Protocol):
    name: str

    def reconcile(self) -> bool:
        """Do the work that is due; return True when the store was changed."""


def default_logs(pod: Obj, container: str | None, tail: int | None) -> list[str]:
    md = pod.get("metadata", {})
    lines = [f"[{md.get('creationTimestamp', '')}] {md.get('namespace')}/{md.get('name')} "
             f"container {container or 'main'} started"]
    return lines[-tail:] if tail else lines


class SimCluster:
    """Everything the simulated apiserver serves from."""

    def __init__(self, seed: int = 42, manual_clock: bool = False, window: int = 20_000,
                 without: frozenset[str] = frozenset()) -> None:
        self.seed = seed
        self.without = frozenset(without)  # optional API groups this cluster does not serve (no CRD)
        self.clock = SimClock(manual=manual_clock)
        self.store = Store(window=window, seed=seed, sim_now=self.clock.now)
        self.controllers: list[Controller] = [GracefulTerminator(self)]
        self.log_source: LogSource = default_logs
        self.proxies: dict[int, ProxyHandler] = {}  # pod proxy handlers by port
        self.tick_s = 0.1
        self.extras: dict[str, Any] = {}
        self._task: asyncio.Task | None = None

    def add(self, controller: Controller) -> None:
        self.controllers.append(controller)

    def step(self) -> bool:
        changed = False
        for c in self.controllers:
            if c.reconcile():
                changed = True
        return changed

    def settle(self, max_rounds: int = 200) -> int:
        """Run every controller until a round changes nothing; returns the rounds taken."""
        for i in range(max_rounds):
            if not self.step():
                return i
        return max_rounds

    async def run(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # a controller bug must not stop the cluster
                import logging
                logging.getLogger("gpuconsole.sim").exception("controller round failed")
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
