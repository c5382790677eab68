"""Discovery, health, version and OpenAPI documents."""

from __future__ import annotations

from console.sim.resources import RESOURCES


async def test_health_and_version_need_no_token(sim_server) -> None:
    async with sim_server.client(None) as c:
        for p in ("/healthz", "/readyz", "/livez"):
            r = await c.get(p)
            assert r.status_code == 200 and r.text == "ok"
        v = (await c.get("/version")).json()
        assert v["major"] == "1" and v["gitVersion"].startswith("v1.32")
        r = await c.get("/api")
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


async def test_core_and_group_discovery(sim_server) -> None:
    async with sim_server.client("viewer") as c:
        api = (await c.get("/api")).json()
        assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
        v1 = (await c.get("/api/v1")).json()
        by = {r["name"]: r for r in v1["resources"]}
        assert by["pods"]["namespaced"] is True and by["pods"]["shortNames"] == ["po"]
        assert "all" in by["pods"]["categories"]
        assert by["pods/eviction"]["kind"] == "Eviction" and by["pods/eviction"]["group"] == "policy"
        assert by["pods/log"]["verbs"] == ["get"]
        assert by["nodes"]["namespaced"] is False
        groups = {g["name"]: g for g in (await c.get("/apis")).json()["groups"]}
        assert groups["scheduling.run.ai"]["preferredVersion"]["version"] == "v2"
        assert {v["version"] for v in groups["scheduling.run.ai"]["versions"]} == {"v2", "v2alpha2", "v1alpha2"}
        apps = (await c.get("/apis/apps/v1")).json()
        scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
        assert (scale["kind"], scale["group"], scale["version"]) == ("Scale", "autoscaling", "v1")
        q = (await c.get("/apis/scheduling.run.ai/v2")).json()
        assert q["resources"][0]["name"] == "queues" and q["resources"][0]["namespaced"] is False
        assert (await c.get("/apis/scheduling.run.ai")).json()["kind"] == "APIGroup"
        assert (await c.get("/apis/nope.example.com")).status_code == 404
        assert (await c.get("/apis/apps/v9")).status_code == 404


async def test_every_resource_is_discoverable(sim_server) -> None:
    async with sim_server.client() as c:
        for rt in RESOURCES:
            path = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
            names = {r["name"] for r in (await c.get(path)).json()["resources"]}
            assert rt.plural in names, rt.key


async def test_aggregated_discovery_request_gets_legacy_json(sim_server) -> None:
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    async with sim_server.client() as c:
        r = await c.get("/apis", headers={"Accept": accept})
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["kind"] == "APIGroupList"


async def test_openapi_v3_declares_field_validation_on_patch(sim_server) -> None:
    async with sim_server.client() as c:
        root = (await c.get("/openapi/v3")).json()
        url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        doc = (await c.get(url)).json()
        op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        assert {"fieldValidation", "dryRun"} <= {p["name"] for p in op["parameters"]}
        assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
        assert (await c.get("/openapi/v2")).status_code == 404


async def test_openapi_index_keeps_the_plain_http_token_prefix(sim_server_plain) -> None:
    # Plain HTTP only: behind the kubeconfig's token prefix the index keeps the prefix
    async with sim_server_plain.client() as c:
        tok = sim_server_plain.tokens["admin"]
        pref = (await c.get(f"/sim/auth/{tok}/openapi/v3")).json()
        assert pref["paths"]["api/v1"]["serverRelativeURL"].startswith(f"/sim/auth/{tok}/openapi/v3/api/v1")
