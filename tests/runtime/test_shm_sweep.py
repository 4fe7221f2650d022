"""The start-up sweep removes rings whose owner pid is gone and keeps those of live owners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from live2diff_broadcast.runtime.shm_sweep import owner_pid, pid_alive, sweep_stale_segments


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_dead_owners_only(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getpid()
    for name in (f"l2d-{dead}-abc123-in", f"l2d-{dead}-abc123-out", f"l2d-{live}-def456-in", "sem.mp-xyz", "other"):
        (tmp_path / name).write_bytes(b"\0" * 1000)
    result = sweep_stale_segments(tmp_path)
    assert sorted(result.removed) == [f"l2d-{dead}-abc123-in", f"l2d-{dead}-abc123-out"]
    assert result.kept == [f"l2d-{live}-def456-in"]
    assert result.freed_bytes == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"l2d-{live}-def456-in", "sem.mp-xyz", "other"])


def test_names_and_pids() -> None:
    assert owner_pid("l2d-1234-abcdef-in") == 1234
    assert owner_pid("l2d-x-in") is None and owner_pid("sem.mp-1") is None
    assert pid_alive(os.getpid()) and not pid_alive(_dead_pid()) and not pid_alive(0)
