"""scripts/benchmark_obs_latency.py against a real headless OBS: the frame-number probe end to end.

Numbered frames from our stream sink go through OBS's Media Source and are read back with
GetSourceScreenshot; the probe must read numbers back and report a delay. The bounds are
deliberately loose (a delay, not a wrong number; under 5 s): speed is the script's business and
docs/benchmarks.md records its figures, never a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from .conftest import RunningObs, _require_obs

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "benchmark_obs_latency.py"


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import benchmark_obs_latency
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return benchmark_obs_latency


def test_a_painted_number_survives_the_round_trip_through_an_image(probe: ModuleType) -> None:
    background = np.random.default_rng(1).integers(40, 216, (256, 256, 3), np.uint8)
    for n in (0, 1, 0x5A5A, 0xFFFF):
        assert probe.read_number(probe.paint(n, 256, background)) == n
    assert probe.read_number(background) is None  # no number painted: unreadable, not a guess


def test_the_probe_reads_our_frames_back_from_obs_with_the_recommended_settings(
        probe: ModuleType, real_obs: RunningObs) -> None:
    client = real_obs.client()
    try:
        result = probe.measure_obs(client, probe.stream_sink(), probe.RECOMMENDED_MEDIA, seconds=5.0, skip_s=1.0)
    finally:
        client.disconnect()
    print(f"\nOBS latency probe: p50 {result.p50:.0f} ms, p95 {result.pct(0.95):.0f} ms over "
          f"{len(result.samples_ms)} screenshots ({result.note})", file=sys.stderr)
    assert len(result.samples_ms) >= 10, result.note
    assert 0 < result.p50 < 5000 and result.pct(0.95) < 5000, result.samples_ms


def test_the_script_measures_obs_and_a_plain_decoder_and_says_where(tmp_path: Path) -> None:
    """The command docs/benchmarks.md records, cut short: its own headless OBS, a Markdown table and
    the header (machine, load, OBS version, command) that a recorded figure needs."""
    _require_obs()
    only = ["buffering 0 MB; stream sink now", "1 thread, low_delay; now"]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "3", "--rounds", "1", "--markdown", "--only", *only],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for needed in ("Machine:", "Load (uptime) before:", "load average", "OBS 29", "Command: `", "--markdown"):
        assert needed in out, out
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    for name in ("Media Source, buffering 0 MB; stream sink now", "PyAV decoder, 1 thread, low_delay; now"):
        assert name in rows, out
        p50, samples = float(rows[name][1]), int(rows[name][4])
        assert samples >= 10 and 0 < p50 < 5000, rows[name]


def test_the_script_lists_its_paths_and_refuses_nonsense_before_starting_anything(
        probe: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    probe.main(["--list"])
    listed = capsys.readouterr().out.splitlines()
    assert "Media Source, OBS defaults (buffering 2 MB); stream sink now" in listed
    assert any(line.startswith("NDI sink") for line in listed)
    assert any("Local File" in line and "[only with --only]" in line for line in listed)
    with pytest.raises(SystemExit) as refused:
        probe.main(["--seconds", "0"])
    assert refused.value.code == 2
    assert "--seconds must be > 0" in capsys.readouterr().err
