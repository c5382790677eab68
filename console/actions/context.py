"""What an action's planner and sender need of the session that runs it: a client, the cluster's facts,
and the permission check. The session calls the action modules; they see it only through this."""

from __future__ import annotations

from typing import Protocol

from console.kube.client import KubeClient

from .facts import ClusterFacts
from .permissions import Need, Verdict


class ActionContext(Protocol):
    client: KubeClient

    async def facts(self) -> ClusterFacts: ...

    async def may(self, action: str, needs: list[Need], namespace: str | None) -> Verdict: ...
