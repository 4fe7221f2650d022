"""Ring ownership by a lock the owner holds, not by a pid: a live owner's rings are never swept, a dead owner's
always are, in our PID namespace or another one sharing /dev/shm (issue 18.6: a show in another PID namespace
deleted a running show's rings, whose engine then could not restart). Real processes; the namespace case runs a
real ``run`` under ``unshare --pid`` (root)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live2diff_broadcast.runtime.shm_sweep import (
    SHM_DIR,
    RingOwnership,
    owner_pid,
    pid_alive,
    release_orphaned,
    sweep_stale_segments,
)
from live2diff_broadcast.runtime.transport import new_run_prefix

REPO = Path(__file__).resolve().parents[2]
SHM = Path("/dev/shm")
HOLDER = """
import sys, time
from pathlib import Path
from live2diff_broadcast.runtime.shm_sweep import RingOwnership
owner = RingOwnership.claim(sys.argv[1], Path(sys.argv[2]))
for role in ("in", "out"):
    (Path(sys.argv[2]) / f"{sys.argv[1]}-{role}").write_bytes(b"\\0" * 1000)
print("holding", flush=True)
time.sleep(600)
"""

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="flock on a /dev/shm-like folder: Linux")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _holder(prefix: str, directory: Path) -> subprocess.Popen[str]:
    """A process that claims ``prefix``'s lock in ``directory``, creates its two rings and stays."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, prefix, str(directory)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert _read_line(proc) == "holding"
    return proc


@linux_only
def test_a_live_owner_is_kept_and_a_dead_one_swept_whatever_its_pid(tmp_path: Path) -> None:
    """The owner's lock decides, not the pid in the name: a ring named after a pid that does not exist here (as in
    another PID namespace) is kept while its owner holds the lock, and swept the moment the owner dies (SIGKILL)."""
    dead = _dead_pid()
    prefix = f"l2d-{dead}-abc123"  # named after a pid that is gone in THIS namespace: the old sweep removed it
    holder = _holder(prefix, tmp_path)
    try:
        result = sweep_stale_segments(tmp_path)
        assert result.removed == [] and sorted(result.kept) == [f"{prefix}-in", f"{prefix}-out"]
    finally:
        holder.kill()
        holder.wait()
    result = sweep_stale_segments(tmp_path)
    assert sorted(result.removed) == [f"{prefix}-in", f"{prefix}-out"] and result.freed_bytes == 2000
    assert list(tmp_path.iterdir()) == []  # the lock file went too


@linux_only
def test_rings_without_a_lock_fall_back_to_the_pid(tmp_path: Path) -> None:
    """Rings left by a version before the lock: judged by the pid, as before."""
    dead, live = _dead_pid(), os.getpid()
    for name in (f"l2d-{dead}-abc123-in", f"l2d-{dead}-abc123-out", f"l2d-{live}-def456-in", "sem.mp-xyz", "other"):
        (tmp_path / name).write_bytes(b"\0" * 1000)
    result = sweep_stale_segments(tmp_path)
    assert sorted(result.removed) == [f"l2d-{dead}-abc123-in", f"l2d-{dead}-abc123-out"]
    assert result.kept == [f"l2d-{live}-def456-in"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"l2d-{live}-def456-in", "sem.mp-xyz", "other"])


@linux_only
def test_claim_release_and_orphaned_locks(tmp_path: Path) -> None:
    prefix = new_run_prefix()
    owner = RingOwnership.claim(prefix, tmp_path)
    assert owner.path == tmp_path / f"{prefix}.lock"
    release_orphaned(prefix, tmp_path)  # the owner lives: nothing happens
    assert owner.path.exists() and sweep_stale_segments(tmp_path).removed == []
    owner.release()
    owner.release()  # idempotent
    assert list(tmp_path.iterdir()) == []
    # a lock file whose owner died with nothing else left (killed between unlinking its rings and its lock)
    (tmp_path / "l2d-1-0a0a0a.lock").write_bytes(b"")
    sweep_stale_segments(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert RingOwnership.claim(prefix, tmp_path / "missing").path is None  # no /dev/shm (macOS, Windows): no-op


def test_names_and_pids() -> None:
    assert owner_pid("l2d-1234-abcdef-in") == 1234 and owner_pid("l2d-1234-abcdef.lock") == 1234
    assert owner_pid("l2d-x-in") is None and owner_pid("sem.mp-1") is None
    assert pid_alive(os.getpid()) and not pid_alive(_dead_pid()) and not pid_alive(0)


# --- a ring of a version before the lock, owned by a live process (main's test, kept) ------------------


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


# --- a real show in another PID namespace ------------------------------------------------------------


def _free_pid() -> int:
    """A pid that no process here has (the other namespace's show will carry it in its ring names)."""
    limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(limit - 1000, limit - 10):
        if not pid_alive(pid):
            return pid
    raise AssertionError("no free pid")


def _host_pid(ns_pid: int, root: int) -> int | None:
    """The pid in our namespace of process ``ns_pid`` of the namespace whose init is our ``root``."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        nspid = next((line.split()[1:] for line in lines if line.startswith("NSpid:")), [])
        if len(nspid) >= 2 and int(nspid[-1]) == ns_pid:
            return int(nspid[0])
    return None


@pytest.mark.chaos
@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare (util-linux) to start a show in another PID namespace")
def test_a_show_in_another_pid_namespace_keeps_its_rings(tmp_path: Path) -> None:
    """Show A runs in its own PID namespace (as in a container sharing /dev/shm) under a pid that does not exist
    here. A sweep here (what every starting show runs) keeps its rings; A's engine, killed, restarts and A keeps
    writing; A killed with its whole namespace leaves its rings, and the next sweep removes them."""
    pid = _free_pid()
    out, profile = tmp_path / "a.avi", tmp_path / "a.toml"
    profile.write_text(f"""
[engine]
device = "cpu"
width = 64
height = 64
[source]
plugin = "test_pattern"
settings = {{ width = 96, height = 64, fps = 30 }}
[sink]
plugin = "file"
settings = {{ path = "{out}" }}
""", encoding="utf-8")
    run = (f"{sys.executable} -m live2diff_broadcast.cli run --profile {profile} --duration 300 --passthrough-model "
           "--no-hotkeys --no-terminal-keys --no-control-server --no-watch")
    log = (tmp_path / "a.log").open("w+")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    show = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                             f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid && {run}; true"],  # ; true: run is a child, pid {pid}
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)

    def wait_log(pattern: str, count: int = 1, timeout: float = 180) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, Path(log.name).read_text())
            if len(found) >= count:
                return found
            assert show.poll() is None, f"show A exited:\n{Path(log.name).read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r}:\n{Path(log.name).read_text()[-3000:]}"
            time.sleep(0.1)

    try:
        wait_log(r"engine: live")
        rings = sorted(p.name for p in SHM.glob(f"l2d-{pid}-*"))
        assert len(rings) == 3 and not pid_alive(pid), rings  # two rings and the lock, named after a pid we lack
        result = sweep_stale_segments()
        assert not set(rings) & set(result.removed) and all((SHM / name).exists() for name in rings)
        engine_ns_pid = int(wait_log(r"engine process started \(pid (\d+)")[0])
        engine = _host_pid(engine_ns_pid, show.pid)
        assert engine is not None
        os.kill(engine, signal.SIGKILL)
        wait_log(r"engine: live", count=2)  # restarted on the same rings: they were not swept
    finally:
        os.killpg(show.pid, signal.SIGKILL)  # the namespace's init dies: the kernel kills the whole namespace
        show.wait(30)
        log.close()
    deadline = time.monotonic() + 30
    while _host_pid(pid, show.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all((SHM / name).exists() for name in rings)  # a SIGKILL leaves them: nobody unlinked them
    result = sweep_stale_segments()
    assert sorted(n for n in rings if not n.endswith(".lock")) == sorted(r for r in result.removed if f"-{pid}-" in r)
    assert not any((SHM / name).exists() for name in rings)
