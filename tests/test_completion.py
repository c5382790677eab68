"""Shell completion: the scripts `gpuconsole completion SHELL` prints, driven in a real bash (and fish and zsh
where installed), completing subcommands, flags, choices, kubeconfig contexts and the cluster's namespaces and
projects (from the demo simulator)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from console.cli import main

BIN = str(Path(sys.executable).parent)  # the environment's `gpuconsole` script lives beside its python

# Complete LINE as bash does on TAB: COMP_LINE/COMP_POINT/COMP_WORDS/COMP_CWORD set, then the registered function.
BASH_DRIVER = r'''
source <(gpuconsole completion bash) || exit 3
spec=$(complete -p gpuconsole) || exit 4
fn=${spec#*-F }; fn=${fn%% *}
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMPREPLY=()
"$fn" gpuconsole "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def _env(kubeconfig: str | Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_ARC", "COMP_"))}
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["KUBECONFIG"] = str(kubeconfig)
    return env


async def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def _bash(line: str, kubeconfig: str | Path) -> list[str]:
    rc, out, err = await _run(["bash", "-c", BASH_DRIVER, "driver", line], _env(kubeconfig))
    assert rc == 0, err
    return [w.strip() for w in out.splitlines() if w.strip()]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
async def test_bash_completes_subcommands_flags_contexts_namespaces_and_projects(demo) -> None:
    cluster, kubeconfig = demo
    assert await _bash("gpuconsole sn", kubeconfig) == ["snapshot"]
    assert set(await _bash("gpuconsole s", kubeconfig)) == {"sim", "snapshot", "submit", "scale"}
    assert "--watch" in await _bash("gpuconsole snapshot --w", kubeconfig)
    assert await _bash("gpuconsole snapshot -o ", kubeconfig) == ["table", "wide", "json", "yaml"]
    assert "--all-namespaces" in await _bash("gpuconsole delete --all", kubeconfig)
    assert await _bash("gpuconsole --context sim-vie", kubeconfig) == ["sim-viewer"]
    assert await _bash("gpuconsole snapshot -n runai-chat", kubeconfig) == ["runai-chat-serving"]
    assert await _bash("gpuconsole scale --project fraud", kubeconfig) == ["fraud-detect"]
    assert {"bash", "zsh", "fish"} <= set(await _bash("gpuconsole completion ", kubeconfig))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
async def test_an_unreachable_cluster_completes_nothing_and_says_nothing(tmp_path: Path) -> None:
    kc = tmp_path / "k.yaml"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                  "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "current-context: x\n")
    rc, out, err = await _run(["bash", "-c", BASH_DRIVER, "driver", "gpuconsole snapshot -n "], _env(kc))
    assert (rc, out.strip(), err) == (0, "", "")
    assert await _bash("gpuconsole --context ", kc) == ["x"]
    assert await _bash("gpuconsole --context ", tmp_path / "missing.yaml") == []


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
async def test_fish_completes_through_its_own_script(demo) -> None:
    _, kubeconfig = demo
    rc, out, err = await _run(["fish", "-c", "gpuconsole completion fish | source; complete -C 'gpuconsole sn'; "
                               "complete -C 'gpuconsole snapshot -n runai-spe'"], _env(kubeconfig))
    assert rc == 0, err
    words = [line.split("\t")[0] for line in out.splitlines()]
    assert words == ["snapshot", "runai-speech"]


async def test_zsh_protocol_and_script(demo) -> None:
    """The answer zsh's script reads (`_ARGCOMPLETE_SHELL=zsh`: value:description pairs on fd 8); and where zsh
    is installed, the script loads into its completion system."""
    _, kubeconfig = demo
    env = _env(kubeconfig) | {"_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": "zsh", "COMP_LINE": "gpuconsole sn",
                              "COMP_POINT": str(len("gpuconsole sn")), "_ARGCOMPLETE_SUPPRESS_SPACE": "1"}
    rc, out, err = await _run(["bash", "-c", "gpuconsole 8>&1 1>/dev/null 2>&1"], env)
    assert rc == 0 and out.startswith("snapshot:sync once"), (out, err)
    if shutil.which("zsh"):
        rc, out, err = await _run(["zsh", "-c", "autoload -U compinit && compinit -u && "
                                   "source <(gpuconsole completion zsh) && print ${_comps[gpuconsole]}"],
                                  _env(kubeconfig))
        assert rc == 0 and out.strip() == "_python_argcomplete", err


def test_unknown_shell_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["completion", "tcsh"])
    assert e.value.code == 2
    assert "invalid choice: 'tcsh' (choose from 'bash', 'zsh', 'fish')" in capsys.readouterr().err
    assert main(["completion", "bash"]) == 0
    assert "complete -o nospace -o default -o bashdefault -F _python_argcomplete gpuconsole" in \
        capsys.readouterr().out
