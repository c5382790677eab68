"""Which optional APIs this cluster serves: KAI, Run:ai, Knative, Kueue are discovered, never assumed."""

from __future__ import annotations

from dataclasses import dataclass, field

from .client import KubeClient, Res
from .errors import ApiError

OPTIONAL_GROUPS = {
    "scheduling.run.ai": "KAI Scheduler",
    "run.ai": "Run:ai",
    "serving.knative.dev": "Knative Serving",
    "serving.kserve.io": "KServe",
    "kueue.x-k8s.io": "Kueue",
    "custom.metrics.k8s.io": "custom metrics API",
}
# Built-in groups whose resource lists are read too: which autoscaling versions the cluster serves.
PROBED_GROUPS = ("autoscaling",)


@dataclass
class ApiSurface:
    server_version: str = ""
    groups: dict[str, list[str]] = field(default_factory=dict)  # group → served versions, preferred first
    resources: dict[str, set[str]] = field(default_factory=dict)  # "group/version" → plurals

    def serves(self, group: str, version: str, plural: str) -> bool:
        gv = f"{group}/{version}" if group else version
        return plural in self.resources.get(gv, set())

    @property
    def has_kai(self) -> bool:
        return self.serves("scheduling.run.ai", "v2", "queues")

    def pick(self, res: Res) -> Res | None:
        """`res` at a version this cluster serves (its own first, else the group's preferred), or None."""
        if self.serves(res.group, res.version, res.plural):
            return res
        for ver in self.groups.get(res.group, []):
            if self.serves(res.group, ver, res.plural):
                return Res(res.group, ver, res.plural, res.namespaced, res.kind)
        return None

    @property
    def has_knative(self) -> bool:
        return self.serves("serving.knative.dev", "v1", "services")

    @property
    def has_custom_metrics(self) -> bool:
        return "custom.metrics.k8s.io" in self.groups

    def optional(self) -> dict[str, bool]:
        return {name: g in self.groups for g, name in OPTIONAL_GROUPS.items()}


async def discover(client: KubeClient) -> ApiSurface:
    """Legacy discovery documents: /version, /apis, then each optional group's versions."""
    surface = ApiSurface()
    try:
        v = await client.version()
        surface.server_version = str(v.get("gitVersion") or "")
    except ApiError as e:
        if e.unreachable:
            raise
    groups = await client.request("GET", "/apis")
    for g in (groups or {}).get("groups") or []:
        versions = [x["version"] for x in g.get("versions") or []]
        pref = (g.get("preferredVersion") or {}).get("version")
        if pref in versions:
            versions.remove(pref)
            versions.insert(0, pref)
        surface.groups[g["name"]] = versions
    wanted = [g for g in (*OPTIONAL_GROUPS, *PROBED_GROUPS) if g in surface.groups]
    for g in wanted:
        for ver in surface.groups[g]:
            try:
                doc = await client.request("GET", f"/apis/{g}/{ver}")
            except ApiError as e:
                if e.code in (403, 404, 503):
                    continue
                raise
            surface.resources[f"{g}/{ver}"] = {r["name"] for r in (doc or {}).get("resources") or []
                                               if "/" not in r["name"]}
    return surface
