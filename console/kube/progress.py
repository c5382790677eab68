"""How far each informer's list has come, as one immutable value the UI (or a one-shot command) reads.

A figure the console shows is only true once every list it is computed from is complete: 0 of 16,000
GPUs allocated, read while the pods are still listing, is a lie. Informers report each page here; the
`SyncBoard` turns the reports into a `SyncSnapshot` that says which resources are complete, which are
listing (for the first time, or again after a 410 or a broken connection), how many items have arrived,
how many the server said remain (`metadata.remainingItemCount`), and how fast they come.

Hand-over rule: the board is written only on the informers' event loop (their thread in the console).
Each report builds a new `SyncSnapshot` (frozen, holding only tuples and frozen records) and replaces
`board.snapshot` by reference. Readers on any thread read `board.snapshot` once and use that value; they
never see a half-updated one and never write to it. A resource is reported complete only after its sink
has committed the list, so a reader that takes the snapshot *before* it reads the sink never claims a
figure complete that the sink does not hold yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace

# Phases of one informer.
WAITING = "waiting"        # not listing yet
LISTING = "listing"        # pages are arriving
APPLYING = "applying"      # every page is in; the sink is taking the list in
WATCHING = "watching"      # the list is complete and committed; watch events keep it current
FORBIDDEN = "forbidden"    # the user may not list it: settled, nothing will come
ABSENT = "absent"          # the cluster does not serve it: settled, nothing will come

BAR_FULL, BAR_EMPTY = "█", "░"


@dataclass(frozen=True, slots=True)
class ListProgress:
    """One informer's list (one resource, or one resource in one namespace)."""

    kind: str
    namespace: str | None = None
    phase: str = WAITING
    listed: int = 0                  # items received in the list under way (or in the last complete one)
    total: int | None = None         # items the list will hold, when known
    total_exact: bool = False        # the server said so (remainingItemCount); else the previous list's count
    started: float = 0.0             # monotonic time this list attempt began
    complete_once: bool = False      # the sink holds a complete list (this one or an earlier one)
    error: str = ""                  # why the last attempt failed, while it is retried

    @property
    def settled(self) -> bool:
        """Its figures can be shown: the sink holds a complete list, or nothing will ever come."""
        return self.complete_once or self.phase in (FORBIDDEN, ABSENT)

    @property
    def busy(self) -> bool:
        return self.phase in (WAITING, LISTING, APPLYING)


@dataclass(frozen=True, slots=True)
class KindProgress:
    """Every informer of one resource merged (namespace-scoped users have one per namespace)."""

    kind: str
    phase: str
    listed: int
    total: int | None
    total_exact: bool
    started: float                   # the list under way began (else the last complete one)
    settled: bool
    relist: bool                     # listing again after a complete list: the figures shown are stale
    error: str

    def fraction(self) -> float | None:
        if self.phase == APPLYING:
            return 1.0
        if self.total is None:
            return None
        return 1.0 if self.total <= 0 else min(1.0, self.listed / self.total)

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate so far; None while no rate or no total is known."""
        if self.phase == APPLYING:
            return 0.0
        if self.total is None or self.listed <= 0 or self.started <= 0:
            return None
        elapsed = now - self.started
        if elapsed <= 0:
            return None
        return max(0.0, (self.total - self.listed) / (self.listed / elapsed))


_PHASE_RANK = {LISTING: 0, WAITING: 1, APPLYING: 2, WATCHING: 3, FORBIDDEN: 4, ABSENT: 5}


def _merge(kind: str, parts: list[ListProgress]) -> KindProgress:
    busy = [p for p in parts if p.busy]
    phase = min((p.phase for p in parts), key=lambda ph: _PHASE_RANK.get(ph, 9))
    totals = [p.total for p in parts]
    total = None if any(t is None for t in totals) else sum(t for t in totals if t is not None)
    started = min((p.started for p in (busy or parts) if p.started), default=0.0)
    return KindProgress(
        kind=kind, phase=phase, listed=sum(p.listed for p in parts), total=total,
        total_exact=all(p.total_exact for p in parts), started=started,
        settled=all(p.settled for p in parts), relist=any(p.busy and p.complete_once for p in parts),
        error=next((p.error for p in parts if p.error), ""))


@dataclass(frozen=True, slots=True)
class SyncSnapshot:
    """Which lists are complete and how far the others have come, at one moment."""

    opened: bool = False             # every informer is known: an empty snapshot before that means nothing
    parts: tuple[ListProgress, ...] = ()
    kinds: tuple[KindProgress, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, parts: Iterable[ListProgress], opened: bool) -> SyncSnapshot:
        parts = tuple(parts)
        by: dict[str, list[ListProgress]] = {}
        for p in parts:
            by.setdefault(p.kind, []).append(p)
        return cls(opened, parts, tuple(_merge(k, v) for k, v in sorted(by.items())))

    def kind(self, name: str) -> KindProgress | None:
        return next((k for k in self.kinds if k.kind == name), None)

    def known(self, kinds: Collection[str]) -> bool:
        """Every list these figures are computed from is complete (or will never come): they are true.

        Kinds nobody watches are not waited for; before the informers are known nothing is.
        """
        return self.opened and all(k.settled for k in self.kinds if k.kind in kinds)

    def stale(self, kinds: Collection[str]) -> bool:
        """A list these figures come from is being taken again: what is shown is the last complete one."""
        return any(k.relist for k in self.kinds if k.kind in kinds)

    def waiting_on(self, kinds: Collection[str]) -> list[KindProgress]:
        """The lists these figures wait for, first or again."""
        return [k for k in self.kinds if k.kind in kinds and (not k.settled or k.relist)]

    @property
    def busy(self) -> list[KindProgress]:
        """Resources whose list is under way (first or again), longest to go first."""
        return [k for k in self.kinds if k.phase in (WAITING, LISTING, APPLYING)]

    @property
    def syncing(self) -> bool:
        return not self.opened or bool(self.busy)


COMPLETE = SyncSnapshot(opened=True)   # a model filled in advance: every figure is known
UNKNOWN = SyncSnapshot(opened=False)   # not connected yet: no figure is


class SyncBoard:
    """Where informers report list progress; readers take `snapshot` (see the module's hand-over rule)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.snapshot: SyncSnapshot = UNKNOWN
        self._parts: dict[tuple[str, str | None], ListProgress] = {}
        self._opened = False
        self.listeners: list[Callable[[SyncSnapshot], None]] = []

    def _publish(self) -> None:
        snap = SyncSnapshot.of(self._parts.values(), self._opened)
        self.snapshot = snap
        for f in list(self.listeners):
            f(snap)

    def get(self, kind: str, namespace: str | None) -> ListProgress:
        return self._parts.get((kind, namespace)) or ListProgress(kind, namespace)

    def report(self, p: ListProgress) -> None:
        self._parts[(p.kind, p.namespace)] = p
        self._publish()

    def update(self, kind: str, namespace: str | None, **changes: object) -> ListProgress:
        p = replace(self.get(kind, namespace), **changes)  # type: ignore[arg-type]
        self.report(p)
        return p

    def open(self) -> None:
        """Every informer has been registered: from now on the snapshot speaks for the whole cluster."""
        self._opened = True
        self._publish()


# ---------------------------------------------------------------------------------------------- text
# The progress line as (text, role) segments, so the console styles them and `gpuconsole snapshot` prints
# them plain: roles are label, bar, bar-empty, count, eta, muted, warn.
Segment = tuple[str, str]
SHORT = {"queues.scheduling.run.ai": "queues", "podgroups.scheduling.run.ai": "podgroups",
         "deployments.apps": "deploy", "replicasets.apps": "rs", "statefulsets.apps": "sts", "jobs.batch": "jobs",
         "priorityclasses.scheduling.k8s.io": "pc", "resourcequotas": "quotas", "namespaces": "ns",
         "services": "svc"}


def fmt_eta(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 1:
        return "<1s"
    if s < 90:
        return f"{s:.0f}s"
    m, sec = divmod(int(s + 0.5), 60)
    return f"{m}m{sec:02d}s"


def bar(fraction: float | None, width: int) -> list[Segment]:
    if fraction is None:
        return [(BAR_EMPTY * width, "bar-empty")]
    done = max(0, min(width, int(round(fraction * width))))
    return [(BAR_FULL * done, "bar"), (BAR_EMPTY * (width - done), "bar-empty")]


def _count(k: KindProgress) -> str:
    if k.total is None:
        return f"{k.listed:,}/?"
    return f"{k.listed:,}/{'' if k.total_exact else '~'}{k.total:,}"


def progress_segments(snap: SyncSnapshot, now: float, *, bar_width: int = 20,
                      kind_bar_width: int = 6) -> list[Segment]:
    """The sync progress: an overall bar, items so far of the total, the time left at the rate so far,
    then each resource still listing (its own bar, count and time left), slowest first. Empty when
    everything is synced."""
    busy = snap.busy
    if not snap.opened or not busy:
        return []
    relist = all(k.relist for k in busy)
    # The overall bar counts this wave of lists: those under way and those that began with them and are
    # done (so the bar never goes back when one completes), not lists completed long before a re-list.
    wave = min((k.started for k in busy if k.started), default=0.0)
    done = [k for k in snap.kinds if k.phase == WATCHING and wave and k.started >= wave - 1.0]
    listed = sum(k.listed for k in busy + done)
    known = [k for k in busy + done if k.total is not None or k.phase == APPLYING]
    total = sum((k.total if k.total is not None else k.listed) for k in known)
    done_known = sum(min(k.listed, k.total if k.total is not None else k.listed) for k in known)
    frac = (done_known / total if total else (1.0 if known and all(k.phase == APPLYING for k in known) else None))
    etas = [k.eta(now) for k in busy]
    eta_known = [e for e in etas if e is not None]
    out: list[Segment] = [("re-listing " if relist else "syncing ", "label")]
    out += bar(frac, bar_width)
    out.append((f" {frac * 100:3.0f}%" if frac is not None else "   ?%", "count"))
    unknown_total = any(k.total is None and k.phase != APPLYING for k in busy)
    out.append((f" · {listed:,}/{total:,}{'+?' if unknown_total else ''} items", "count"))
    if eta_known:
        more = "+" if len(eta_known) < len(etas) else ""
        out.append((f" · ~{fmt_eta(max(eta_known))}{more} left", "eta"))
    else:
        out.append((" · time left ?", "eta"))

    def slowest(k: KindProgress) -> tuple[int, float, int]:
        """Longest time left first; then lists whose size is not known yet; those not started last."""
        e = k.eta(now)
        return (2 if k.phase == WAITING else (0 if e is not None else 1), -(e or 0.0), -k.listed)

    for k in sorted(busy, key=slowest):
        out.append((" · ", "muted"))
        out.append((SHORT.get(k.kind, k.kind) + " ", "label"))
        out += bar(k.fraction(), kind_bar_width)
        out.append((" " + _count(k), "count"))
        if k.phase == APPLYING:
            out.append((" applying…", "eta"))
        elif k.phase == WAITING:
            out.append((" waiting", "muted"))
        elif (eta := k.eta(now)) is not None:
            out.append((f" ~{fmt_eta(eta)}", "eta"))
        if k.error:
            out.append((f" retrying: {k.error[:60]}", "warn"))
    if relist:
        out.append((" · figures shown are from the last complete list", "muted"))
    return out


def progress_text(snap: SyncSnapshot, now: float, **kw: int) -> str:
    return "".join(t for t, _ in progress_segments(snap, now, **kw))
