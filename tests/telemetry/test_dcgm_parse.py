"""The lenient dcgm-exporter parser against real scrapes, with prometheus_client as the oracle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.telemetry.dcgm_parse import NEEDED, dcgm_value, parse, parse_labels, to_sample



def is_prometheus(line: str) -> bool:
    """Whether prometheus_client accepts the line on its own (the real files carry human notes too)."""
    if not line.strip() or line.startswith("#"):
        return True
    try:
        list(text_string_to_metric_families(line + "\n"))
        return True
    except ValueError:
        return False


def sections(text: str) -> list[tuple[str, int]]:
    """A real file as scrapes, split at separator lines; each with its count of non-Prometheus lines."""
    out: list[tuple[str, int]] = []
    for chunk in re.split(r"(?m)^-{10,}\n", text):
        out.append((chunk, sum(1 for ln in chunk.splitlines() if not is_prometheus(ln))))
    return out


def oracle(text: str) -> dict[tuple, float | None]:
    """prometheus_client's reading of the needed families, keyed (family, UUID, GPU_I_ID)."""
    clean = "\n".join(ln for ln in text.splitlines() if is_prometheus(ln)) + "\n"
    out: dict[tuple, float | None] = {}
    for fam in text_string_to_metric_families(clean):
        if fam.name not in NEEDED:
            continue
        for s in fam.samples:
            gi = s.labels.get("GPU_I_ID")
            v = s.value
            out[(fam.name, s.labels["UUID"], int(gi) if gi else None)] = None if v >= 2**47 else v
    return out


def ours(text: str) -> dict[tuple, float | None]:
    p = parse(text)
    return {(fam, uuid, gi): v for (uuid, gi), g in p.gpus.items() for fam, v in g.values.items()}


def real_files(realworld: Path) -> list[Path]:
    files = sorted((realworld / "dcgm-exporter").glob("*.prom"))
    assert len(files) >= 3
    return files


def test_every_real_scrape_parses_like_prometheus_client(realworld: Path) -> None:
    checked = 0
    for f in real_files(realworld):
        for chunk, notes in sections(f.read_text()):
            expect = oracle(chunk)
            if not expect:
                continue
            got = ours(chunk)
            assert got == expect, f.name
            assert parse(chunk).bad_lines == notes, f.name
            checked += len(expect)
    assert checked >= 50


def test_whole_files_keep_the_last_value_and_count_the_notes(realworld: Path) -> None:
    f = realworld / "dcgm-exporter" / "empty_mig_disabled.prom"
    p = parse(f.read_text())
    # A title line and two separator lines are not Prometheus text: skipped and counted, the rest kept.
    assert p.bad_lines == 3 and "Empty mig disabled" in p.bad_examples
    (g,) = p.gpus.values()
    assert g.uuid == "GPU-7099682b-a20d-2bcc-74ab-b9060454d81e" and g.model == "NVIDIA A100-SXM4-40GB"
    assert g.hostname == "nvidia-dcgm-exporter-drqwq" and g.pods == []
    s = to_sample(g, "node-a")
    assert (s.util_pct, s.mem_used_mib, s.mem_free_mib, s.mem_total_mib) == (0.0, 0.0, 40384.0, 40384.0)
    assert s.node == "node-a" and s.index == 0 and s.gi_id is None


def test_fraction_scrape_names_the_reservation_pod(realworld: Path) -> None:
    p = parse((realworld / "dcgm-exporter" / "fraction_1_workload.prom").read_text())
    by_index = {g.index: g for g in p.gpus.values()}
    assert set(by_index) == {0, 1}
    assert by_index[0].pods == [("runai-reservation", "runai-reservation-gpu-qa-mig-worker-gpu-1-kvltw",
                                 "runai-reservation")]
    assert by_index[1].pods == []
    s0 = to_sample(by_index[0], "n")
    assert s0.power_w == pytest.approx(28.722) and s0.temp_c == 55.0 and s0.mem_used_mib == 128.0
    assert s0.pods[0].via == "exporter" and s0.pods[0].name.startswith("runai-reservation-")


def test_mig_instances_are_keyed_by_uuid_and_instance(realworld: Path) -> None:
    p = parse((realworld / "dcgm-exporter" / "mig_4_active_workloads.prom").read_text())
    uuid = "GPU-473571f2-fb37-ef7e-50fe-9885b74a23cd"
    assert set(p.gpus) == {(uuid, 7), (uuid, 8), (uuid, 9), (uuid, 5)}
    assert p.gpus[(uuid, 5)].profile == "2g.10gb" and p.gpus[(uuid, 7)].profile == "1g.5gb"
    busy = to_sample(p.gpus[(uuid, 8)], "n")
    assert busy.mem_used_mib == 4384.0 and busy.mig_profile == "1g.5gb" and busy.parent_uuid == uuid
    # No GPU_UTIL on MIG: utilisation is the graphics engine's activity, as a percentage.
    gr = p.gpus[(uuid, 8)].values["DCGM_FI_PROF_GR_ENGINE_ACTIVE"]
    assert gr and busy.util_pct == pytest.approx(gr * 100, abs=1e-3)
    assert to_sample(p.gpus[(uuid, 7)], "n").util_pct == 0.0


LINE = ('DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",'
        '{host}="exp-1",container="main",namespace="team",pod="train-0"}} {value}')


def test_sentinels_become_missing_values() -> None:
    for blank in ("9223372036854775794", "9223372036854775792", "9223372036854775807", "2147483632",
                  "2147483634", "140737488355328", "140737488355330.000000", "NaN"):
        assert dcgm_value(blank) is None, blank
    assert dcgm_value("0") == 0.0 and dcgm_value("28.722000") == pytest.approx(28.722)
    assert dcgm_value("2147483631") == 2147483631.0      # just under the int32 blank: a real number
    text = LINE.format(host="Hostname", value="9223372036854775794") + "\n"
    (g,) = parse(text).gpus.values()
    assert g.values == {"DCGM_FI_DEV_GPU_UTIL": None}
    assert to_sample(g, "n").util_pct is None


def test_both_hostname_spellings_and_old_pod_labels() -> None:
    new = parse(LINE.format(host="hostname", value="7") + "\n")
    old = parse(LINE.format(host="Hostname", value="7") + "\n")
    assert new.hostname == old.hostname == "exp-1"
    legacy = ('DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",Hostname="h",container_name="c",pod_namespace="ns",'
              'pod_name="p"} 512\n')
    (g,) = parse(legacy).gpus.values()
    assert g.pods == [("ns", "p", "c")] and g.values["DCGM_FI_DEV_FB_USED"] == 512.0


def test_garbage_lines_are_skipped_and_counted_and_the_rest_kept() -> None:
    good = LINE.format(host="Hostname", value="55")
    text = "\n".join([
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        good,
        'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a"} ERROR - FAILED TO CONVERT TO STRING',   # bad value
        'DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a" 12.5',                                # no closing brace
        'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a} 10',                                      # unterminated value
        "!!! binary junk \x00\x01",
        "4 Active Workloads",
        'DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a"} 100 1700000000000',                       # with a timestamp
        'DCGM_FI_DEV_MEM_CLOCK{gpu="0",UUID="GPU-a"} not-a-number',  # a family we do not keep: not parsed
        "",
    ])
    p = parse(text)
    assert p.bad_lines == 5
    (g,) = p.gpus.values()
    assert g.values == {"DCGM_FI_DEV_GPU_UTIL": 55.0, "DCGM_FI_DEV_FB_FREE": 100.0}
    assert g.pods == [("team", "train-0", "main")]
    # prometheus_client gives up on the whole text at the first bad line; this parser does not.
    with pytest.raises(ValueError):
        list(text_string_to_metric_families(text))


def test_escaped_label_values() -> None:
    labels, end = parse_labels('{a="x\\"y",b="back\\\\slash",c="n\\nl",}} 1', 1)
    assert labels == {"a": 'x"y', "b": "back\\slash", "c": "n\nl"}
    text = 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",modelName="Odd \\"Name\\""} 3\n'
    (g,) = parse(text).gpus.values()
    assert g.model == 'Odd "Name"' and g.values["DCGM_FI_DEV_GPU_UTIL"] == 3.0
    assert parse(text).gpus == parse(text.replace("\n", "\r\n")).gpus


def test_virtual_gpu_copies_list_every_sharing_pod() -> None:
    text = "".join(LINE.format(host="Hostname", value="40").replace("train-0", pod) + "\n"
                   for pod in ("a", "b"))
    (g,) = parse(text).gpus.values()
    assert [p[1] for p in g.pods] == ["a", "b"] and g.values["DCGM_FI_DEV_GPU_UTIL"] == 40.0
