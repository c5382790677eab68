"""Kubeconfig loading follows kubectl exactly: generated sets of kubeconfig files against the real kubectl.

Each case writes 1–4 files (overlapping cluster, user and context names, some setting current-context,
some empty, blank or missing, namespaces on some contexts), sometimes names one with --kubeconfig (with
KUBECONFIG set to others, which must then be ignored) and sometimes picks --context. kubectl's answer
(`kubectl config view --minify --flatten`) and ours must agree on context, server, user and namespace,
or both must refuse. The rules are client-go's (tools/clientcmd/loader.go: ClientConfigLoadingRules.Load).
`GPUCONSOLE_KUBECONFIG_CASES` runs more cases than the default.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from console.kube.config import ConfigError, list_contexts, load_kubeconfig

KUBECTL = shutil.which("kubectl")
CASES = int(os.environ.get("GPUCONSOLE_KUBECONFIG_CASES", "64"))
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH: nothing to compare with")

CLUSTERS = ["c0", "c1", "c2"]
USERS = ["u0", "u1", "u2"]
CONTEXTS = ["x0", "x1", "x2", "x3"]


@dataclass
class Case:
    seed: int
    dir: Path
    files: list[str]          # KUBECONFIG, in order
    explicit: str | None      # --kubeconfig
    context: str | None       # --context

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(self.dir)  # no ~/.kube/config of this machine leaks in
        env["KUBECONFIG"] = os.pathsep.join(self.files)
        return env

    def describe(self) -> str:
        parts = [f"seed {self.seed}: KUBECONFIG={os.pathsep.join(Path(f).name for f in self.files)}"]
        if self.explicit:
            parts.append(f"--kubeconfig {Path(self.explicit).name}")
        if self.context:
            parts.append(f"--context {self.context}")
        texts = []
        for f in dict.fromkeys([*self.files, *([self.explicit] if self.explicit else [])]):
            p = Path(f)
            texts.append(f"--- {p.name}\n{p.read_text() if p.exists() else '(missing)'}")
        return " ".join(parts) + "\n" + "\n".join(texts)


def _file_doc(rng: random.Random, tag: str) -> dict:
    doc: dict = {"apiVersion": "v1", "kind": "Config"}
    clusters = rng.sample(CLUSTERS, rng.randint(0, len(CLUSTERS)))
    users = rng.sample(USERS, rng.randint(0, len(USERS)))
    contexts = rng.sample(CONTEXTS, rng.randint(0, len(CONTEXTS)))
    # Each file's servers and tokens are its own, so the winner of every name shows in the answer.
    doc["clusters"] = [{"name": c, "cluster": {"server": f"https://{tag}-{c}.example:6443"}} for c in clusters]
    doc["users"] = [{"name": u, "user": {"token": f"{tag}-{u}"}} for u in users]
    ctxs = []
    for x in contexts:
        body = {"cluster": rng.choice(CLUSTERS), "user": rng.choice(USERS)}
        if rng.random() < 0.5:
            body["namespace"] = f"ns-{tag}-{x}"
        ctxs.append({"name": x, "context": body})
    doc["contexts"] = ctxs
    r = rng.random()
    if r < 0.6:
        doc["current-context"] = rng.choice(CONTEXTS + ["gone"])
    elif r < 0.7:
        doc["current-context"] = ""
    return doc


def make_case(seed: int, root: Path) -> Case:
    rng = random.Random(seed)
    d = root / f"case-{seed}"
    d.mkdir()
    files = []
    for i in range(rng.randint(1, 4)):
        path = d / f"k{i}.yaml"
        kind = rng.random()
        if kind < 0.1:
            pass  # listed but missing
        elif kind < 0.18:
            path.write_text("")
        elif kind < 0.22:
            path.write_text("# nothing here yet\n\n")
        else:
            path.write_text(yaml.safe_dump(_file_doc(rng, f"f{i}"), sort_keys=rng.random() < 0.5))
        files.append(str(path))
    if rng.random() < 0.15:
        files.append(files[0])  # listed twice: read once
    explicit = None
    if rng.random() < 0.2:
        explicit = rng.choice(files)
    context = rng.choice(CONTEXTS + ["nope"]) if rng.random() < 0.3 else None
    return Case(seed, d, files, explicit, context)


def kubectl_answer(case: Case) -> tuple[str, str, str, str] | None:
    """(context, server, user, namespace) kubectl would use, or None when kubectl refuses."""
    args = [KUBECTL, "config", "view", "--minify", "--flatten", "-o", "json"]  # type: ignore[list-item]
    if case.explicit:
        args += ["--kubeconfig", case.explicit]
    if case.context:
        args += ["--context", case.context]
    out = subprocess.run(args, env=case.env(), capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None
    doc = json.loads(out.stdout)
    ctx = doc["contexts"][0]
    cluster = doc["clusters"][0]["cluster"]
    return (ctx["name"], cluster["server"], ctx["context"].get("user", ""),
            ctx["context"].get("namespace") or "default")


def our_answer(case: Case, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str, str] | None:
    for k, v in case.env().items():
        if k in ("KUBECONFIG", "HOME"):
            monkeypatch.setenv(k, v)
    try:
        creds = load_kubeconfig(case.explicit, case.context)
    except ConfigError:
        return None
    return creds.context, creds.server, creds.user, creds.namespace


@needs_kubectl
def test_generated_kubeconfig_sets_match_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [make_case(seed, tmp_path) for seed in range(CASES)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        theirs = list(pool.map(kubectl_answer, cases))
    agreed = 0
    for case, want in zip(cases, theirs):
        got = our_answer(case, monkeypatch)
        assert got == want, f"kubectl says {want}, we say {got}\n{case.describe()}"
        agreed += want is not None
    # The generator must exercise both outcomes, or the comparison proves little.
    assert CASES // 8 <= agreed <= CASES - CASES // 10, f"only {agreed} of {CASES} cases loaded"


def _two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx-a",
        "clusters": [{"name": "ca", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "ua", "user": {"token": "ta"}}],
        "contexts": [{"name": "ctx-a", "context": {"cluster": "ca", "user": "ua"}}]}))
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx-b",
        "clusters": [{"name": "cb", "cluster": {"server": "https://10.0.0.2:6443"}}],
        "users": [{"name": "ub", "user": {"token": "tb"}}],
        "contexts": [{"name": "ctx-b", "context": {"cluster": "cb", "user": "ub", "namespace": "team-b"}}]}))
    return a, b


def test_first_file_with_current_context_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _two_files(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{b}")
    creds = load_kubeconfig()
    assert (creds.context, creds.server, creds.namespace) == ("ctx-a", "https://10.0.0.1:6443", "default")
    assert creds.source == str(a) and creds.where == f"context ctx-a from {a}"
    monkeypatch.setenv("KUBECONFIG", f"{b}{os.pathsep}{a}")
    creds = load_kubeconfig()
    assert (creds.context, creds.server, creds.namespace) == ("ctx-b", "https://10.0.0.2:6443", "team-b")
    assert list_contexts() == (["ctx-a", "ctx-b"], "ctx-b")
    # --kubeconfig names one file and ignores KUBECONFIG
    creds = load_kubeconfig(str(a))
    assert creds.context == "ctx-a"
    with pytest.raises(ConfigError, match="no context 'ctx-b'"):
        load_kubeconfig(str(a), "ctx-b")


def test_empty_and_missing_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _two_files(tmp_path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "gone.yaml"), str(empty), str(b), str(a)]))
    assert load_kubeconfig().context == "ctx-b"
    with pytest.raises(ConfigError, match="not found"):
        load_kubeconfig(str(tmp_path / "gone.yaml"))  # an explicit file must exist


def test_a_name_is_taken_whole_from_the_first_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": {"server": "https://first:6443"}}],
                                 "users": [{"name": "u", "user": {"token": "first"}}],
                                 "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://second:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "second"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "second"}}],
        "current-context": "x"}))
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{b}")
    creds = load_kubeconfig()
    # The second file's non-conflicting fields (namespace, insecure-skip-tls-verify) are discarded too.
    assert (creds.server, creds.token, creds.namespace, creds.verify) == ("https://first:6443", "first", "default",
                                                                          True)
    assert creds.source == str(a)


def test_relative_paths_resolve_against_their_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.sim.tls import CertificateAuthority

    ca = CertificateAuthority()
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (two / "ca.pem").write_bytes(ca.cert_pem)
    (two / "token").write_text("from-two\n")
    (one / "k.yaml").write_text(yaml.safe_dump({"contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                                                "current-context": "x"}))
    (two / "k.yaml").write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.pem"}}],
        "users": [{"name": "u", "user": {"tokenFile": "token"}}]}))
    monkeypatch.setenv("KUBECONFIG", f"{one / 'k.yaml'}{os.pathsep}{two / 'k.yaml'}")
    monkeypatch.chdir(tmp_path)
    creds = load_kubeconfig()
    assert creds.ca_file == str(two / "ca.pem") and creds.token == "from-two"
    assert creds.ca_from == f"certificate-authority {two / 'ca.pem'} of cluster c"
    if KUBECTL is not None:  # and kubectl read the same CA file
        out = subprocess.run([KUBECTL, "config", "view", "--minify", "--flatten", "-o", "json"], capture_output=True,
                             text=True, env={**os.environ, "KUBECONFIG": os.environ["KUBECONFIG"]}, check=True)
        data = json.loads(out.stdout)["clusters"][0]["cluster"]["certificate-authority-data"]
        assert base64.b64decode(data) == ca.cert_pem


def test_duplicate_name_in_one_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text(yaml.safe_dump({"contexts": [{"name": "x", "context": {}}, {"name": "x", "context": {}}]}))
    with pytest.raises(ConfigError, match="lists 'x' twice"):
        load_kubeconfig(str(p))


def test_dangling_names_are_clear_errors(tmp_path: Path) -> None:
    p = tmp_path / "k.yaml"
    p.write_text(yaml.safe_dump({"contexts": [{"name": "x", "context": {"cluster": "nowhere", "user": "nobody"}}],
                                 "current-context": "x"}))
    with pytest.raises(ConfigError, match="names cluster 'nowhere', which no kubeconfig file defines"):
        load_kubeconfig(str(p))
