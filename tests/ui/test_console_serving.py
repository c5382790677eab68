"""The Workloads pane follows an autoscaled service: load set through `/sim/load` moves its REPLICAS cell."""

from __future__ import annotations

from console.kube import config
from console.kube.client import KubeClient
from console.sim import serving_load

from .conftest import synced, until

SIZE = (200, 50)


def cell(app, name: str, col: int) -> str:  # type: ignore[no-untyped-def]
    t = app.pane("workloads").table
    key = next(k for k in t.order if len(k) == 3 and k[2] == name)
    return t.visible_cells(key)[col].strip()


async def test_raising_load_moves_the_replicas_cell_to_the_max(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("3")
        assert cell(app, "reranker", 3) == "1/1 (1–4)" and cell(app, "reranker", 4) == "conc 2"
        now = demo_env.cluster.clock.now()
        before = serving_load.of(demo_env.cluster).offered(("runai-search-ranking", "reranker"), now)
        # through the console's own client, trusting the simulator's CA from the kubeconfig
        async with KubeClient(config.load(demo_env.kubeconfig, None), max_retries=1) as client:
            r = await client.request("POST", "/sim/load", body={"namespace": "runai-search-ranking",
                                                                "name": "reranker", "rps": before * 5})
            assert r["rps"] == before * 5
        for _ in range(10):  # ten seconds of the simulator's clock
            demo_env.cluster.clock.advance(1)
            demo_env.cluster.settle()
        await until(pilot, lambda: cell(app, "reranker", 3) == "4/4 (1–4) ⤒", timeout=15,
                    what="the reranker at its max")
        pane = app.pane("workloads")
        key = next(k for k in pane.table.order if len(k) == 3 and k[2] == "reranker")
        assert "at its max" in pane.model.detail(key).plain
