"""Telemetry: rates tell the truth at any speed (a slow engine reads its rate, not 0.0 / 0.5 by turns), and the
words a viewer reads on passthrough and no-signal frames, per stream state."""

from __future__ import annotations

import pytest

from live2diff_broadcast.runtime.telemetry import StreamState, Telemetry, _Rate

S = 1_000_000_000  # ns


def rates(period_s: float, count: int, probes_per_frame: int = 7) -> list[float]:
    """Feed ``count`` frames ``period_s`` apart; read the rate at several moments between frames."""
    rate, seen = _Rate(2 * S), []
    for i in range(count):
        t = int(i * period_s * S) + 1
        rate.tick(t)
        if i >= 6:  # past the start
            seen += [rate.fps(t + int(k * period_s * S / probes_per_frame)) for k in range(probes_per_frame)]
    return seen


@pytest.mark.parametrize("fps", [0.5, 1.5, 30.0])
def test_a_steady_stream_reads_its_rate_between_frames(fps: float) -> None:
    seen = rates(1 / fps, 40 if fps < 10 else 300)
    assert min(seen) == pytest.approx(fps, rel=0.05) and max(seen) == pytest.approx(fps, rel=0.05)


def test_a_stall_shows_at_once_and_reaches_zero() -> None:
    rate = _Rate(2 * S)
    for i in range(300):
        rate.tick(i * S // 30 + 1)
    last = 299 * S // 30 + 1
    assert rate.fps(last) == pytest.approx(30, rel=0.02)
    assert rate.fps(last + S // 2) == pytest.approx(2.0)  # half a second of nothing: 2 fps and falling
    assert rate.fps(last + 11 * S) == 0.0


def test_the_snapshot_reports_the_engine_rate() -> None:
    telemetry = Telemetry()
    assert telemetry.snapshot().engine_fps == 0.0
    telemetry.engine_frame(1)
    assert telemetry.snapshot().engine_fps == 0.0  # one frame: no rate yet


def test_each_passthrough_state_says_why_the_ai_is_off():
    assert StreamState.WARMING_UP.caption("loading") == "PASSTHROUGH: engine loading"
    assert StreamState.RESTARTING.caption("dead") == "PASSTHROUGH: engine restarting"
    assert StreamState.PASSTHROUGH.caption("live") == "PASSTHROUGH: engine stalled"
    assert StreamState.NO_SIGNAL.caption("live") == "NO SIGNAL"
    assert StreamState.STARTING.caption("loading") == "starting"  # any other state: its name


def test_each_sink_has_a_row_and_the_status_line_names_a_failing_one() -> None:
    telemetry = Telemetry()
    telemetry.sink_update(0, label="sink file", state="open", written=10, detail="file")
    snap = telemetry.snapshot()
    assert snap.sink == "file" and "sinks:" not in snap.status_line()  # one sink writing: nothing more to say
    telemetry.sink_update(1, label="sinks[1] ndi 'studio'", state="retrying", written=0, missed=7, dropped=2,
                          detail="ndi")
    snap = telemetry.snapshot()
    assert [row["label"] for row in snap.sinks] == ["sink file", "sinks[1] ndi 'studio'"]
    assert snap.sink == "file | ndi" and snap.sink_dropped == 2
    assert "sinks: sink file 10, sinks[1] ndi 'studio' RETRYING 0 (missed 7)" in snap.status_line()
    assert snap.as_dict()["sinks"][1]["missed"] == 7
    snap.sinks[1]["missed"] = 0  # a snapshot is a copy
    assert telemetry.snapshot().sinks[1]["missed"] == 7
