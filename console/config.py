"""The console's XDG config file: theme, refresh rate, default view, key overrides, read-only contexts.

`$XDG_CONFIG_HOME/gpuconsole/config.yaml` (else `~/.config/gpuconsole/config.yaml`); `GPUCONSOLE_CONFIG`
names another file. Every problem is collected and reported with the key it concerns, and a file with
any problem is refused whole, so a typo never half-applies.

    theme: gpuconsole-light
    glyphs: auto               # auto (from the locale), unicode, or ascii
    refresh_hz: 4
    default_view: gpus
    readonly: false
    idle_threshold_pct: 5      # an allocated GPU under this utilisation ...
    idle_minutes: 10           # ... for this long is flagged idle-allocated
    keys:                      # binding id: key(s), comma separated
      view.gpus: "2,G"
      row.logs: "L"
      action.delete: "ctrl+x"  # actions: action.submit, action.scale, action.preempt, action.delete, row.mark
    contexts:
      prod:
        readonly: true
    serving_window_s: 60       # serving rates and percentiles over this window ...
    serving_scrape_s: 10       # ... from scrapes of the inference pods this often
    serving_proxy_rps: 100     # at most this many pages a second through the API server's pod proxy
    slos:                      # SLOs for workloads without gpuconsole.io/slo-* annotations; first match wins
      - name: runai-chat/llm-serve            # namespace/name or name
        p95_ms: 800
        error_ratio: 0.01
      - selector: tier=online                 # or a label selector on the workload's labels
        p95_ms: 1500
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from console.model.slo import SloRule, parse_selector

VIEWS = ("projects", "gpus", "workloads", "nodes", "events", "local", "inference")
REFRESH_MIN, REFRESH_MAX = 1.0, 10.0
TOP_KEYS = ("theme", "glyphs", "refresh_hz", "default_view", "readonly", "idle_threshold_pct", "idle_minutes",
            "keys", "contexts", "serving_window_s", "serving_scrape_s", "serving_proxy_rps", "slos")
SLO_KEYS = ("name", "selector", "p95_ms", "error_ratio")
GLYPHS = ("auto", "unicode", "ascii")
CONTEXT_KEYS = ("readonly",)
# Keys a remap may not take: tmux and screen prefixes (k9s #1598) would make the binding unreachable.
RESERVED_KEYS = frozenset({"ctrl+b", "ctrl+a"})


class ConfigError(Exception):
    """The config file cannot be used; `problems` names every bad key."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"config file {path}: " + "; ".join(problems))


@dataclass
class Config:
    theme: str | None = None
    glyphs: str = "auto"
    refresh_hz: float = 4.0
    default_view: str = "projects"
    readonly: bool = False
    idle_threshold_pct: float = 5.0
    idle_minutes: float = 10.0
    keys: dict[str, str] = field(default_factory=dict)
    readonly_contexts: set[str] = field(default_factory=set)
    serving_window_s: float = 60.0    # the window serving rates and percentiles are computed over
    serving_scrape_s: float = 10.0    # how often inference pods are scraped
    serving_proxy_rps: float = 100.0  # the pod proxy's page budget: a bigger fleet makes a round longer
    slos: list[SloRule] = field(default_factory=list)
    path: str | None = None

    def readonly_for(self, context: str | None) -> bool:
        return self.readonly or (context is not None and context in self.readonly_contexts)


def default_path() -> Path:
    env = os.environ.get("GPUCONSOLE_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gpuconsole" / "config.yaml"


def _bool(v: Any, key: str, problems: list[str]) -> bool:
    if isinstance(v, bool):
        return v
    problems.append(f"{key}: must be true or false, not {v!r}")
    return False


def parse(data: Any, path: str = "<config>", *, binding_ids: Iterable[str] | None = None,
          themes: Iterable[str] | None = None) -> Config:
    """Validate a loaded YAML document. Raises ConfigError listing every problem."""
    problems: list[str] = []
    cfg = Config(path=path)
    if data is None:
        return cfg
    if not isinstance(data, dict):
        raise ConfigError(path, [f"the file must be a mapping of settings, not {type(data).__name__}"])
    for k in data:
        if k not in TOP_KEYS:
            problems.append(f"{k}: unknown setting (known: {', '.join(TOP_KEYS)})")
    if "theme" in data:
        t = data["theme"]
        known = set(themes) if themes is not None else None
        if not isinstance(t, str) or not t:
            problems.append(f"theme: must be a theme name, not {t!r}")
        elif known is not None and t not in known:
            problems.append(f"theme: unknown theme {t!r} (available: {', '.join(sorted(known))})")
        else:
            cfg.theme = t
    if "glyphs" in data:
        g = data["glyphs"]
        if g not in GLYPHS:
            problems.append(f"glyphs: {g!r} is not one of {', '.join(GLYPHS)}")
        else:
            cfg.glyphs = g
    if "refresh_hz" in data:
        r = data["refresh_hz"]
        if isinstance(r, bool) or not isinstance(r, (int, float)):
            problems.append(f"refresh_hz: must be a number, not {r!r}")
        elif not REFRESH_MIN <= r <= REFRESH_MAX:
            problems.append(f"refresh_hz: {r} is outside {REFRESH_MIN:g}..{REFRESH_MAX:g}")
        else:
            cfg.refresh_hz = float(r)
    if "default_view" in data:
        v = data["default_view"]
        if v not in VIEWS:
            problems.append(f"default_view: {v!r} is not one of {', '.join(VIEWS)}")
        else:
            cfg.default_view = v
    if "readonly" in data:
        cfg.readonly = _bool(data["readonly"], "readonly", problems)
    for key, lo, hi in (("idle_threshold_pct", 0.0, 100.0), ("idle_minutes", 0.0, 24 * 60.0),
                        ("serving_window_s", 10.0, 3600.0), ("serving_scrape_s", 2.0, 600.0),
                        ("serving_proxy_rps", 1.0, 10_000.0)):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append(f"{key}: must be a number, not {v!r}")
            elif not lo <= v <= hi:
                problems.append(f"{key}: {v} is outside {lo:g}..{hi:g}")
            else:
                setattr(cfg, key, float(v))
    if cfg.serving_scrape_s * 2 > cfg.serving_window_s and not any("serving_" in p for p in problems):
        problems.append(f"serving_window_s: {cfg.serving_window_s:g} must hold at least two scrapes "
                        f"(serving_scrape_s is {cfg.serving_scrape_s:g})")
    cfg.slos = _slos(data.get("slos"), problems)
    keys = data.get("keys")
    if keys is not None:
        ids = set(binding_ids) if binding_ids is not None else None
        if not isinstance(keys, dict):
            problems.append("keys: must map binding ids to keys, for example keys: {row.logs: L}")
        else:
            for bid, key in keys.items():
                if ids is not None and bid not in ids:
                    problems.append(f"keys.{bid}: unknown binding id (see ? in the console for the ids)")
                    continue
                if not isinstance(key, str) or not key.strip():
                    problems.append(f"keys.{bid}: must be a key name such as 'L' or 'ctrl+l', not {key!r}")
                    continue
                parts = [p.strip() for p in key.split(",")]
                if any(not p for p in parts):
                    problems.append(f"keys.{bid}: empty key in {key!r}")
                    continue
                bad = [p for p in parts if p.lower() in RESERVED_KEYS]
                if bad:
                    problems.append(f"keys.{bid}: {', '.join(bad)} is a tmux/screen prefix; choose another key")
                    continue
                cfg.keys[str(bid)] = ",".join(parts)
    contexts = data.get("contexts")
    if contexts is not None:
        if not isinstance(contexts, dict):
            problems.append("contexts: must map context names to settings, for example contexts: {prod: {readonly: true}}")
        else:
            for name, body in contexts.items():
                if not isinstance(body, dict):
                    problems.append(f"contexts.{name}: must be a mapping such as {{readonly: true}}")
                    continue
                for k, v in body.items():
                    if k not in CONTEXT_KEYS:
                        problems.append(f"contexts.{name}.{k}: unknown setting (known: {', '.join(CONTEXT_KEYS)})")
                    elif _bool(v, f"contexts.{name}.{k}", problems):
                        cfg.readonly_contexts.add(str(name))
    if problems:
        raise ConfigError(path, problems)
    return cfg


def _slos(items: Any, problems: list[str]) -> list[SloRule]:
    """`slos:` entries: each a `name` (`namespace/name` or `name`) or a label `selector`, and targets."""
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append("slos: must be a list, for example slos: [{name: team/llm, p95_ms: 800}]")
        return []
    out: list[SloRule] = []
    for i, d in enumerate(items):
        where = f"slos[{i}]"
        if not isinstance(d, dict):
            problems.append(f"{where}: must be a mapping of name or selector, p95_ms, error_ratio")
            continue
        bad = [k for k in d if k not in SLO_KEYS]
        if bad:
            problems.append(f"{where}.{bad[0]}: unknown setting (known: {', '.join(SLO_KEYS)})")
            continue
        name, sel = d.get("name"), d.get("selector")
        if (name is None) == (sel is None):
            problems.append(f"{where}: give exactly one of name or selector")
            continue
        if name is not None and (not isinstance(name, str) or not name.strip()):
            problems.append(f"{where}.name: must be namespace/name or name, not {name!r}")
            continue
        selector: tuple[tuple[str, str, bool], ...] = ()
        if sel is not None:
            try:
                selector = parse_selector(str(sel))
            except ValueError as e:
                problems.append(f"{where}.selector: {e}")
                continue
        targets: dict[str, float] = {}
        for key, hi in (("p95_ms", 3.6e6), ("error_ratio", 1.0)):
            v = d.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= hi:
                problems.append(f"{where}.{key}: must be a number more than 0 and at most {hi:g}, not {v!r}")
                continue
            targets[key] = float(v)
        if not targets:
            problems.append(f"{where}: give p95_ms, error_ratio or both")
            continue
        out.append(SloRule(targets.get("p95_ms"), targets.get("error_ratio"), name.strip() if name else None,
                           selector))
    return out


def load(path: str | Path | None = None, *, binding_ids: Iterable[str] | None = None,
         themes: Iterable[str] | None = None) -> Config:
    """The config file, or defaults when there is none. Raises ConfigError for a bad file."""
    p = Path(path) if path else default_path()
    if not p.exists():
        if path:  # named explicitly: it must exist
            raise ConfigError(str(p), ["file not found"])
        return Config()
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(str(p), [f"cannot read it: {e}"]) from None
    return parse(data, str(p), binding_ids=binding_ids, themes=themes)
