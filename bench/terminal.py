"""What the terminal fallbacks and shell completion cost.

1. The ASCII line filter (a terminal without UTF-8) on every frame, side by side with the filter Textual itself
   runs on every frame under NO_COLOR (its Monochrome): one 160x48 frame of GPU-pane-like segments (bars,
   sparklines, separators, ASCII text), medians of 21 runs.
2. A TAB in bash: `gpuconsole sn<TAB>` and `gpuconsole snapshot -n <TAB>` on a cluster that refuses the
   connection, side by side with `gpuconsole --version` (the interpreter and the parser alone), medians of 5.
Run: `.venv/bin/python -m bench.terminal`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual.filter import Monochrome

from console.ui.terminal import AsciiOnly, PlainMonochrome

BIN = str(Path(sys.executable).parent)
DRIVER = r'''
source <(gpuconsole completion bash)
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_python_argcomplete gpuconsole "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
'''


def frame(width: int = 160, height: int = 48) -> list[list[Segment]]:
    styles = [Style(color=c, bgcolor="#101418") for c in ("#5AA9E6", "#F08A5D", "#B983FF", "#5BC489")]
    lines = []
    for y in range(height):
        segs = [Segment(f"  #{y % 8} GPU-4d9fb3ea… ", styles[0]), Segment("█████", styles[1]),
                Segment("▓▓▓▓▓", styles[2]), Segment("··········", styles[3]), Segment("   0  48% ", None),
                Segment("▁▂▃▄▅▆▇█▇▆▅▄", styles[0]), Segment(" 74.1/80  78°C  693W ", styles[3]),
                Segment("■ embeddings 0.25 · ■ spell-correct 0.25", styles[1])]
        used = sum(len(s.text) for s in segs)
        segs.append(Segment(" " * max(0, width - used), None))
        lines.append(segs)
    return lines


def per_frame_ms(apply, lines: list[list[Segment]], runs: int = 21) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        for segs in lines:
            apply(segs, None)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def tab_ms(line: str, env: dict[str, str], runs: int = 5) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["bash", "-c", DRIVER, "x", line], env=env, check=True, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def cmd_ms(argv: list[str], env: dict[str, str], runs: int = 5) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> str:
    lines = frame()
    ascii_ms = per_frame_ms(AsciiOnly().apply, lines)
    mono_ms = per_frame_ms(Monochrome().apply, [[s for s in segs if s.style is not None] for segs in lines])
    plain_mono_ms = per_frame_ms(PlainMonochrome().apply, lines)
    print(f"one 160x48 frame: ascii filter {ascii_ms:.2f} ms | Textual's NO_COLOR filter {mono_ms:.2f} ms | "
          f"ours for unstyled text too {plain_mono_ms:.2f} ms | ratio ascii/monochrome {ascii_ms / mono_ms:.2f}",
          flush=True)
    with tempfile.TemporaryDirectory() as d:
        kc = Path(d) / "k.yaml"
        kc.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                      "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "current-context: x\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("_ARC", "COMP_"))}
        env |= {"PATH": BIN + os.pathsep + env.get("PATH", ""), "KUBECONFIG": str(kc), "XDG_STATE_HOME": d}
        version = cmd_ms([f"{BIN}/gpuconsole", "--version"], env)
        sub = tab_ms("gpuconsole sn", env)
        ns = tab_ms("gpuconsole snapshot -n ", env)
    print(f"bash TAB: 'gpuconsole sn' {sub:.0f} ms | 'snapshot -n ' (cluster refuses) {ns:.0f} ms | "
          f"peer 'gpuconsole --version' {version:.0f} ms", flush=True)
    line = f"ascii_frame_ms={ascii_ms:.2f} monochrome_frame_ms={mono_ms:.2f} tab_ms={sub:.0f} tab_ns_ms={ns:.0f} " \
           f"version_ms={version:.0f}"
    return line


if __name__ == "__main__":
    print(main())
