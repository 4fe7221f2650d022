"""The GPU check's record: the JSON file, and its rows in docs/benchmarks.md's ``## GPU runs`` tables.

The record is rewritten after every stage (``write_record``), so a run stopped by its time limit
still leaves every finished stage on disk. ``insert_rows`` appends Markdown rows to a named table
under ``## GPU runs``, creating the section and the table when missing; ``record_rows`` turns a
record into those rows (one speed row per backend x steps, one checks row per run).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SECTION = "## GPU runs"
SPEED_TITLE = "### Speed (random SD1.5-layout weights)"
SPEED_COLUMNS = (
    "date", "device", "torch", "preset", "backend", "size", "n", "dtype", "FPS", "p50 ms", "p95 ms",
    "UNet TFLOP/s (% matmul peak)", "peak GPU MiB", "KV MiB alloc / analytic", "commit",
)
CHECKS_TITLE = "### Checks (exactness tests, precision)"
CHECKS_COLUMNS = (
    "date", "device", "torch", "exactness tests", "fp32 vs fp64 (rel L2 / max abs)",
    "fp16 (or bf16) vs fp32 (rel L2 / max abs)", "frames", "not run (why)", "commit",
)


def write_record(record: dict[str, Any], path: Path) -> None:
    """Write ``record`` as JSON atomically (a kill mid-write leaves the previous version)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=2)
    os.replace(tmp, path)


def _line(cells: tuple[str, ...] | list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def insert_rows(text: str, title: str, columns: tuple[str, ...], rows: list[list[str]]) -> str:
    """Append ``rows`` to the table under ``title`` inside ``## GPU runs``; create what is missing.

    Raises ValueError when a row's width differs from the header's, or when the table under
    ``title`` has other columns than ``columns`` (an edited table is not silently extended)."""
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells, table {title!r} has {len(columns)} columns: {row}")
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    new_rows = [_line(row) for row in rows]
    if SECTION not in lines:
        lines += ["", SECTION]
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    if title not in lines[start:end]:
        block = ["", title, "", _line(columns), _line(["---"] * len(columns)), *new_rows]
        lines[end:end] = block
        return "\n".join(lines) + "\n"
    at = lines.index(title, start, end) + 1
    while at < end and not lines[at].startswith("|"):
        at += 1
    if at == end or lines[at] != _line(columns):
        found = lines[at] if at < end else "(no table)"
        raise ValueError(f"table {title!r} in {SECTION!r} has header {found!r}, expected {_line(columns)!r}")
    while at < end and lines[at].startswith("|"):
        at += 1
    lines[at:at] = new_rows
    return "\n".join(lines) + "\n"


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _pair(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    return f"{entry['rel_l2_max']:.2e} / {entry['max_abs']:.2e}" + (" NaN!" if entry.get("nonfinite_frames") else "")


def speed_row(record: dict[str, Any], row: dict[str, Any]) -> list[str]:
    env = record["environment"]
    tf, peak = row.get("unet_tflops"), record.get("matmul_peak_tflops")
    tflops = "-" if tf is None else f"{tf:.3g}" + (f" ({100 * tf / peak:.0f}%)" if peak else "")
    backend = row["backend"] + ("" if row.get("active") in (None, "eager", row["backend"]) else f" (fell back: {row['active']})")
    return [
        record["date"][:10], env["device_name"], env["torch"], record["preset"], backend, f"{row['width']}x{row['height']}",
        str(row["steps"]), record["dtype"], f"{row['fps']:.2f}", f"{row['latency_ms_p50']:.1f}",
        f"{row['latency_ms_p95']:.1f}", tflops, _f(row.get("peak_gpu_mib"), ".0f"),
        f"{row['kv_cache_bytes'] / 2**20:.1f} / {row['kv_analytic_with_scratch_bytes'] / 2**20:.1f}",
        env.get("commit", "-"),
    ]


def checks_row(record: dict[str, Any]) -> list[str]:
    env, tests, precision = record["environment"], record.get("exactness_tests"), record.get("precision")
    if tests is None:
        tests_cell = "-"
    else:
        tests_cell = (f"{tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped"
                      f" ({tests['device']})")
    skipped = "; ".join(f"{k}: {v}" for k, v in record.get("not_run", {}).items()) or "-"
    return [
        record["date"][:10], env["device_name"], env["torch"], tests_cell,
        _pair((precision or {}).get("fp32_vs_fp64")),
        _pair((precision or {}).get("half_vs_fp32")) + (f" ({precision['half_dtype']})" if precision else ""),
        str((precision or {}).get("frames", "-")), skipped, env.get("commit", "-"),
    ]


def record_rows(text: str, record: dict[str, Any]) -> str:
    """``text`` with the record's speed rows and its checks row added under ``## GPU runs``."""
    text = insert_rows(text, SPEED_TITLE, SPEED_COLUMNS, [speed_row(record, r) for r in record.get("results", [])])
    return insert_rows(text, CHECKS_TITLE, CHECKS_COLUMNS, [checks_row(record)])


def write_docs(record: dict[str, Any], docs: Path, base_text: str) -> None:
    """Rewrite ``docs`` as ``base_text`` plus this record's rows (called after every stage, from the
    text the file had when the run began, so the rows of one run appear once)."""
    docs.write_text(record_rows(base_text, record))
