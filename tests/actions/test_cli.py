"""The verbs end to end: `gpuconsole submit|scale|preempt|delete` against the simulator over loopback."""

from __future__ import annotations

import asyncio

import pytest

from console.actions import cli as action_cli
from console.cli import main
from console.model.kai_read import GPU_GROUP_LABEL
from console.sim.resources import DEPLOYMENTS, HPAS, JOBS, KSVCS, PODS, SERVICES

from .conftest import scenario, snapshot


async def _env(make_env):
    return await make_env(scenario([{"name": "team-a", "quota": 4}, {"name": "team-b", "quota": 2}], workloads=[
        {"name": "serve", "project": "team-a", "kind": "inference", "gpu": 1, "replicas": 1},
        {"name": "train", "project": "team-b", "kind": "training", "gpu": 1, "parallelism": 2}]))


async def _run(env, capsys, *argv: str, context: str = "sim-admin") -> tuple[int, str, str]:
    capsys.readouterr()
    rc = await asyncio.to_thread(main, [*argv, "--context", context, "--kubeconfig", str(env.kubeconfig)])
    out = capsys.readouterr()
    return rc, out.out, out.err


async def test_submit_from_flags_prints_the_manifest_and_preview_then_creates(make_env, capsys) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "submit", "inference", "chat", "-p", "team-a", "-i",
                              "vllm/vllm-openai:v0.6.3", "--gpu", "0.5", "--replicas", "1", "--port", "8000",
                              "--yes")
    assert rc == 0, err
    assert "kind: Deployment" in out and "kind: Service" in out and "gpu-fraction: '0.5'" in out
    assert "Preview (KAI rules on the live cluster): 1 of 1 new pod(s) would run now" in out
    assert "created Deployment runai-team-a/chat, Service runai-team-a/chat" in out
    dep = env.cluster.store.get(DEPLOYMENTS, "runai-team-a", "chat")
    assert dep["spec"]["replicas"] == 1
    assert env.cluster.store.get(SERVICES, "runai-team-a", "chat")["spec"]["ports"][0]["targetPort"] == 8000
    assert env.audit.entries()[-1]["outcome"] == "ok"


async def test_autoscaled_submit_is_a_knative_service_where_knative_is_installed(make_env, capsys) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "submit", "inference", "chat", "-p", "team-a", "-i",
                              "vllm/vllm-openai:v0.6.3", "--gpu", "0.5", "--min-replicas", "1", "--max-replicas", "3",
                              "--metric", "concurrency", "--metric-threshold", "4", "--port", "8000", "--yes")
    assert rc == 0, err
    assert "apiVersion: serving.knative.dev/v1" in out and "kind: Deployment" not in out
    # the preview is for the most the autoscaler may run
    assert "3 new pod(s)" in out and "the most the autoscaler may run: 3 replica(s)" in out
    ksvc = env.cluster.store.get(KSVCS, "runai-team-a", "chat")
    ann = ksvc["spec"]["template"]["metadata"]["annotations"]
    assert (ann["autoscaling.knative.dev/min-scale"], ann["autoscaling.knative.dev/max-scale"],
            ann["autoscaling.knative.dev/metric"], ann["autoscaling.knative.dev/target"]) == ("1", "3", "concurrency",
                                                                                           "4")
    assert ann["gpu-fraction"] == "0.5"
    env.settle(2)
    assert env.cluster.store.get(DEPLOYMENTS, "runai-team-a", "chat-00001-deployment")["spec"]["replicas"] == 1


async def test_autoscaled_submit_is_a_deployment_with_an_hpa_without_knative(make_env, capsys) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 4}]), without=("serving.knative.dev",))
    rc, out, err = await _run(env, capsys, "submit", "inference", "chat", "-p", "team-a", "-i",
                              "vllm/vllm-openai:v0.6.3", "--gpu", "0.5", "--min-replicas", "1", "--max-replicas", "3",
                              "--metric", "throughput", "--metric-threshold", "5", "--yes")
    assert rc == 0, err
    assert "kind: HorizontalPodAutoscaler" in out and "kind: Deployment" in out
    hpa = env.cluster.store.get(HPAS, "runai-team-a", "chat")
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 3
    assert hpa["spec"]["metrics"][0]["pods"] == {"metric": {"name": "rps"},
                                                 "target": {"type": "AverageValue", "averageValue": "5"}}


@pytest.mark.parametrize("flags,why", [
    (("--min-replicas", "3", "--max-replicas", "1"), "max replicas (1) must be at least min replicas (3)"),
    (("--min-replicas", "1", "--max-replicas", "3", "--metric", "concurrency", "--metric-threshold", "0"),
     "metric threshold must be a number above 0"),
    (("--min-replicas", "1", "--max-replicas", "3", "--metric", "latency", "--metric-threshold", "200"),
     "metric latency is not supported by the installed autoscaler"),
])
async def test_bad_autoscaled_submit_is_refused_and_creates_nothing(make_env, capsys, flags, why) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 4}]), without=("custom.metrics.k8s.io",))
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "submit", "inference", "chat", "-p", "team-a", "-i", "vllm/vllm:1",
                              "--gpu", "0.5", *flags, "--yes")
    assert rc == 1 and why in err, err
    assert snapshot(env.cluster) == before and not list(env.cluster.store.items(KSVCS))


async def test_dry_run_sends_nothing(make_env, capsys) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "submit", "training", "sweep", "-p", "team-a", "-i", "pytorch:24",
                              "--gpu", "2", "--replicas", "2", "--dry-run")
    assert rc == 0, err
    assert "kind: Job" in out and "Server dry run: Job runai-team-a/sweep accepted" in out
    on = f"context sim-admin ({env.server.url}, user sim-admin, from {env.kubeconfig})"
    assert out.startswith(f"On {on}\n")  # what it acts on comes first, and again with the verdict
    assert f"dry run on {on}: nothing was sent" in out
    assert snapshot(env.cluster) == before
    assert env.audit.entries()[-1]["outcome"] == "dry-run"


async def test_submit_kai_example_file_runs_on_a_shared_gpu(make_env, capsys, realworld) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "submit", "-f", str(realworld / "kai" / "gpu-sharing__gpu-sharing.yaml"),
                              "--yes")
    assert rc == 0, err
    assert "created Pod default/gpu-sharing" in out
    env.settle()
    pod = env.cluster.store.get(PODS, "default", "gpu-sharing")
    assert pod["status"]["phase"] == "Running" and pod["metadata"]["labels"].get(GPU_GROUP_LABEL)


async def test_submit_kai_init_container_fraction_previews_and_runs_as_a_fraction(make_env, capsys, realworld) -> None:
    """KAI's example gives the half GPU to an init container: previewed, admitted and placed as a fraction."""
    env = await _env(make_env)
    path = str(realworld / "kai" / "gpu-sharing__gpu-sharing-init-container.yaml")
    rc, out, err = await _run(env, capsys, "submit", "-f", path, "--dry-run")
    assert rc == 0, err
    assert "1 of 1 new pod(s) would run now" in out
    assert "default/gpu-sharing-init-container: runs on node gpu-01 (a new shared GPU)" in out
    rc, out, err = await _run(env, capsys, "submit", "-f", path, "--yes")
    assert rc == 0, err
    env.settle()
    pod = env.cluster.store.get(PODS, "default", "gpu-sharing-init-container")
    assert pod["status"]["phase"] == "Running" and pod["metadata"]["labels"].get(GPU_GROUP_LABEL)
    assert pod["metadata"]["annotations"]["received-resource-type"] == "Fraction"


async def test_submit_kai_batch_job_file_preview_matches_what_runs(make_env, capsys, realworld) -> None:
    env = await _env(make_env)  # 4 GPUs, 3 in use
    path = str(realworld / "kai" / "batch__batch-job.yaml")
    rc, out, err = await _run(env, capsys, "submit", "-f", path, "--dry-run")
    assert rc == 0, err
    assert "1 of 2 new pod(s) would run now, 1 would stay Pending" in out
    assert "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in out
    assert env.cluster.store.try_get(JOBS, "default", "batch-job") is None
    rc, out, err = await _run(env, capsys, "submit", "-f", path, "--yes")
    assert rc == 0, err
    env.settle()
    phases = sorted(p["status"]["phase"] for p in env.cluster.store.items(PODS, "default")
                    if p["metadata"]["name"].startswith("batch-job-"))
    assert phases == ["Pending", "Running"]


async def test_without_a_terminal_and_without_yes_nothing_is_sent(make_env, capsys) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "delete", "runai-team-a/serve")
    assert rc == 1 and "a destructive action needs confirmation and this is not a terminal; pass --yes" in err
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/serve", "3")
    assert rc == 1 and "not a terminal" in err
    assert snapshot(env.cluster) == before
    assert [e["outcome"] for e in env.audit.entries()] == ["refused", "refused"]


async def test_terminal_confirmation_defaults_to_no_for_destructive_verbs(make_env, capsys, monkeypatch) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    answers = iter(["", "y"])
    prompts: list[str] = []
    monkeypatch.setattr(action_cli, "_isatty", lambda: True)
    monkeypatch.setattr(action_cli, "_ask", lambda p: (prompts.append(p), next(answers))[1])
    rc, out, err = await _run(env, capsys, "delete", "runai-team-a/serve")
    assert rc == 1 and "not confirmed" in err
    assert prompts[-1] == (f"delete Deployment runai-team-a/serve on context sim-admin ({env.server.url}, user sim-admin, "
                           f"from {env.kubeconfig})? [y/N] ")
    assert snapshot(env.cluster) == before
    rc, out, err = await _run(env, capsys, "delete", "runai-team-a/serve")
    assert rc == 0, err
    assert "deleted Deployment runai-team-a/serve, Service runai-team-a/serve" in out
    assert env.cluster.store.try_get(SERVICES, "runai-team-a", "serve") is None


async def test_scale_step_and_typed_bulk_delete(make_env, capsys) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/serve", "+1", "--yes")
    assert rc == 0, err
    assert "spec.replicas: 1 -> 2" in out and env.cluster.store.get(DEPLOYMENTS, "runai-team-a", "serve")["spec"][
        "replicas"] == 2
    rc, out, err = await _run(env, capsys, "delete", "runai-team-a/serve", "runai-team-b/train", "--yes")
    assert rc == 1 and "--confirm" in err
    rc, out, err = await _run(env, capsys, "delete", "runai-team-a/serve", "runai-team-b/train",
                              "--confirm", "delete 2 workloads")
    assert rc == 0, err
    assert env.cluster.store.try_get(JOBS, "runai-team-b", "train") is None


async def test_viewer_is_refused_with_the_reason_on_stderr(make_env, capsys) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "preempt", "runai-team-b/train", "--yes", context="sim-viewer")
    assert rc == 1 and "refused: sim-viewer cannot create pods/eviction in runai-team-b" in err
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/serve", "2", "--yes", context="sim-viewer")
    assert rc == 1 and "sim-viewer cannot patch deployments/scale in runai-team-a" in err


async def test_readonly_refuses_every_verb(make_env, capsys) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    for argv in (["scale", "runai-team-a/serve", "2"], ["preempt", "runai-team-b/train"],
                 ["delete", "runai-team-a/serve"],
                 ["submit", "inference", "x", "-p", "team-a", "-i", "nginx", "--gpu", "0.5"]):
        rc, out, err = await _run(env, capsys, "--readonly", *argv, "--yes")
        assert rc == 1 and "read-only (--readonly)" in err, (argv, err)
    assert snapshot(env.cluster) == before


async def test_bad_values_exit_1_with_every_reason(make_env, capsys) -> None:
    env = await _env(make_env)
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "submit", "inference", "Bad", "-p", "ghost", "-i", "nginx", "--gpu", "1.5",
                              "--replicas", "2.5", "--yes")
    assert rc == 1
    for part in ("has capital letters", "project 'ghost' does not exist", "a fraction must be between 0 and 1",
                 "replicas must be a whole number, got 2.5"):
        assert part in err
    rc, out, err = await _run(env, capsys, "submit", "-f", "/nonexistent.yaml", "--yes")
    assert rc == 1 and "/nonexistent.yaml: no such file" in err
    assert snapshot(env.cluster) == before


@pytest.mark.parametrize("argv,expected", [
    (["submit"], "give -f FILE, or TYPE"),
    (["submit", "-f", "x.yaml", "inference", "x"], "not both"),
    (["submit", "-f", "x.yaml", "--gpu", "1"], "drop --gpu"),
    (["submit", "inference", "x", "--env", "NOEQUALS"], "write KEY=VALUE"),
    (["scale", "a/b/c/d", "2"], "NAMESPACE/NAME"),
    (["scale", "x", "2", "-A"], "cannot be named across all namespaces"),
    (["scale", "other/x", "2", "-n", "ns"], "names namespace 'other' but -n says 'ns'"),
    (["preempt"], "name a workload (NAME, KIND/NAME, NS/NAME or NS/KIND/NAME) or select with -l"),
    (["delete", "x", "-l", "app=x"], "not both"),
    (["delete", "-l", "app in (a"], "unable to parse requirement: found '', expected: ',' or ')'"),
    (["scale", "ns/x", "2.5"], "got '2.5'"),
    (["scale", "ns/x", "two"], "got 'two'"),
    (["preempt", "ns/widget/x"], "unknown kind 'widget'"),
    (["delete", "ns/Bad_Name"], "is not a valid Kubernetes name"),
])
def test_usage_errors_exit_2_before_connecting(argv, expected, capsys) -> None:
    assert main([*argv, "--kubeconfig", "/nonexistent"]) == 2
    assert expected in capsys.readouterr().err


def test_argparse_rejects_an_unknown_type() -> None:
    with pytest.raises(SystemExit) as e:
        main(["submit", "notebook", "x"])
    assert e.value.code == 2


async def test_unreachable_cluster_exits_1_saying_so(make_env, capsys) -> None:
    env = await _env(make_env)
    await env.server.stop()
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/serve", "3", "--yes")
    assert rc == 1 and f"cannot reach {env.server.url} (context sim-admin from {env.kubeconfig}): " \
        "connection refused" in err
    assert env.audit.entries()[-1]["outcome"] == "refused"


async def test_scale_on_an_autoscaled_service_changes_its_bounds_never_its_replicas(make_env, capsys) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "submit", "inference", "chat", "-p", "team-a", "-i", "vllm/vllm:1",
                              "--gpu", "0.5", "--min-replicas", "1", "--max-replicas", "2", "--yes")
    assert rc == 0, err
    env.settle(2)
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/chat", "3", "--yes")
    assert rc == 1 and "is autoscaled by knative" in err and "change its bounds instead" in err
    assert snapshot(env.cluster) == before
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/chat", "--max", "4", "--yes")
    assert rc == 0, err
    assert "changes its bounds to 1–4, not its replicas" in out
    ann = env.cluster.store.get(KSVCS, "runai-team-a", "chat")["spec"]["template"]["metadata"]["annotations"]
    assert (ann["autoscaling.knative.dev/min-scale"], ann["autoscaling.knative.dev/max-scale"]) == ("1", "4")
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/chat", "--min", "5", "--yes")
    assert rc == 1 and "max replicas (4) must be at least min replicas (5)" in err


async def test_scale_on_an_hpa_driven_deployment_patches_the_hpa(make_env, capsys) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 4}]), without=("serving.knative.dev",))
    rc, out, err = await _run(env, capsys, "submit", "inference", "web", "-p", "team-a", "-i", "nginx:1.27",
                              "--min-replicas", "1", "--max-replicas", "2", "--yes")
    assert rc == 0, err
    rc, out, err = await _run(env, capsys, "scale", "runai-team-a/web", "--min", "2", "--max", "3", "--yes")
    assert rc == 0, err
    hpa = env.cluster.store.get(HPAS, "runai-team-a", "web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 3)


# ------------------------------------------------------------------------------- -n, -A, -l, --project
async def test_names_resolve_in_the_contexts_namespace_as_kubectl(make_env, capsys) -> None:
    env = await _env(make_env)
    # sim-team-a's kubeconfig context names runai-team-a: a bare NAME lands there, as `kubectl scale` would
    rc, out, err = await _run(env, capsys, "scale", "serve", "2", "--yes", context="sim-team-a")
    assert rc == 0, err
    assert env.cluster.store.get(DEPLOYMENTS, "runai-team-a", "serve")["spec"]["replicas"] == 2
    rc, out, err = await _run(env, capsys, "scale", "deploy/serve", "+1", "-n", "runai-team-a", "--yes")
    assert rc == 0, err
    assert env.cluster.store.get(DEPLOYMENTS, "runai-team-a", "serve")["spec"]["replicas"] == 3
    rc, out, err = await _run(env, capsys, "scale", "serve", "1", "--project", "team-a", "--dry-run")
    assert rc == 0 and "nothing was sent" in out, err
    # sim-admin's context namespace is `default`, where no `serve` lives: refused, nothing sent
    before = snapshot(env.cluster)
    rc, out, err = await _run(env, capsys, "scale", "serve", "1", "--yes")
    assert rc == 1 and "no workload (Deployment, StatefulSet, Job or ReplicaSet) named 'serve' in default" in err
    assert snapshot(env.cluster) == before


async def test_selector_picks_workloads_like_kubectl_get(make_env, capsys) -> None:
    env = await _env(make_env)
    store = env.cluster.store
    labels = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["metadata"].get("labels") or {}
              for d in [*store.items(DEPLOYMENTS), *store.items(JOBS)]}
    key, value = next(iter(labels[("runai-team-a", "serve")].items()))
    rc, out, err = await _run(env, capsys, "scale", "-l", f"{key}={value}", "-n", "runai-team-a", "2", "--yes")
    assert rc == 0, err
    assert store.get(DEPLOYMENTS, "runai-team-a", "serve")["spec"]["replicas"] == 2
    before = snapshot(env.cluster)
    queue = next(k for k in labels[("runai-team-a", "serve")] if k.endswith("queue"))
    assert labels[("runai-team-b", "train")].get(queue) == "team-b"
    both = f"{queue} in (team-a, team-b)"
    rc, out, err = await _run(env, capsys, "preempt", "-l", both, "-A", "--yes")
    assert rc == 1 and "matches 2 workloads in any namespace; preempt takes one" in err
    assert "runai-team-a/deployment/serve" in err and "runai-team-b/job/train" in err
    rc, out, err = await _run(env, capsys, "delete", "-l", "app=nothing-here", "--project", "team-b", "--yes")
    assert rc == 1 and "no workload in runai-team-b matches -l 'app=nothing-here'" in err
    rc, out, err = await _run(env, capsys, "delete", "-l", "a=b", "-n", "nowhere", "--yes")
    assert rc == 1 and "namespace 'nowhere' not found" in err
    rc, out, err = await _run(env, capsys, "delete", "x", "--project", "ghost", "--yes")
    assert rc == 1 and "project 'ghost' not found (projects: default-queue, team-a, team-b)" in err
    rc, out, err = await _run(env, capsys, "delete", "x", "--project", "team-a", "-n", "runai-team-b", "--yes")
    assert rc == 1 and "namespace 'runai-team-b' is not the namespace of project 'team-a' ('runai-team-a')" in err
    assert snapshot(env.cluster) == before
    rc, out, err = await _run(env, capsys, "delete", "-A", "-l", both, "--dry-run")
    assert rc == 0, err
    assert "Deployment runai-team-a/serve" in out and "Job runai-team-b/train" in out
    assert snapshot(env.cluster) == before


async def test_submit_into_a_namespace_takes_its_project(make_env, capsys, tmp_path) -> None:
    env = await _env(make_env)
    rc, out, err = await _run(env, capsys, "submit", "inference", "nsapp", "-n", "runai-team-b", "-i", "nginx:1.27",
                              "--gpu", "0.5", "--dry-run")
    assert rc == 0, err
    assert "namespace: runai-team-b" in out and "nothing was sent" in out
    rc, out, err = await _run(env, capsys, "submit", "inference", "nsapp", "-n", "runai-team-b", "-p", "team-a",
                              "-i", "nginx:1.27", "--dry-run")
    assert rc == 1 and "namespace 'runai-team-b' is not the namespace of project 'team-a'" in err
    f = tmp_path / "pod.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: runai-team-a}\n"
                 "spec: {containers: [{name: c, image: busybox:1.36}]}\n")
    rc, out, err = await _run(env, capsys, "submit", "-f", str(f), "-n", "runai-team-b", "--dry-run")
    assert rc == 1
    assert ("the namespace from the provided object 'runai-team-a' does not match the namespace 'runai-team-b'. "
            "You must pass '--namespace=runai-team-a' to perform this operation.") in err
