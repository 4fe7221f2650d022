"""scripts/gpu_check.py end to end on the CPU (--smoke), and its Markdown table insertion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402
import gpu_report  # noqa: E402

DOC = "# Benchmarks\n\nintro\n\n## CPU run\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n## Later section\n\ntext\n"


def test_insert_rows_creates_the_section_and_table_then_appends_inside_them():
    cols = ("x", "y")
    once = gpu_report.insert_rows(DOC, "### T", cols, [["1", "2"]])
    twice = gpu_report.insert_rows(once, "### T", cols, [["3", "4"], ["5", "6"]])
    lines = twice.splitlines()
    start = lines.index(gpu_report.SECTION)
    assert lines[start + 1:] == ["", "### T", "", "| x | y |", "| --- | --- |", "| 1 | 2 |", "| 3 | 4 |", "| 5 | 6 |"]
    assert twice.startswith(DOC.rstrip("\n"))  # everything before is untouched


def test_insert_rows_stays_inside_the_gpu_section_when_sections_follow():
    doc = DOC.replace("## Later section", "## GPU runs\n\n### T\n\n| x | y |\n| --- | --- |\n| 0 | 0 |\n\nnote\n\n## Later section")
    out = gpu_report.insert_rows(doc, "### T", ("x", "y"), [["1", "1"]])
    assert "| 0 | 0 |\n| 1 | 1 |\n\nnote\n\n## Later section\n\ntext\n" in out
    other = gpu_report.insert_rows(out, "### U", ("z",), [["9"]])
    assert other.index("### U") < other.index("## Later section") and "| 9 |" in other


def test_insert_rows_refuses_a_changed_header_or_a_short_row():
    doc = gpu_report.insert_rows("", "### T", ("x", "y"), [["1", "2"]])
    with pytest.raises(ValueError, match="has header"):
        gpu_report.insert_rows(doc, "### T", ("x", "y", "z"), [["1", "2", "3"]])
    with pytest.raises(ValueError, match="1 cells"):
        gpu_report.insert_rows(doc, "### T", ("x", "y"), [["1"]])


def test_smoke_run_writes_the_record_and_the_docs_rows(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(DOC)
    threads = torch.get_num_threads()
    try:
        rc = gpu_check.main(["--smoke", "--out", str(tmp_path / "out"), "--docs", str(docs)])
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert rc == 0 and record["errors"] == []
    assert record["environment"]["device"] == "cpu" and record["preset"] == "tiny" and record["dtype"] == "float32"
    tests = record["exactness_tests"]
    assert tests["device"] == "cpu" and tests["passed"] > 0 and tests["failed"] == 0
    precision = record["precision"]
    assert precision["frames"] > 0 and precision["half_dtype"] == "float16"
    assert precision["fp32_vs_fp64"]["rel_l2_max"] < 1e-5  # fp32 arithmetic on the CPU
    assert 0 < precision["half_vs_fp32"]["rel_l2_max"] < 0.05 and not precision["half_vs_fp32"]["nonfinite_frames"]
    assert [(r["backend"], r["steps"]) for r in record["results"]] == [("eager", 1), ("eager", 2)]
    for row in record["results"]:
        assert row["fps"] > 0 and row["latency_ms_p95"] >= row["latency_ms_p50"] > 0
        assert row["kv_matches_analytic"] and row["unet_flops_per_frame"] > 0 and row["unet_tflops"] > 0
    assert "compiled" in record["not_run"]  # torch.compile + CUDA graphs: CUDA only
    text = docs.read_text()
    assert text.count("| tiny | eager | 64x64 |") == 2 and text.count("passed, 0 failed") == 1
    assert text.index("## GPU runs") > text.index("## Later section")
    assert (tmp_path / "out" / "benchmarks.md").read_text() == text

    again = tmp_path / "again.md"
    again.write_text(DOC)
    assert gpu_check.main(["--record-from", str(tmp_path / "out" / "gpu_check.json"), "--docs", str(again)]) == 0
    assert again.read_text() == text


def test_shell_entry_refuses_wheels_built_for_another_python(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "gpu_check.sh", tmp_path / "scripts")
    (tmp_path / ".whl").mkdir()
    (tmp_path / ".whl" / "pydantic_core-2.0.0-cp39-cp39-manylinux_2_17_x86_64.whl").write_bytes(b"")
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    proc = subprocess.run(["bash", str(tmp_path / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "gpu_wheels.sh --python-version" in proc.stderr


def test_shell_entry_says_how_to_make_the_wheels_when_none_are_carried(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "gpu_check.sh", tmp_path / "scripts")
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    proc = subprocess.run(["bash", str(tmp_path / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "no wheels in .whl/" in proc.stderr and "carry" in proc.stderr
