"""Fault injection for the simulated apiserver: the failures a real cluster's clients must survive.

Faults are applied by the HTTP server to every request except the admin fault endpoint itself, so
a test (or an operator trying the console) can always turn them off again. Store-level faults (drop
watches, expire the watch window, restart with a new resourceVersion epoch) act on the store at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

FAIL_CODES = {500: ("InternalError", "Internal error occurred: injected fault"),
              503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
              429: ("TooManyRequests", "the server has received too many requests and has asked us to try "
                                       "again later")}
ACTIONS = ("drop_watches", "fail", "latency", "expire_window", "stall", "resume", "restart", "clear")


@dataclass
class Faults:
    """What is currently injected. The server calls `before_request()` for each request it faults."""

    cluster: Any
    fail_remaining: int = 0
    fail_code: int = 500
    retry_after: float = 1.0
    latency_s: float = 0.0
    stalled_until: float = 0.0  # monotonic deadline; requests wait until it passes or resume()
    dropped_watches: int = 0
    failed_requests: int = 0
    _resume: asyncio.Event | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- in-process API
    def drop_watches(self) -> int:
        """Close every open watch (clients see the stream end and must resume)."""
        n = self.cluster.store.drop_watches()
        self.dropped_watches += n
        return n

    def fail_next(self, count: int, code: int = 500, retry_after: float = 1.0) -> None:
        if code not in FAIL_CODES:
            raise ValueError(f"code must be one of {sorted(FAIL_CODES)}, not {code}")
        if count < 0:
            raise ValueError("count must be >= 0")
        self.fail_remaining, self.fail_code, self.retry_after = count, code, retry_after

    def add_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self.latency_s = seconds

    def expire_window(self) -> None:
        """The next watch resume from any earlier resourceVersion gets 410 Expired."""
        self.cluster.store.expire_window()

    def stall(self, seconds: float) -> None:
        """Stop answering for `seconds`: requests hang, then proceed (or their client times out)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.stalled_until = time.monotonic() + seconds
        self._resume = asyncio.Event()

    def resume(self) -> None:
        """End a stall now; hanging requests proceed."""
        self.stalled_until = 0.0
        if self._resume is not None:
            self._resume.set()

    def restart(self) -> None:
        """As after an etcd restore: watches drop, every object gets a new resourceVersion, history is gone."""
        self.cluster.store.restart_epoch()

    def clear(self) -> None:
        self.fail_remaining = 0
        self.latency_s = 0.0
        self.resume()

    def state(self) -> dict[str, Any]:
        return {"failRemaining": self.fail_remaining, "failCode": self.fail_code, "retryAfter": self.retry_after,
                "latencySeconds": self.latency_s,
                "stalledSeconds": max(0.0, self.stalled_until - time.monotonic()),
                "droppedWatches": self.dropped_watches, "failedRequests": self.failed_requests,
                "openWatches": self.cluster.store.open_watches,
                "resourceVersion": str(self.cluster.store.resource_version)}

    # ---------------------------------------------------------------- request path
    async def before_request(self) -> None:
        """Apply stall, latency and injected failures, in that order."""
        remaining = self.stalled_until - time.monotonic()
        if remaining > 0 and self._resume is not None:
            try:
                await asyncio.wait_for(self._resume.wait(), remaining)
            except TimeoutError:
                pass
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if self.fail_remaining > 0:
            self.fail_remaining -= 1
            self.failed_requests += 1
            reason, msg = FAIL_CODES[self.fail_code]
            raise ApiError(self.fail_code, msg, reason,
                           retry_after=self.retry_after if self.fail_code in (429, 503) else None)

    # ---------------------------------------------------------------- HTTP API
    def apply_json(self, body: Any) -> dict[str, Any]:
        """`POST /sim/faults` body: {"action": ..., ...}; raises ApiError 400 for a bad request."""
        if not isinstance(body, dict) or body.get("action") not in ACTIONS:
            raise ApiError(400, f"body must be a JSON object with action one of: {', '.join(ACTIONS)}",
                           "BadRequest")
        act = body["action"]
        try:
            if act == "drop_watches":
                n = self.drop_watches()
                return {"action": act, "dropped": n, **self.state()}
            if act == "fail":
                self.fail_next(int(body.get("count", 1)), int(body.get("code", 500)),
                               float(body.get("retryAfter", 1)))
            elif act == "latency":
                self.add_latency(float(body.get("seconds", 0)))
            elif act == "expire_window":
                self.expire_window()
            elif act == "stall":
                self.stall(float(body.get("seconds", 0)))
            elif act == "resume":
                self.resume()
            elif act == "restart":
                self.restart()
            else:
                self.clear()
        except (TypeError, ValueError) as e:
            raise ApiError(400, f"fault {act}: {e}", "BadRequest") from None
        return {"action": act, **self.state()}


def install(cluster: Any) -> Faults:
    """Put a Faults object at `cluster.extras["faults"]` (reused if already there)."""
    f = cluster.extras.get("faults")
    if not isinstance(f, Faults):
        f = Faults(cluster)
        cluster.extras["faults"] = f
    return f
