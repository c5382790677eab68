"""get / list / create / update / patch / delete over HTTP, with selectors, pagination and dry-run."""

from __future__ import annotations

import pytest

from console.sim.resources import DEPLOYMENTS, NAMESPACES, PODS, REPLICASETS
from tests.conftest import PROJECT_NS

PODS_URL = f"/api/v1/namespaces/{PROJECT_NS}/pods"
DEPLOY_URL = f"/apis/apps/v1/namespaces/{PROJECT_NS}/deployments"


def _pod(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}


def _deploy(name: str = "web", replicas: int = 2) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}}}


async def test_create_fills_server_fields_and_get_returns_it(sim_server) -> None:
    async with sim_server.client() as c:
        r = await c.post(PODS_URL, json={**_pod(""), "metadata": {"generateName": "job-"}})
        assert r.status_code == 201
        obj = r.json()
        md = obj["metadata"]
        assert md["name"].startswith("job-") and len(md["name"]) == 9
        assert md["uid"] and md["creationTimestamp"] and md["generation"] == 1 and int(md["resourceVersion"]) > 0
        assert obj["status"]["phase"] == "Pending"
        got = (await c.get(f"{PODS_URL}/{md['name']}")).json()
        assert got["metadata"]["uid"] == md["uid"]


async def test_create_accepts_yaml_bodies(sim_server) -> None:
    body = "apiVersion: v1\nkind: Pod\nmetadata: {name: y1}\nspec:\n  containers: [{name: c, image: i:1}]\n"
    async with sim_server.client() as c:
        r = await c.post(PODS_URL, content=body, headers={"Content-Type": "application/yaml"})
        assert r.status_code == 201 and r.json()["metadata"]["name"] == "y1"


async def test_list_selectors_and_all_namespaces(sim_server) -> None:
    s = sim_server.cluster.store
    for i, (app, tier) in enumerate([("a", "web"), ("b", "web"), ("c", "db")]):
        s.create(PODS, _pod(f"x{i}", app=app, tier=tier), PROJECT_NS)
    s.create(PODS, _pod("d0", app="a"), "default")
    async with sim_server.client("viewer") as c:
        async def names(url: str, **params) -> list[str]:
            r = await c.get(url, params=params)
            assert r.status_code == 200, r.text
            return [o["metadata"]["name"] for o in r.json()["items"]]
        assert await names(PODS_URL, labelSelector="tier=web") == ["x0", "x1"]
        assert await names(PODS_URL, labelSelector="tier==web,app!=a") == ["x1"]
        assert await names(PODS_URL, labelSelector="app in (a, c)") == ["x0", "x2"]
        assert await names(PODS_URL, labelSelector="app notin (a,c),tier") == ["x1"]
        assert await names(PODS_URL, labelSelector="!tier") == ["p1"]
        assert await names("/api/v1/pods", labelSelector="app=a") == ["d0", "x0"]
        assert await names("/api/v1/pods", fieldSelector="metadata.namespace=default") == ["d0"]
        assert await names("/api/v1/pods", fieldSelector="metadata.name=x2,status.phase=Pending") == ["x2"]
        assert await names("/api/v1/pods", fieldSelector="spec.nodeName=node-1") == []
        lst = (await c.get("/api/v1/pods")).json()
        assert lst["kind"] == "PodList" and int(lst["metadata"]["resourceVersion"]) == s.resource_version


@pytest.mark.parametrize("params", [{"labelSelector": "app in (a"}, {"labelSelector": "a=b=c"},
                                    {"fieldSelector": "spec.bogus=1"}, {"limit": "ten"}])
async def test_bad_selectors_and_params_are_400(sim_server, params) -> None:
    async with sim_server.client() as c:
        r = await c.get("/api/v1/pods", params=params)
        assert r.status_code == 400
        assert r.json()["kind"] == "Status" and r.json()["reason"] == "BadRequest"


async def test_pagination_with_limit_and_continue(sim_server) -> None:
    s = sim_server.cluster.store
    for i in range(7):
        s.create(PODS, _pod(f"pg{i}"), "default")
    seen: list[str] = []
    async with sim_server.client() as c:
        token = None
        pages = 0
        while True:
            params = {"limit": "3"} | ({"continue": token} if token else {})
            body = (await c.get("/api/v1/pods", params=params)).json()
            pages += 1
            seen += [o["metadata"]["name"] for o in body["items"]]
            token = body["metadata"].get("continue")
            if pages == 1:
                assert body["metadata"]["remainingItemCount"] == 5
            if not token:
                break
        assert pages == 3 and len(seen) == 8 and len(set(seen)) == 8
        bad = await c.get("/api/v1/pods", params={"limit": "2", "continue": "garbage!"})
        assert bad.status_code == 400


async def test_remaining_item_count_as_kube_apiserver_sets_it(sim_server) -> None:
    """remainingItemCount: on every page with a continue token, exact (items so far + it = the list), per
    namespace for a namespaced list; never on the last page, an unpaginated list, a list with a label or
    field selector, or a `resourceVersion=0` list (served whole from the watch cache, limit ignored)."""
    s = sim_server.cluster.store
    for i in range(7):
        s.create(PODS, _pod(f"rc{i}", app="rc"), PROJECT_NS)
    async with sim_server.client() as c:
        for url in ("/api/v1/pods", PODS_URL):
            whole = (await c.get(url)).json()
            assert "remainingItemCount" not in whole["metadata"] and "continue" not in whole["metadata"]
            n = len(whole["items"])
            token, got = None, 0
            while True:
                md = (body := (await c.get(url, params={"limit": "3"} | ({"continue": token} if token else {})
                                           )).json())["metadata"]
                got += len(body["items"])
                token = md.get("continue")
                if not token:
                    assert "remainingItemCount" not in md
                    break
                assert got + md["remainingItemCount"] == n
            assert got == n
        for params in ({"labelSelector": "app=rc"}, {"fieldSelector": f"metadata.namespace={PROJECT_NS}"}):
            md = (await c.get("/api/v1/pods", params={"limit": "2", **params})).json()["metadata"]
            assert md.get("continue") and "remainingItemCount" not in md
        cached = (await c.get("/api/v1/pods", params={"limit": "2", "resourceVersion": "0"})).json()
        assert len(cached["items"]) == len(s.items(PODS)) and "continue" not in cached["metadata"]
        assert "remainingItemCount" not in cached["metadata"]


async def test_update_conflict_on_stale_resource_version(sim_server) -> None:
    async with sim_server.client() as c:
        cur = (await c.get(f"{PODS_URL}/p1")).json()
        cur["metadata"]["labels"]["v"] = "1"
        ok = await c.put(f"{PODS_URL}/p1", json=cur)
        assert ok.status_code == 200 and ok.json()["metadata"]["labels"]["v"] == "1"
        cur["metadata"]["labels"]["v"] = "2"  # still carries the old resourceVersion
        r = await c.put(f"{PODS_URL}/p1", json=cur)
        assert r.status_code == 409 and r.json()["reason"] == "Conflict"
        assert "the object has been modified" in r.json()["message"]


async def test_patch_types(sim_server) -> None:
    async with sim_server.client() as c:
        assert (await c.post(DEPLOY_URL, json=_deploy())).status_code == 201
        url = f"{DEPLOY_URL}/web"
        smp = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}}
        r = await c.patch(url, json=smp, headers={"Content-Type": "application/strategic-merge-patch+json"})
        assert r.status_code == 200
        cont = r.json()["spec"]["template"]["spec"]["containers"]
        assert cont[0]["image"] == "nginx:1.26" and cont[0]["name"] == "main" and len(cont) == 1
        assert r.json()["metadata"]["generation"] == 2
        r = await c.patch(url, json={"metadata": {"labels": {"x": "y"}}},
                          headers={"Content-Type": "application/merge-patch+json"})
        assert r.json()["metadata"]["labels"] == {"x": "y"}
        r = await c.patch(url, json=[{"op": "replace", "path": "/spec/replicas", "value": 4}],
                          headers={"Content-Type": "application/json-patch+json"})
        assert r.json()["spec"]["replicas"] == 4
        r = await c.patch(url, content=b"{}", headers={"Content-Type": "application/apply-patch+yaml"})
        assert r.status_code == 415 and "server-side apply" in r.json()["message"]
        r = await c.patch(url, json=[{"op": "test", "path": "/spec/replicas", "value": 9}],
                          headers={"Content-Type": "application/json-patch+json"})
        assert r.status_code == 422
        r = await c.patch(url, json={"spec": {"replicas": -2}}, headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.replicas"
        r = await c.patch(f"{DEPLOY_URL}/nope", json={}, headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 404
        q = await c.patch("/apis/scheduling.run.ai/v2/queues/team-a", json={"spec": {"priority": 5}},
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
        assert q.status_code == 415
        q = await c.patch("/apis/scheduling.run.ai/v2/queues/team-a", json={"spec": {"priority": 5}},
                          headers={"Content-Type": "application/merge-patch+json"})
        assert q.json()["spec"]["priority"] == 5 and q.json()["spec"]["parentQueue"] == "dept-1"


async def test_dry_run_persists_nothing(sim_server) -> None:
    s = sim_server.cluster.store
    rv = s.resource_version
    async with sim_server.client() as c:
        r = await c.post(PODS_URL, params={"dryRun": "All"}, json=_pod("dry"))
        assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
        r = await c.patch(f"{PODS_URL}/p1", params={"dryRun": "All"}, json={"metadata": {"labels": {"d": "1"}}},
                          headers={"Content-Type": "application/merge-patch+json"})
        assert r.json()["metadata"]["labels"]["d"] == "1"
        r = await c.delete(f"{PODS_URL}/p1", params={"dryRun": "All"})
        assert r.status_code == 200
        assert (await c.post(PODS_URL, params={"dryRun": "Some"}, json=_pod("dry"))).status_code == 400
    assert s.resource_version == rv
    assert s.try_get(PODS, PROJECT_NS, "dry") is None and "d" not in s.get(PODS, PROJECT_NS, "p1")["metadata"]["labels"]


async def test_delete_propagation_and_owner_gc(sim_server) -> None:
    s = sim_server.cluster.store
    d = s.create(DEPLOYMENTS, _deploy("own"), PROJECT_NS)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "own", "uid": d["metadata"]["uid"],
           "controller": True}
    rs = {"metadata": {"name": "own-1", "ownerReferences": [ref]}, "spec": _deploy("own")["spec"]}
    s.create(REPLICASETS, rs, PROJECT_NS)
    async with sim_server.client() as c:
        r = await c.request("DELETE", f"{DEPLOY_URL}/own", json={"kind": "DeleteOptions", "apiVersion": "v1",
                                                                 "propagationPolicy": "Orphan"})
        assert r.status_code == 200
        assert "ownerReferences" not in s.get(REPLICASETS, PROJECT_NS, "own-1")["metadata"]
        d2 = s.create(DEPLOYMENTS, _deploy("own2"), PROJECT_NS)
        s.create(REPLICASETS, {"metadata": {"name": "own2-1", "ownerReferences": [
            {**ref, "name": "own2", "uid": d2["metadata"]["uid"]}]}, "spec": _deploy("own2")["spec"]}, PROJECT_NS)
        r = await c.delete(f"{DEPLOY_URL}/own2", params={"propagationPolicy": "Background"})
        assert r.status_code == 200
        assert s.try_get(REPLICASETS, PROJECT_NS, "own2-1") is None
        assert (await c.delete(f"{DEPLOY_URL}/own2")).status_code == 404
        bad = await c.delete(f"{PODS_URL}/p1", params={"propagationPolicy": "Sideways"})
        assert bad.status_code == 400


async def test_delete_collection_with_selector(sim_server) -> None:
    s = sim_server.cluster.store
    for i in range(3):
        s.create(PODS, _pod(f"dc{i}", batch="x" if i < 2 else "y"), PROJECT_NS)
    async with sim_server.client() as c:
        r = await c.delete(PODS_URL, params={"labelSelector": "batch=x"})
        assert r.status_code == 200 and len(r.json()["items"]) == 2
    assert [o["metadata"]["name"] for o in s.items(PODS, PROJECT_NS) if o["metadata"]["name"].startswith("dc")] \
        == ["dc2"]


async def test_namespace_and_cluster_scoped_paths(sim_server) -> None:
    async with sim_server.client() as c:
        r = await c.post("/api/v1/namespaces", json={"metadata": {"name": "fresh"}})
        assert r.status_code == 201 and r.json()["status"]["phase"] == "Active"
        assert (await c.get("/api/v1/namespaces/fresh")).json()["metadata"]["name"] == "fresh"
        assert (await c.get("/api/v1/nodes/node-1")).json()["kind"] == "Node"
        assert (await c.get("/apis/scheduling.run.ai/v2/queues")).json()["kind"] == "QueueList"
        r = await c.post("/api/v1/namespaces/fresh/pods", json=_pod("in-fresh"))
        assert r.json()["metadata"]["namespace"] == "fresh"
        assert (await c.delete("/api/v1/namespaces/fresh")).status_code == 200
        assert sim_server.cluster.store.try_get(NAMESPACES, None, "fresh") is None
        assert sim_server.cluster.store.try_get(PODS, "fresh", "in-fresh") is None
