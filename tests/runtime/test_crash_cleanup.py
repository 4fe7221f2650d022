"""No leak after any crash: a show SIGKILLed as a process group (container stop, killed terminal,
OOM kill of the group) leaves its rings in /dev/shm; the next start removes them, no engine
survives, and no multiprocessing semaphore is ever left. Real ``run`` processes, real signals."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from chaos_show import ShowProcess, alive, decode, mapped_shm, shm_names, write_profile  # noqa: E402

pytestmark = [pytest.mark.chaos,
              pytest.mark.skipif(not Path("/dev/shm").is_dir() or sys.platform != "linux", reason="Linux /dev/shm")]


def _live(show: ShowProcess) -> int:
    """Wait until the engine runs and has attached the rings; its pid."""
    show.wait_for(r"engine: live")
    return show.engine_pids()[-1]


def test_group_sigkill_leaks_nothing_after_the_next_start(tmp_path: Path) -> None:
    first = ShowProcess(write_profile(tmp_path / "a.toml", tmp_path / "a.mp4"), 120, tmp_path / "a.log",
                        "--no-control-server", passthrough_model=True)
    engine = _live(first)
    names = shm_names(first.pid)
    rings = [n for n in names if not n.endswith(".lock")]
    assert len(rings) == 2 and len(names) == 3, f"the show has its two rings and their lock while it runs: {names}"
    held = mapped_shm(list(first.processes().values()))
    assert held == set(rings), f"the show maps nothing in /dev/shm but its rings (no sem.mp-*): {held}"
    time.sleep(2.5)  # the recording has a complete fragment (one per 1 s keyframe interval) to play
    first.kill_group()
    assert not alive(engine)
    leaked = shm_names(first.pid)
    assert len(leaked) == 3, f"a group kill leaves the two rings and their lock file (nobody can unlink them): {leaked}"

    second = ShowProcess(write_profile(tmp_path / "b.toml", tmp_path / "b.mp4"), 120, tmp_path / "b.log",
                         "--no-control-server", passthrough_model=True)
    second.wait_for(r"broadcast started")
    assert shm_names(first.pid) == [], "the next start sweeps the rings of the dead show"
    assert "left by crashed shows" in second.text
    _live(second)
    assert second.stop() == 0, second.text[-2000:]
    assert shm_names(second.pid) == []
    assert all(not alive(pid) for pid in second.engine_pids())
    assert not any(os.path.exists(f"/dev/shm/{name}") for name in held), "something of the killed show is left"
    played = decode(tmp_path / "a.mp4")  # the killed show's recording: fragmented MP4 plays up to the kill
    assert played.frames > 0 and played.increasing, played


def test_hung_engine_is_replaced_and_an_orphaned_engine_cleans_up(tmp_path: Path) -> None:
    """1. SIGSTOP of the engine: its heartbeat stops, the keeper kills and restarts it (passthrough
    meanwhile). 2. The main process and multiprocessing's resource tracker die (SIGKILL), the
    engine does not: it notices its parent's death, unlinks the rings and exits."""
    show = ShowProcess(write_profile(tmp_path / "a.toml", tmp_path / "a.mp4"), 120, tmp_path / "a.log",
                       "--no-control-server", passthrough_model=True)
    stopped = _live(show)
    mark = len(show.lines)
    os.kill(stopped, signal.SIGSTOP)
    show.wait_for(rf"engine process pid {stopped} is hung \(no heartbeat", 30, after=mark)
    show.wait_for(r"engine: live", 90, after=mark)
    assert not alive(stopped), "the stopped engine was not killed"
    engine = show.engine_pids()[-1]
    assert engine != stopped
    tracker = show.processes().get("tracker")
    for pid in [show.pid] + ([tracker] if tracker else []):
        os.kill(pid, signal.SIGKILL)
    show.wait(30)
    deadline = time.monotonic() + 15
    while alive(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(engine), "the engine outlived its show"
    assert shm_names(show.pid) == [], "the orphaned engine did not unlink its dead parent's rings"
