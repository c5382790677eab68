"""Install the simulated cluster's own machinery: serving and workload controllers, autoscalers, kubelet,
endpoints, dcgm-exporter.

The KAI scheduler and admission are installed separately (`console.sim.scheduler`, `.validation`);
these controllers need only the store, so a test can run them with or without a scheduler.
"""

from __future__ import annotations

from .cluster import SimCluster


def install(cluster: SimCluster, start_delay: float = 0.0) -> None:
    """Add the controllers (in round order), the pod log source, the 9400 exporter proxy and the inference
    servers' metrics pages."""
    from . import endpoints, exporter, hpa, knative, kpa, kserve, kubelet, runai_inference, serving_metrics, workloads

    runai_inference.install(cluster)
    kserve.install(cluster)
    knative.install(cluster)
    kpa.install(cluster)
    hpa.install(cluster)
    workloads.install(cluster)
    kubelet.install(cluster, start_delay=start_delay)
    endpoints.install(cluster)
    exporter.install(cluster)
    serving_metrics.install(cluster)


def resync(cluster: SimCluster) -> None:
    """After `store.load`: controllers that index the store rebuild their indexes at their next round."""
    for c in cluster.controllers:
        fn = getattr(c, "resync", None)
        if callable(fn):
            fn()
