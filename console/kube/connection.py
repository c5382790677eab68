"""One live connection to a cluster: discovery, access planning, and the informers that feed the model.

Access is planned with SelfSubjectAccessReviews before anything is watched, so a namespace-scoped user
gets informers for the namespaces they may read, and the console says what stays hidden instead of
failing on a 403 storm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from . import client as k
from .client import KubeClient, Res
from .discovery import ApiSurface, discover
from .errors import ApiError
from .informer import PAGE_SIZE, Health, Informer, Sink
from .progress import FORBIDDEN, ListProgress, SyncBoard

# What the cluster model is built from; optional ones are skipped when the cluster does not serve them.
CORE_RESOURCES: tuple[Res, ...] = (
    k.NODES, k.NAMESPACES, k.PODS, k.SERVICES, k.RESOURCEQUOTAS, k.DEPLOYMENTS, k.REPLICASETS,
    k.STATEFULSETS, k.JOBS, k.PRIORITYCLASSES,
)
KAI_RESOURCES: tuple[Res, ...] = (k.QUEUES, k.PODGROUPS)
# Watched where the cluster serves them (at the version it serves); an absent API is skipped silently.
SERVING_RESOURCES: tuple[Res, ...] = (k.HPAS, k.KSERVICES, k.KCONFIGURATIONS, k.KREVISIONS, k.INFERENCESERVICES,
                                      k.INFERENCEWORKLOADS)


@dataclass
class AccessPlan:
    """Per resource: None = cluster-wide, else the namespaces this user may list."""

    scopes: dict[str, list[str] | None] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)  # human-readable notes of what cannot be seen


class Connection:
    def __init__(self, client: KubeClient, sink: Sink, *, resources: tuple[Res, ...] | None = None,
                 accept: Callable[[Res], bool] | None = None, default_namespace: str = "default",
                 board: SyncBoard | None = None, page_size: int = PAGE_SIZE) -> None:
        self.client = client
        # List progress of every informer; one board may be shared by several connections (see progress.py).
        self.board = board if board is not None else SyncBoard()
        self.page_size = page_size
        self.sink = sink
        self.wanted = resources
        self.accept = accept
        self.default_namespace = default_namespace
        self.surface = ApiSurface()
        self.plan = AccessPlan()
        self.informers: list[Informer] = []

    @property
    def health(self) -> list[Health]:
        return [i.health for i in self.informers]

    async def _can_list(self, res: Res, namespace: str | None) -> bool:
        try:
            allowed, _ = await self.client.can_i("list", res, namespace)
            if allowed:
                allowed, _ = await self.client.can_i("watch", res, namespace)
            return allowed
        except ApiError as e:
            if e.code in (403, 404):  # reviews themselves not allowed: try and let the informer find out
                return True
            raise

    async def _readable_namespaces(self) -> list[str]:
        if await self._can_list(k.NAMESPACES, None):
            try:
                items, _ = await self.client.list(k.NAMESPACES)
                return sorted(o["metadata"]["name"] for o in items)
            except ApiError as e:
                if e.code != 403:
                    raise
        return [self.default_namespace]

    async def plan_access(self, resources: tuple[Res, ...]) -> AccessPlan:
        plan = AccessPlan()
        namespaces: list[str] | None = None
        for res in resources:
            if await self._can_list(res, None):
                plan.scopes[res.key] = None
                continue
            if not res.namespaced:
                plan.scopes[res.key] = []
                plan.hidden.append(f"{res.key}: not readable by this user")
                continue
            if namespaces is None:
                namespaces = await self._readable_namespaces()
            allowed = [ns for ns in namespaces if await self._can_list(res, ns)]
            plan.scopes[res.key] = allowed
            shown = ", ".join(allowed) if allowed else "none"
            plan.hidden.append(f"{res.key}: only namespaces {shown} are readable")
        return plan

    async def open(self) -> None:
        """Discover, plan, start every informer. Raises ApiError when the cluster cannot be reached."""
        self.surface = await discover(self.client)
        resources = self.wanted or (CORE_RESOURCES + (KAI_RESOURCES if self.surface.has_kai else ())
                                    + tuple(r for r in (self.surface.pick(s) for s in SERVING_RESOURCES) if r))
        if self.accept is not None:
            resources = tuple(r for r in resources if self.accept(r))
        self.plan = await self.plan_access(resources)
        for res in resources:
            scope = self.plan.scopes.get(res.key)
            targets: list[str | None] = [None] if scope is None else list(scope)
            for ns in targets:
                inf = Informer(self.client, res, self.sink, namespace=ns, board=self.board,
                               page_size=self.page_size)
                self.informers.append(inf)
                inf.start()
            if scope == []:
                h = Health(res.key, forbidden=True)
                self.board.report(ListProgress(res.key, phase=FORBIDDEN))
                self.informers.append(_Static(h))  # type: ignore[arg-type]
        self.board.open()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        waits = [i.synced.wait() for i in self.informers if isinstance(i, Informer)]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        for i in self.informers:
            if isinstance(i, Informer):
                await i.stop()


class _Static:
    """A resource the user may not read anywhere: only its health is shown."""

    def __init__(self, health: Health) -> None:
        self.health = health
