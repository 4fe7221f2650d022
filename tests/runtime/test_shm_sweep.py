"""The start-up sweep removes rings whose owner pid is gone and keeps those of live owners."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from live2diff_broadcast.runtime.shm_sweep import SHM_DIR, owner_pid, pid_alive, sweep_stale_segments


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


_RING_OWNER = """
import multiprocessing, sys
from live2diff_broadcast.runtime.transport import FrameRing, new_run_prefix
ring = FrameRing.create(new_run_prefix() + "-in", (8, 8), multiprocessing.get_context("spawn"), 2)
print(ring.handle.name, flush=True)
sys.stdin.read()  # owns the ring until the test kills it
"""


def _read_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The child's first stdout line, waiting at most ``timeout`` (imports are slow on a loaded machine)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"the ring owner printed nothing in {timeout} s"
    return proc.stdout.readline().strip()


@pytest.mark.skipif(sys.platform != "linux" or not SHM_DIR.is_dir(), reason="Linux /dev/shm")
def test_a_live_other_process_keeps_its_ring_and_its_crash_leaves_it_to_the_sweep() -> None:
    """A real child process owns a real ring: the sweep keeps it while the child lives; the child's
    whole process group SIGKILLed (nobody unlinks: its resource tracker dies with it), the next sweep
    removes it."""
    proc = subprocess.Popen([sys.executable, "-c", _RING_OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    name = ""
    try:
        name = _read_line(proc)
        assert owner_pid(name) == proc.pid != os.getpid()
        alive = sweep_stale_segments()
        assert name in alive.kept and name not in alive.removed
        assert (SHM_DIR / name).exists(), "the sweep removed the ring of a live process"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert (SHM_DIR / name).exists(), "the crashed owner's ring should outlive it until a sweep"
        dead = sweep_stale_segments()
        assert name in dead.removed and name not in dead.kept
        assert not (SHM_DIR / name).exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if name and (SHM_DIR / name).exists():
            (SHM_DIR / name).unlink()
