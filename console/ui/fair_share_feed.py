"""KAI's own fair shares for the Projects pane, read from the KAI scheduler's metrics on the informers' loop.

`tick()` runs on the informers' loop (`LiveSession.off_ui`): listing the scheduler's pods and reading
its metrics through the API server must not hold up frames. The result, an immutable `KaiFairShare`, is
handed to the model under the session lock (the rule every writer of the model follows); the next drain
recomputes the fair-share table and redraws the project rows it moved. When the metrics cannot be read
the table is computed with KAI's rules and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.telemetry.kai_metrics import KaiFairShare, KaiMetricsReader

ReaderFactory = Callable[[Any], KaiMetricsReader | None]


def kai_reader(session: Any) -> KaiMetricsReader | None:
    """The cluster's KAI scheduler, read with the informers' client; None without a live connection."""
    client = getattr(session, "informer_client", None)
    return KaiMetricsReader(client) if client is not None else None


class FairShareFeed:
    def __init__(self, session: Any, factory: ReaderFactory = kai_reader) -> None:
        self.session = session
        self.factory = factory
        self.reader: KaiMetricsReader | None = None
        self._made = False
        self.last: KaiFairShare | None = None

    @property
    def interval_s(self) -> float:
        return self.reader.interval_s if self.reader is not None else 10.0

    async def tick(self) -> bool:
        """Read once (the reader returns its last answer within its interval); True when it is new."""
        if not self._made:
            self._made = True
            self.reader = self.factory(self.session)
            if self.reader is None:
                return False
        if self.reader is None or not self.session.store.kai_mode:
            return False
        got = await self.reader.read()
        if got is self.last:
            return False
        self.last = got
        with self.session.lock:
            self.session.store.set_kai_fair_share(got)
        return True
