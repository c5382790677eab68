"""status, scale, binding, eviction (with PodDisruptionBudgets), logs, pod proxy, reviews, Tables."""

from __future__ import annotations

from console.sim.resources import DEPLOYMENTS, PDBS, PODS
from tests.conftest import PROJECT_NS

NS = PROJECT_NS
PODS_URL = f"/api/v1/namespaces/{NS}/pods"
DEPLOY = {"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                                "template": {"metadata": {"labels": {"app": "web"}},
                                                             "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
MERGE = {"Content-Type": "application/merge-patch+json"}


def _running(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "i:1", "ports": [{"containerPort": 9400, "name": "m"}]}],
                     "nodeName": "node-1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


async def test_status_subresource_writes_only_status(sim_server) -> None:
    async with sim_server.client() as c:
        r = await c.patch(f"{PODS_URL}/p1/status", json={"status": {"phase": "Running"},
                                                         "metadata": {"labels": {"ignored": "1"}}}, headers=MERGE)
        assert r.status_code == 200 and r.json()["status"]["phase"] == "Running"
        assert "ignored" not in r.json()["metadata"]["labels"]
        r = await c.patch(f"{PODS_URL}/p1", json={"status": {"phase": "Failed"}}, headers=MERGE)
        assert r.json()["status"]["phase"] == "Running"  # the main resource ignores status
        got = (await c.get(f"{PODS_URL}/p1/status")).json()
        assert got["status"]["phase"] == "Running"


async def test_scale_get_put_patch(sim_server) -> None:
    s = sim_server.cluster.store
    s.create(DEPLOYMENTS, DEPLOY, NS)
    url = f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale"
    async with sim_server.client("team-a") as c:
        sc = (await c.get(url)).json()
        assert (sc["kind"], sc["apiVersion"], sc["spec"]["replicas"]) == ("Scale", "autoscaling/v1", 2)
        assert sc["status"]["selector"] == "app=web"
        sc["spec"]["replicas"] = 3
        assert (await c.put(url, json=sc)).json()["spec"]["replicas"] == 3
        assert (await c.put(url, json=sc)).status_code == 409  # stale resourceVersion
        r = await c.patch(url, json={"spec": {"replicas": 5}}, headers=MERGE)
        assert r.json()["spec"]["replicas"] == 5
        r = await c.patch(url, json={"spec": {"replicas": -1}}, headers=MERGE)
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.replicas"
    assert s.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 5


async def test_binding_assigns_a_node_once(sim_server) -> None:
    s = sim_server.cluster.store
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"kind": "Node",
                                                                                          "name": "node-1"}}
    async with sim_server.client() as c:
        r = await c.post(f"{PODS_URL}/p1/binding", json=body)
        assert r.status_code == 201 and r.json()["status"] == "Success"
        pod = s.get(PODS, NS, "p1")
        assert pod["spec"]["nodeName"] == "node-1"
        assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in pod["status"]["conditions"])
        again = await c.post(f"{PODS_URL}/p1/binding", json=body)
        assert again.status_code == 409 and "already assigned" in again.json()["message"]


async def test_eviction_honours_pod_disruption_budgets(sim_server) -> None:
    s = sim_server.cluster.store
    for n in ("e1", "e2"):
        s.create(PODS, _running(n, app="srv"), NS)
    s.create(PDBS, {"metadata": {"name": "srv-pdb"}, "spec": {"minAvailable": 1,
                                                              "selector": {"matchLabels": {"app": "srv"}}}}, NS)
    sim_server.cluster.settle()
    assert s.get(PDBS, NS, "srv-pdb")["status"]["disruptionsAllowed"] == 1
    ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "e1", "namespace": NS}}
    rv = s.resource_version
    async with sim_server.client() as c:
        dry = await c.post(f"{PODS_URL}/e1/eviction", params={"dryRun": "All"}, json=ev)
        assert dry.status_code == 201 and s.resource_version == rv
        rv_seen = str(s.resource_version)
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": rv_seen,
                                                     "fieldSelector": "metadata.name=e1"}) as resp:
            r = await c.post(f"{PODS_URL}/e1/eviction", json=ev)
            assert r.status_code == 201
            import orjson
            evs = []
            async for line in resp.aiter_lines():
                evs.append(orjson.loads(line))
                if len(evs) == 2:
                    # the evicted pod terminates for its grace period (30 s by default), then goes
                    assert s.get(PODS, NS, "e1")["metadata"]["deletionGracePeriodSeconds"] == 30
                    sim_server.cluster.clock.advance(29)
                    sim_server.cluster.settle()
                    assert s.try_get(PODS, NS, "e1") is not None
                    sim_server.cluster.clock.advance(1)
                    sim_server.cluster.settle()
                if len(evs) == 3:
                    break
        assert [e["type"] for e in evs] == ["MODIFIED", "MODIFIED", "DELETED"]
        cond = next(c for c in evs[0]["object"]["status"]["conditions"] if c["type"] == "DisruptionTarget")
        assert (cond["status"], cond["reason"]) == ("True", "EvictionByEvictionAPI")
        assert not evs[0]["object"]["metadata"].get("deletionTimestamp")
        assert evs[1]["object"]["metadata"]["deletionTimestamp"]
        assert evs[1]["object"]["metadata"]["deletionGracePeriodSeconds"] == 30
        assert s.try_get(PODS, NS, "e1") is None
        r = await c.post(f"{PODS_URL}/e2/eviction", json={**ev, "metadata": {"name": "e2"}})
        assert r.status_code == 429 and r.json()["reason"] == "TooManyRequests"
        assert r.json()["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        assert "srv-pdb needs 1 healthy pods and has 1 currently" in r.json()["details"]["causes"][0]["message"]
        assert s.try_get(PODS, NS, "e2") is not None
        # a pod that is not running does not count toward the budget
        assert (await c.post(f"{PODS_URL}/p1/eviction", json={**ev, "metadata": {"name": "p1"}})).status_code == 201
        assert (await c.post(f"{PODS_URL}/e2/eviction", json={**ev, "metadata": {"name": "zz"}})).status_code == 400


async def test_logs_tail_container_and_errors(sim_server) -> None:
    s = sim_server.cluster.store
    s.create(PODS, {"metadata": {"name": "two"}, "spec": {"containers": [{"name": "a", "image": "i:1"},
                                                                         {"name": "b", "image": "i:1"}]}}, NS)
    sim_server.cluster.log_source = lambda pod, c, tail: [f"{pod['metadata']['name']}/{c} line {i}" for i in range(5)]
    async with sim_server.client("viewer") as c:
        r = await c.get(f"{PODS_URL}/p1/log")
        assert r.headers["content-type"].startswith("text/plain") and r.text.splitlines()[0] == "p1/main line 0"
        r = await c.get(f"{PODS_URL}/two/log", params={"container": "b", "tailLines": "2"})
        assert r.text == "two/b line 3\ntwo/b line 4\n"
        r = await c.get(f"{PODS_URL}/two/log")
        assert r.status_code == 400 and "choose one of: [a b]" in r.json()["message"]
        r = await c.get(f"{PODS_URL}/p1/log", params={"container": "nope"})
        assert r.status_code == 400 and r.json()["message"] == "container nope is not valid for pod p1"


async def test_logs_follow_streams_new_lines_until_the_pod_goes(sim_server) -> None:
    lines = ["one"]
    sim_server.cluster.log_source = lambda pod, c, tail: list(lines)
    async with sim_server.client() as c:
        async with c.stream("GET", f"{PODS_URL}/p1/log", params={"follow": "true"}) as resp:
            it = resp.aiter_lines()
            assert await anext(it) == "one"
            lines.append("two")
            assert await anext(it) == "two"
            sim_server.cluster.store.delete(PODS, NS, "p1")
            rest = [line async for line in it]
    assert rest == []


async def test_pod_proxy_dispatches_by_port(sim_server) -> None:
    s = sim_server.cluster.store
    s.create(PODS, _running("exp"), NS)
    seen = {}

    def handler(pod, path, query):
        seen.update(pod=pod["metadata"]["name"], path=path, query=query)
        return "text/plain; version=0.0.4", b"DCGM_FI_DEV_GPU_UTIL 42\n"
    sim_server.cluster.proxies[9400] = handler
    async with sim_server.client() as c:
        r = await c.get(f"{PODS_URL}/exp:9400/proxy/metrics", params={"a": "1"})
        assert r.status_code == 200 and r.text == "DCGM_FI_DEV_GPU_UTIL 42\n"
        assert seen == {"pod": "exp", "path": "metrics", "query": {"a": "1"}}
        assert (await c.get(f"{PODS_URL}/exp:m/proxy/metrics")).status_code == 200  # named port
        assert (await c.get(f"{PODS_URL}/exp/proxy/metrics")).status_code == 200  # first declared port
        r = await c.get(f"{PODS_URL}/exp:8080/proxy/")
        assert r.status_code == 404 and r.json()["kind"] == "Status"


async def test_access_review_over_http_json_and_protobuf(sim_server) -> None:
    from tests.sim.test_auth import _ld
    url = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": NS}}}
    async with sim_server.client("viewer") as c:
        r = await c.post(url, json=body)
        assert r.status_code == 201 and r.json()["status"]["allowed"] is False
    ra = _ld(1, NS.encode()) + _ld(2, b"create") + _ld(5, b"pods")
    raw = b"k8s\x00" + _ld(1, _ld(1, b"authorization.k8s.io/v1") + _ld(2, b"SelfSubjectAccessReview")) + \
        _ld(2, _ld(2, _ld(1, ra)))
    async with sim_server.client("team-a") as c:
        r = await c.post(url, content=raw, headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
        assert r.status_code == 201 and r.json()["status"]["allowed"] is True
        r = await c.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                         json={"spec": {"namespace": NS}})
        assert any("create" in rule["verbs"] and rule["resources"] == ["*"]
                   for rule in r.json()["status"]["resourceRules"])


async def test_get_as_table(sim_server) -> None:
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    async with sim_server.client() as c:
        t = (await c.get("/api/v1/pods", headers=accept)).json()
        assert t["kind"] == "Table"
        cols = [d["name"] for d in t["columnDefinitions"]]
        assert cols[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
        assert {d["name"]: d["priority"] for d in t["columnDefinitions"]}["Node"] == 1
        assert t["rows"][0]["cells"][:3] == ["p1", "0/1", "Pending"]
        assert t["rows"][0]["object"]["metadata"]["namespace"] == NS
        q = (await c.get("/apis/scheduling.run.ai/v2/queues", headers=accept)).json()
        assert [d["name"] for d in q["columnDefinitions"]][:5] == ["Name", "Priority", "Parent", "Children",
                                                                  "DisplayName"]
        assert q["rows"][1]["cells"][2] == "dept-1"
        one = (await c.get("/api/v1/nodes/node-1", headers=accept)).json()
        assert one["rows"][0]["cells"][:2] == ["node-1", "Ready"]

