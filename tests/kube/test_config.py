"""Credentials come from the official loaders: contexts, tokens, exec plugins, and clear errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from console.kube.config import ConfigError, list_contexts, load, load_kubeconfig


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "kubeconfig.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster: {server: "http://127.0.0.1:6443"}
- name: prod
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: admin-token-123}
- name: viewer
  user: {token: viewer-token-456}
contexts:
- name: sim-admin
  context: {cluster: sim, user: admin}
- name: sim-viewer
  context: {cluster: sim, user: viewer, namespace: runai-team-a}
- name: prod
  context: {cluster: prod, user: admin}
current-context: sim-admin
"""


def test_current_context_and_token(tmp_path: Path) -> None:
    creds = load_kubeconfig(_write(tmp_path, KUBECONFIG))
    assert creds.server == "http://127.0.0.1:6443"
    assert creds.context == "sim-admin"
    assert creds.cluster == "sim" and creds.user == "admin"
    assert creds.headers() == {"Authorization": "Bearer admin-token-123"}
    assert creds.namespace == "default"
    assert creds.ssl_context() is False  # plain http


def test_named_context_and_namespace(tmp_path: Path) -> None:
    creds = load_kubeconfig(_write(tmp_path, KUBECONFIG), "sim-viewer")
    assert creds.token == "viewer-token-456"
    assert creds.namespace == "runai-team-a"


def test_insecure_skip_verify_is_respected(tmp_path: Path) -> None:
    creds = load_kubeconfig(_write(tmp_path, KUBECONFIG), "prod")
    assert creds.verify is False
    ctx = creds.ssl_context()
    assert ctx is not False and ctx.check_hostname is False


def test_list_contexts_in_kubectl_order(tmp_path: Path) -> None:
    names, current = list_contexts(_write(tmp_path, KUBECONFIG))
    assert names == ["prod", "sim-admin", "sim-viewer"]  # `kubectl config get-contexts` sorts by name
    assert current == "sim-admin"


def test_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        load_kubeconfig(_write(tmp_path, KUBECONFIG), "nope")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_kubeconfig(str(tmp_path / "absent.yaml"))


def test_malformed_yaml_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_kubeconfig(str(p))


def test_exec_plugin_token(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
        " 'status': {'token': 'from-exec-plugin'}}))\n")
    text = f"""
    apiVersion: v1
    kind: Config
    clusters:
    - name: c
      cluster: {{server: "http://127.0.0.1:1"}}
    users:
    - name: u
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1beta1
          command: {sys.executable}
          args: ["{plugin}"]
    contexts:
    - name: x
      context: {{cluster: c, user: u}}
    current-context: x
    """
    creds = load_kubeconfig(_write(tmp_path, text))
    assert creds.token == "from-exec-plugin"
    assert creds.reload().token == "from-exec-plugin"


def test_load_prefers_kubeconfig_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", _write(tmp_path, KUBECONFIG))
    assert load().context == "sim-admin"


def test_load_without_any_config_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="--demo"):
        load()


def test_kubeconfig_env_with_several_files_is_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(textwrap.dedent("""
    apiVersion: v1
    kind: Config
    clusters: [{name: c1, cluster: {server: "http://127.0.0.1:1111"}}]
    users: [{name: u1, user: {token: t1}}]
    contexts: [{name: one, context: {cluster: c1, user: u1}}]
    current-context: one
    """))
    second = tmp_path / "b.yaml"
    second.write_text(textwrap.dedent("""
    apiVersion: v1
    kind: Config
    clusters: [{name: c2, cluster: {server: "http://127.0.0.1:2222"}}]
    users: [{name: u2, user: {token: t2}}]
    contexts: [{name: two, context: {cluster: c2, user: u2}}]
    current-context: two
    """))
    import os
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    assert load(context="one").token == "t1"
    assert load(context="two").token == "t2"
    assert load().context == "one"  # the first file that sets current-context wins, as with kubectl
    monkeypatch.setenv("KUBECONFIG", f"{second}{os.pathsep}{first}")
    assert load().context == "two" and load().server == "http://127.0.0.1:2222"


def test_username_and_password_become_basic_auth(tmp_path: Path) -> None:
    import base64
    text = """
    apiVersion: v1
    kind: Config
    clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
    users: [{name: u, user: {username: alice, password: "s3:cret"}}]
    contexts: [{name: x, context: {cluster: c, user: u}}]
    current-context: x
    """
    creds = load_kubeconfig(_write(tmp_path, text))
    assert (creds.username, creds.password, creds.token) == ("alice", "s3:cret", None)
    assert creds.headers() == {"Authorization": "Basic " + base64.b64encode(b"alice:s3:cret").decode()}
    assert creds.auth_kind == "username and password"
