"""One log line per kind per interval: the first is logged, the rest counted, and the next line says how many."""

from __future__ import annotations

import logging

import pytest

from live2diff_broadcast.control.throttle import ThrottledLog


def test_one_line_per_kind_then_a_count(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("live2diff_broadcast.control.throttle.time.monotonic", lambda: now[0])
    log = ThrottledLog(logging.getLogger("throttle-test"), every_s=10.0)
    with caplog.at_level(logging.WARNING, logger="throttle-test"):
        assert log.warning("malformed", "dropped %d", 1)
        assert not any(log.warning("malformed", "dropped %d", n) for n in range(2, 1001))
        assert log.error("future", "a different kind is logged at once")
        now[0] += 10.0
        assert log.warning("malformed", "dropped %d", 1001)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["dropped 1", "a different kind is logged at once",
                     "dropped 1001 (999 more of this kind in the last 10 s, not logged)"]
    assert log.counts == {"malformed": 1001, "future": 1}
