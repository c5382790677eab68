"""A lenient parser for dcgm-exporter's Prometheus text, keeping only the families the console shows.

Why not prometheus_client's parser: one bad value line aborts its whole parse, and it costs ~10x more
per sample. Real scrapes do contain junk (`ERROR - FAILED TO CONVERT TO STRING` as a value, notes
pasted above the text), so here a bad line is skipped and counted and the rest is kept. DCGM's
"blank" sentinels (not supported, not found, no permission) become None. Host label: `Hostname` in
released exporters, `hostname` on newer ones; pod labels: `pod/namespace/container`, or the 1.x names
`pod_name/pod_namespace/container_name`. GPUs are keyed by UUID and, on MIG, `GPU_I_ID`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import health
from .sampler import VIA_EXPORTER, GpuSample, PodRef

UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_USED, FB_FREE, FB_RESERVED = "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED"
TEMP, MEM_TEMP = "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP"
POWER = "DCGM_FI_DEV_POWER_USAGE"
XID = "DCGM_FI_DEV_XID_ERRORS"
GR_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"   # the utilisation that works on MIG instances (0–1)
SM_CLOCK = "DCGM_FI_DEV_SM_CLOCK"
NEEDED: frozenset[str] = frozenset({UTIL, FB_USED, FB_FREE, FB_RESERVED, TEMP, MEM_TEMP, POWER, XID, GR_ACTIVE,
                                    SM_CLOCK, *health.FAMILIES, *health.LABELED})

# DCGM's blank values: int64 from 0x7ffffffffffffff0, int32 from 0x7ffffff0, fp64 from 2**47.
_INT64_BLANK = 0x7FFFFFFFFFFFFFF0
_INT32_BLANK, _INT32_MAX = 0x7FFFFFF0, 0x7FFFFFFF
_FP64_BLANK = 140737488355328.0
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"\\]*)"')
_LABEL_SET = re.compile(r'\s*(?:[A-Za-z_][A-Za-z0-9_]*="[^"\\]*"\s*(?:,\s*|$))*')

Key = tuple[str | None, int | None]   # (UUID, GPU_I_ID)


def dcgm_value(token: str) -> float | None:
    """A sample's value; None for DCGM sentinels, NaN and infinities. Raises ValueError for non-numbers."""
    v = float(token)
    if not math.isfinite(v):
        return None
    if token.isdigit() and len(token) >= 10:
        n = int(token)
        if n >= _INT64_BLANK or _INT32_BLANK <= n <= _INT32_MAX:
            return None
    if v >= _FP64_BLANK:
        return None
    return v


@dataclass(slots=True)
class ExporterGpu:
    """What the exporter said about one GPU or MIG instance, across all needed families."""

    index: int | None
    uuid: str | None
    gi_id: int | None
    profile: str | None
    model: str | None
    hostname: str | None
    pods: list[tuple[str, str, str]] = field(default_factory=list)   # (namespace, pod, container)
    values: dict[str, float | None] = field(default_factory=dict)
    labeled: dict[str, dict[str, float | None]] = field(default_factory=dict)   # family → label value → value


@dataclass(slots=True)
class ParsedScrape:
    gpus: dict[Key, ExporterGpu] = field(default_factory=dict)
    samples: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)   # the first few, for the error detail

    @property
    def hostname(self) -> str | None:
        return next((g.hostname for g in self.gpus.values() if g.hostname), None)


def _unescape(s: str) -> str:
    return s.replace("\\\\", "\0").replace('\\"', '"').replace("\\n", "\n").replace("\0", "\\")


def parse_labels(line: str, i: int) -> tuple[dict[str, str], int]:
    """Labels from just after `{`; returns them and the index after `}`. Raises ValueError if malformed."""
    labels: dict[str, str] = {}
    n = len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            raise ValueError("unterminated label set")
        if line[i] == "}":
            return labels, i + 1
        eq = line.find("=", i)
        if eq < 0 or eq + 1 >= n or line[eq + 1] != '"':
            raise ValueError("label without a quoted value")
        key = line[i:eq].strip()
        if not _NAME.fullmatch(key):
            raise ValueError(f"bad label name {key!r}")
        j = eq + 2
        q = line.find('"', j)
        while q > 0:
            k = q - 1
            while line[k] == "\\":
                k -= 1
            if (q - 1 - k) % 2 == 0:   # an even run of backslashes: this quote ends the value
                break
            q = line.find('"', q + 1)
        if q < 0:
            raise ValueError("unterminated label value")
        raw = line[j:q]
        labels[key] = _unescape(raw) if "\\" in raw else raw
        i = q + 1
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == ",":
            i += 1
        elif i < n and line[i] != "}":
            raise ValueError("expected , or } after a label")


def _int(s: str | None) -> int | None:
    if s is None or s == "":
        return None
    try:
        return int(s)
    except ValueError:
        return None


def fast_labels(line: str, brace: int) -> tuple[dict[str, str], int] | None:
    """The common case in C: no escapes, well formed. None sends the line to `parse_labels`."""
    close = line.rfind("}")
    if close < brace:
        return None
    seg = line[brace + 1:close]
    if "\\" in seg or not _LABEL_SET.fullmatch(seg):
        return None
    return dict(_LABEL.findall(seg)), close + 1


def parse(text: str, families: frozenset[str] = NEEDED, keep_examples: int = 3) -> ParsedScrape:
    """Parse a scrape, keeping `families`. Never raises: bad lines are counted in `bad_lines`."""
    out = ParsedScrape()
    gpus = out.gpus
    other: set[str] = set()           # names of families not kept, already seen well formed
    by_labels: dict[str, ExporterGpu] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if line[0] in " \t" or line[-1] in " \t":
            line = line.strip()
            if not line or line[0] == "#":
                continue
        brace = line.find("{")
        space = line.find(" ")
        end = brace if brace >= 0 and (space < 0 or brace < space) else space
        name = line[:end] if end >= 0 else line
        if name not in families:
            # Other families are not parsed (speed); only lines that cannot be samples at all count as bad.
            if name in other and end == brace:
                continue
            if not _NAME.fullmatch(name) or end < 0 or (end == space and not _is_value(line[space:])):
                _bad(out, line, keep_examples)
            elif end == brace:
                other.add(name)
            continue
        g: ExporterGpu | None = None
        seg = ""
        extra = health.LABELED.get(name)   # a family whose samples differ by one label: always read labels
        try:
            if end == brace:
                close = line.rfind("}")
                seg = line[brace + 1:close] if close > brace else ""
                g = by_labels.get(seg) if seg and extra is None else None   # a GPU's labels repeat per family
                if g is not None:
                    labels, after = {}, close + 1
                else:
                    got = fast_labels(line, brace)
                    labels, after = got if got is not None else parse_labels(line, brace + 1)
            else:
                labels, after = {}, end
            tokens = line[after:].split()
            if not tokens or len(tokens) > 2:
                raise ValueError("expected a value and an optional timestamp")
            value = dcgm_value(tokens[0])
        except ValueError:
            _bad(out, line, keep_examples)
            continue
        if g is None:
            uuid = labels.get("UUID") or labels.get("uuid") or None
            gi = _int(labels.get("GPU_I_ID"))
            key = (uuid, gi) if uuid else (f"gpu{labels.get('gpu', '?')}", gi)
            g = gpus.get(key)
            if g is None:
                g = gpus[key] = ExporterGpu(
                    _int(labels.get("gpu")), uuid, gi, labels.get("GPU_I_PROFILE") or None,
                    labels.get("modelName") or None, labels.get("Hostname") or labels.get("hostname") or None)
            pod = labels.get("pod", labels.get("pod_name", ""))
            if pod:
                who = (labels.get("namespace", labels.get("pod_namespace", "")), pod,
                       labels.get("container", labels.get("container_name", "")))
                if who not in g.pods:
                    g.pods.append(who)
            if seg and extra is None:
                by_labels[seg] = g
        if extra is not None:
            g.labeled.setdefault(name, {})[labels.get(extra, "")] = value
        else:
            g.values[name] = value
        out.samples += 1
    return out


def _is_value(rest: str) -> bool:
    """Whether `rest` is a sample's value with an optional integer timestamp."""
    tokens = rest.split()
    if not 1 <= len(tokens) <= 2:
        return False
    try:
        float(tokens[0])
        if len(tokens) == 2:
            int(tokens[1])
    except ValueError:
        return False
    return True


def _bad(out: ParsedScrape, line: str, keep: int) -> None:
    out.bad_lines += 1
    if len(out.bad_examples) < keep:
        out.bad_examples.append(line[:120])


def to_sample(g: ExporterGpu, node: str) -> GpuSample:
    """One exporter GPU as a GpuSample. On MIG, utilisation is the graphics engine's activity (the
    exporter's GPU_UTIL reads 0 there); memory total is used + free + reserved as the exporter has no
    total."""
    v = g.values
    util = v.get(UTIL)
    if (g.gi_id is not None or util is None) and v.get(GR_ACTIVE) is not None:
        util = round(v[GR_ACTIVE] * 100.0, 3)  # type: ignore[operator]
    elif g.gi_id is not None:
        util = None
    used, free, reserved = v.get(FB_USED), v.get(FB_FREE), v.get(FB_RESERVED)
    total = used + free + (reserved or 0.0) if used is not None and free is not None else None
    xid = v.get(XID)
    return GpuSample(
        node=node, index=g.index, uuid=g.uuid, model=g.model, gi_id=g.gi_id, mig_profile=g.profile,
        parent_uuid=g.uuid if g.gi_id is not None else None, util_pct=util, mem_used_mib=used,
        mem_free_mib=free, mem_reserved_mib=reserved, mem_total_mib=total, temp_c=v.get(TEMP),
        power_w=v.get(POWER), last_xid=int(xid) if xid is not None else None, sm_clock_mhz=v.get(SM_CLOCK),
        health=health.from_exporter(v, g.labeled),
        pods=tuple(PodRef(ns, pod, c, VIA_EXPORTER) for ns, pod, c in g.pods))
