"""Bad input across the form, YAML and the API's refusals: each says what and why, and nothing changes."""

from __future__ import annotations

import pytest

from console.actions.errors import ActionError
from console.actions.manifests import SubmitForm
from console.actions.yaml_input import load_file, parse_documents
from console.sim.resources import DEPLOYMENTS, PDBS

from .conftest import scenario, snapshot

PROJECTS = [{"name": "team-a", "quota": 4}, {"name": "team-b", "quota": 2}]
BASE = dict(type="inference", name="llm", project="team-a", image="vllm/vllm-openai:v0.6.3", gpu="0.5", replicas=1)


async def _env(make_env):
    return await make_env(scenario(PROJECTS, workloads=[
        {"name": "serve", "project": "team-a", "kind": "inference", "gpu": 1, "replicas": 1},
        {"name": "train", "project": "team-b", "kind": "training", "gpu": 1, "parallelism": 2}]))


FORM_CASES = [
    ({"gpu": "1.5"}, "a fraction must be between 0 and 1"),
    ({"gpu": "0"}, "GPU 0 must be more than 0"),
    ({"gpu": "-1"}, "GPU -1 must be more than 0"),
    ({"gpu": "abc"}, "GPU 'abc' is not a number"),
    ({"gpu": "50000Mi"}, "more than the largest GPU in the cluster has (40960 MiB)"),
    ({"replicas": -1}, "replicas must be at least 0, got -1"),
    ({"replicas": 2.5}, "replicas must be a whole number, got 2.5"),
    ({"replicas": "many"}, "replicas must be a whole number, got 'many'"),
    ({"name": "LLM-Serve"}, "has capital letters"),
    ({"name": "x" * 64}, "is 64 characters long; at most 63"),
    ({"name": "llm_serve"}, "is not a DNS-1123 label"),
    ({"name": ""}, "name is required"),
    ({"project": "nope"}, "project 'nope' does not exist (projects: default-queue, team-a, team-b)"),
    ({"project": "dept"}, "project 'dept' is a department"),
    ({"image": ""}, "image is required"),
    ({"image": "bad image"}, "contains whitespace"),
    ({"port": 70000}, "port must be at most 65535, got 70000"),
    ({"priority": "urgent"}, "priority class 'urgent' does not exist"),
    ({"replicas": None, "min_replicas": 3, "max_replicas": 1}, "max replicas (1) must be at least min replicas (3)"),
    ({"type": "training", "replicas": None, "min_replicas": 1, "max_replicas": 2}, "apply to inference only"),
    ({"type": "build", "replicas": 3}, "a build workload runs one replica, got 3"),
    ({"env": {"1BAD": "x"}}, "environment variable name '1BAD' is not valid"),
    ({"name": "serve"}, "Deployment runai-team-a/serve already exists"),
    ({"type": "batch"}, "type 'batch' is not one of inference, training, build"),
]


@pytest.mark.parametrize("change,expected", FORM_CASES, ids=[c[1][:30] for c in FORM_CASES])
async def test_bad_form_is_refused_with_the_reason_and_nothing_changes(make_env, change, expected) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session()
    plan = await s.plan_submit(SubmitForm(**{**BASE, **change}))
    assert not plan.ok
    assert any(expected in p for p in plan.problems), plan.problems
    out = await s.apply(plan)
    assert not out.ok and expected in out.message
    env.settle()
    assert snapshot(env.cluster) == before
    assert env.audit.entries()[-1]["outcome"] == "refused"


async def test_every_form_problem_is_listed_at_once(make_env) -> None:
    env = await _env(make_env)
    s = await env.session()
    plan = await s.plan_submit(SubmitForm("inference", "Bad_Name", "nope", "", gpu="1.5", replicas=-1))
    assert len(plan.problems) == 5, plan.problems


YAML_CASES = [
    ("kind: Deployment\nmetadata: {name: x\n", "not valid YAML at line"),
    ("", "is empty"),
    ("# only a comment\n", "holds no manifest"),
    ("just a string\n", "document 1 is a str, not a manifest"),
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", "cannot submit Secret (v1)"),
    ("apiVersion: scheduling.run.ai/v2\nkind: Queue\nmetadata: {name: q}\n", "cannot submit Queue"),
    ("metadata: {name: x}\n", "apiVersion and kind required"),
    ("apiVersion: apps/v1\nkind: Deployment\nspec: {}\n", "metadata with a name is required"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: UPPER}\nspec: {template: {spec: {containers: "
     "[{name: a, image: b}]}}}\n", "has capital letters"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: []}}}\n",
     "needs at least one container"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: "
     "[{name: a}]}}}\n", "container 1 needs a name and an image"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: -1, template: {spec: "
     "{containers: [{name: a, image: b}]}}}\n", "spec.replicas must be at least 0, got -1"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {metadata: {annotations: "
     "{gpu-fraction: '1.5'}}, spec: {containers: [{name: a, image: b}]}}}\n",
     "gpu-fraction must be between 0 and 1 (exclusive), got 1.5"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {gpu-fraction: '0.5'}}\nspec: {containers: "
     "[{name: a, image: b, resources: {limits: {nvidia.com/gpu: 1}}}]}\n",
     "gpu-fraction cannot be combined with a nvidia.com/gpu limit"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {kai.scheduler/queue: ghost}}\nspec: {containers: "
     "[{name: a, image: b}]}\n", "queue 'ghost' is not a project"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: nowhere}\nspec: {containers: [{name: a, image: b}]}\n",
     "namespace 'nowhere' does not exist"),
    ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {parallelism: 2.5, template: {spec: {containers: "
     "[{name: a, image: b}]}}}\n", "spec.parallelism must be a whole number, got 2.5"),
]


@pytest.mark.parametrize("text,expected", YAML_CASES, ids=[c[1][:30] for c in YAML_CASES])
async def test_bad_yaml_is_refused_with_the_reason_and_nothing_changes(make_env, text, expected) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session()
    try:
        docs = parse_documents(text, "editor")
    except ActionError as e:
        assert any(expected in p for p in e.problems), e.problems
        return
    plan = await s.plan_submit(manifests=docs, project="team-a")
    assert not plan.ok
    assert any(expected in p for p in plan.problems), plan.problems
    assert not (await s.apply(plan)).ok
    assert snapshot(env.cluster) == before


def test_unreadable_files_say_why(tmp_path) -> None:
    with pytest.raises(ActionError, match="no such file"):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(ActionError, match="is a directory"):
        load_file(tmp_path)
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ActionError, match="not UTF-8"):
        load_file(bad)


# ---------------------------------------------------------------- the API says no
async def test_name_taken_between_plan_and_apply_is_a_409_and_rolls_back(make_env) -> None:
    env = await _env(make_env)
    s = await env.session()
    plan = await s.plan_submit(SubmitForm(**{**BASE, "port": 8000}))
    assert plan.ok, plan.blockers()
    # someone else creates the Service of that name meanwhile: the Deployment goes, then is rolled back
    from console.sim.resources import SERVICES
    env.cluster.store.create(SERVICES, {"metadata": {"name": "llm", "namespace": "runai-team-a"},
                                        "spec": {"ports": [{"port": 1}]}})
    before = snapshot(env.cluster)
    out = await s.apply(plan)
    assert not out.ok
    assert "already exists" in out.message and "rolled back: deleted Deployment runai-team-a/llm" in out.message
    assert env.cluster.store.try_get(DEPLOYMENTS, "runai-team-a", "llm") is None
    env.settle()
    after = snapshot(env.cluster)
    assert {k: v for k, v in after.items() if k != "pods"} == {k: v for k, v in before.items() if k != "pods"}


@pytest.mark.parametrize("context,expected", [
    ("sim-viewer", "sim-viewer cannot create deployments in runai-team-a"),
    ("sim-team-b", "sim-team-b cannot create deployments in runai-team-a"),
])
async def test_forbidden_submit_says_who_cannot_do_what_where(make_env, context, expected) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session(context)
    plan = await s.plan_submit(SubmitForm(**BASE))
    assert not plan.permission.allowed and expected in plan.permission.reason
    assert not (await s.apply(plan)).ok
    assert snapshot(env.cluster) == before


async def test_viewer_sees_every_action_disabled_with_a_reason(make_env) -> None:
    env = await _env(make_env)
    s = await env.session("sim-viewer")
    scale = await s.plan_scale("runai-team-a/serve", "2")
    assert scale.permission.reason == "sim-viewer cannot patch deployments/scale in runai-team-a"
    pre = await s.plan_preempt("runai-team-b/train")
    assert pre.permission.reason == "sim-viewer cannot create pods/eviction in runai-team-b"
    dele = await s.plan_delete(["runai-team-a/serve"])
    assert "sim-viewer cannot delete" in dele.permission.reason


async def test_readonly_disables_every_mutation(make_env) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session(readonly=True)
    plans = [await s.plan_submit(SubmitForm(**BASE)), await s.plan_scale("runai-team-a/serve", "2"),
             await s.plan_preempt("runai-team-b/train"), await s.plan_delete(["runai-team-a/serve"])]
    for p in plans:
        assert not p.ok and "read-only (--readonly)" in p.permission.reason
        assert not (await s.apply(p)).ok
    assert snapshot(env.cluster) == before


async def test_pdb_that_blocks_eviction_is_explained(make_env) -> None:
    env = await _env(make_env)
    env.cluster.store.create(PDBS, {"metadata": {"name": "train-pdb", "namespace": "runai-team-b"},
                                    "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "train"}}}})
    env.settle()
    before = snapshot(env.cluster)
    s = await env.session()
    plan = await s.plan_preempt("runai-team-b/train")
    assert not plan.ok
    text = " ".join(plan.problems)
    assert "would violate its PodDisruptionBudget" in text and "train-pdb needs 2 healthy pods and has 2" in text
    assert "429" in text
    assert not (await s.apply(plan)).ok
    assert snapshot(env.cluster) == before


async def test_non_preemptible_is_refused_unless_forced_with_the_typed_phrase(make_env) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session()
    plan = await s.plan_preempt("runai-team-a/serve")
    assert not plan.ok
    assert "Deployment runai-team-a/serve is not preemptible: priority class 'inference' has value 125 (>= 100)" \
        in plan.problems[0]
    forced = await s.plan_preempt("runai-team-a/serve", force=True)
    assert forced.ok and forced.confirm_phrase == "preempt serve"
    out = await s.apply(forced, confirm="preempt")
    assert not out.ok and "type exactly 'preempt serve'" in out.message
    assert snapshot(env.cluster) == before
    out = await s.apply(forced, confirm="preempt serve")
    assert out.ok, out.message


async def test_scaling_a_job_or_an_unknown_workload_is_refused(make_env) -> None:
    env = await _env(make_env)
    s = await env.session()
    job = await s.plan_scale("runai-team-b/train", "3")
    assert "a Job has no scale subresource" in job.problems[0]
    nope = await s.plan_scale("runai-team-a/ghost", "3")
    assert "no workload (Deployment, StatefulSet, Job or ReplicaSet) named 'ghost'" in nope.problems[0]
    below = await s.plan_scale("runai-team-a/serve", "-2")
    assert "replicas cannot go below 0" in below.problems[0]


async def test_bulk_delete_needs_the_typed_phrase(make_env) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session()
    plan = await s.plan_delete(["runai-team-a/serve", "runai-team-b/train"])
    assert plan.ok and plan.confirm_phrase == "delete 2 workloads"
    assert not (await s.apply(plan, confirm="yes")).ok
    assert snapshot(env.cluster) == before
    assert (await s.apply(plan, confirm="delete 2 workloads")).ok
    env.settle()
    assert env.cluster.store.try_get(DEPLOYMENTS, "runai-team-a", "serve") is None


# ---------------------------------------------------------------- the cluster goes away
async def test_cluster_stopping_mid_action_fails_clearly_and_changes_nothing(make_env) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    s = await env.session()
    plan = await s.plan_scale("runai-team-a/serve", "3")
    assert plan.ok
    await env.server.stop()
    out = await s.apply(plan)
    assert not out.ok
    assert out.message == (f"scale: cannot reach {env.server.url} (context sim-admin from {env.kubeconfig}): "
                           "connection refused; nothing was changed by this step")
    assert snapshot(env.cluster) == before


async def test_server_error_mid_submit_fails_clearly_and_changes_nothing(make_env) -> None:
    env = await _env(make_env)
    s = await env.session()
    plan = await s.plan_submit(SubmitForm(**BASE))
    assert plan.ok
    before = snapshot(env.cluster)
    env.cluster.extras["faults"].fail_next(1, 500)
    out = await s.apply(plan)
    assert not out.ok and "the server failed (500" in out.message
    assert snapshot(env.cluster) == before


async def test_stalled_cluster_times_out_and_says_the_outcome_is_unknown(make_env) -> None:
    env = await _env(make_env)
    s = await env.session(timeout=0.3)
    plan = await s.plan_delete(["runai-team-a/serve"])
    assert plan.ok
    before = snapshot(env.cluster)
    env.cluster.extras["faults"].stall(30)
    try:
        out = await s.apply(plan)
        assert not out.ok and f"{env.server.url} (context sim-admin from {env.kubeconfig}) did not answer DELETE " \
            in out.message and "no answer within 0.3 s" in out.message
        assert "look before trying again" in out.message and "nothing was deleted" not in out.message
        assert snapshot(env.cluster) == before  # still held by the stall: nothing applied yet
    finally:
        env.cluster.extras["faults"].resume()


async def test_offers_per_context_say_why_an_action_is_disabled(make_env) -> None:
    from console.kube.client import JOBS
    env = await _env(make_env)
    admin = await (await env.session()).offers("runai-team-a")
    assert all(v.allowed for v in admin.values()) and set(admin) == {"submit", "scale", "preempt", "delete"}
    viewer = await (await env.session("sim-viewer")).offers("runai-team-a", JOBS)
    assert {a: v.reason for a, v in viewer.items()} == {
        "submit": "sim-viewer cannot create jobs in runai-team-a",
        "scale": "sim-viewer cannot patch jobs/scale in runai-team-a",
        "preempt": "sim-viewer cannot create pods/eviction in runai-team-a",
        "delete": "sim-viewer cannot delete jobs in runai-team-a"}
    team_b = await (await env.session("sim-team-b")).offers("runai-team-a")
    assert not any(v.allowed for v in team_b.values())
    assert all(v.allowed for v in (await (await env.session("sim-team-b")).offers("runai-team-b")).values())
    ro = await (await env.session(readonly=True)).offers("runai-team-a")
    assert all(not v.allowed and "read-only" in v.reason for v in ro.values())
