"""What the derived views read from the cluster store: records, indexes and a few lookups.

The store builds and refreshes the views; the views see it only through this interface, so the
dependency runs one way (store → views → this) and a view can be fed by anything that offers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

from .records import (
    HpaRec, NodeRec, OwnerKey, OwnerRec, PodGroupRec, PodKey, PodRec, QueueRec, QuotaRec, Ref, ServiceRec, WKey,
)
from .workload_row import WorkloadRow


class WorkloadRows(Protocol):
    """The workloads view as the projects view sums it."""

    rows: Mapping[WKey, WorkloadRow]
    by_project: Mapping[str, set[WKey]]


class StoreReads(Protocol):
    pods: Mapping[PodKey, PodRec]
    owners: Mapping[OwnerKey, OwnerRec]
    queues: Mapping[str, QueueRec]
    podgroups: Mapping[PodKey, PodGroupRec]
    nodes: Mapping[str, NodeRec]
    services: Mapping[PodKey, ServiceRec]
    quotas: Mapping[PodKey, QuotaRec]
    hpas: Mapping[PodKey, HpaRec]
    owner_roots: set[WKey]
    pods_by_node: Mapping[str, Iterable[PodKey]]
    pods_by_queue: Mapping[str, Iterable[PodKey]]
    pods_by_ns: Mapping[str, Iterable[PodKey]]
    pods_by_workload: Mapping[WKey, Iterable[PodKey]]
    fractions_by_group: Mapping[str, Iterable[PodKey]]
    reservations_by_group: Mapping[str, Iterable[PodKey]]
    queue_children: Mapping[str, Iterable[str]]
    pending_shapes: Counter[tuple[str, float]]
    workloads: WorkloadRows

    @property
    def kai_mode(self) -> bool: ...

    def pods_of(self, keys: Iterable[PodKey]) -> list[PodRec]: ...

    def resolved_copy(self, p: PodRec, by_uid: dict[str, OwnerRec] | None = None) -> PodRec: ...

    def top_owner(self, namespace: str, ref: Ref | None, labels: dict[str, str], name: str,
                  by_uid: dict[str, OwnerRec] | None = None) -> tuple[WKey, str, OwnerRec | None]: ...

    def owner_of_workload(self, wkey: WKey) -> OwnerRec | None: ...

    def namespace_quota(self, ns: str) -> QuotaRec | None: ...

    def node_memory(self, node: str) -> int | None: ...

    def hpa_for_target(self, ns: str, kind: str, name: str) -> HpaRec | None: ...

    def orphan_hpa(self, key: WKey) -> HpaRec | None: ...

    def revisions_of(self, ns: str, service: str) -> list[OwnerRec]: ...

    def service_candidates(self, ns: str, name: str, label_sets: Iterable[dict[str, str]]) -> list[ServiceRec]: ...
