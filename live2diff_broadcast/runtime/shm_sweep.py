"""Remove shared-memory rings whose owner died without unlinking them (a crash of a whole show).

Every ring is named ``l2d-<owner pid>-<token>-<role>`` (``transport.new_run_prefix``). A show that
was SIGKILLed as a process group (container stop, killed terminal session, OOM kill of the group)
loses its resource tracker too, so nobody unlinks its rings and the RAM they pin stays taken
until reboot. ``sweep_stale_segments()`` runs when a show starts and unlinks the rings of dead
owners, logging what it freed.

**Who owns a ring is decided by a lock, not by a pid.** Before it creates its rings the owner
creates ``l2d-<pid>-<token>.lock`` beside them and holds an exclusive ``flock`` on it for as long as
it lives (``RingOwnership``). The kernel drops that lock when the owner's last descriptor closes,
however it dies (SIGKILL, OOM kill, a crash), and the lock lives on the shared file's inode, so it
means the same in every PID namespace that shares /dev/shm. The pid it was judged by before meant
nothing there: a show in another container (shared IPC namespace, its own PIDs) saw a pid that
did not exist in its namespace and deleted a running show's rings, whose engine then could not
restart. The sweep tries the lock without waiting: taken, the owner is dead and its rings and lock
file go; refused, the owner lives and nothing is touched. Rings without a lock file (left by a
version before the lock) fall back to the pid check.

Linux only: elsewhere the segment names cannot be listed (macOS) or the kernel frees a named
segment with its last handle (Windows), so there is nothing to sweep and ownership is a no-op.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .transport import SHM_PREFIX

logger = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
LOCK_SUFFIX = ".lock"
_NAME = re.compile(re.escape(SHM_PREFIX) + r"(\d+)-([0-9a-f]+)(?:-|\.lock$)")

if sys.platform == "win32":

    def _try_lock(fd: int) -> bool:
        return True  # never reached: there is no /dev/shm to sweep on Windows

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        """An exclusive flock without waiting: True if taken, False if another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@dataclass(frozen=True)
class SweepResult:
    removed: list[str]  # names unlinked (owner gone)
    kept: list[str]  # names of live owners
    freed_bytes: int


class RingOwnership:
    """The owner's lock on its rings (``claim`` before creating them, ``release`` after unlinking them)."""

    def __init__(self, path: Path | None, fd: int | None) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def claim(cls, prefix: str, directory: Path = SHM_DIR) -> RingOwnership:
        """Create ``<prefix>.lock`` in ``directory`` and hold it locked (a no-op where there is no such directory)."""
        if sys.platform == "win32" or not directory.is_dir():
            return cls(None, None)
        path = directory / f"{prefix}{LOCK_SUFFIX}"
        for _ in range(100):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            except FileExistsError:  # a sweep is removing the file it took for an orphan's: try again
                time.sleep(0.01)
                continue
            if _try_lock(fd) and _same_file(fd, path):
                return cls(path, fd)
            os.close(fd)  # a sweep took this fresh file for an orphan's between create and lock
        raise OSError(f"could not create and hold the ring lock {path}")

    def release(self) -> None:
        """Remove the lock file, then let the lock go (idempotent)."""
        if self._fd is None or self.path is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


def release_orphaned(prefix: str, directory: Path = SHM_DIR) -> None:
    """Remove the lock file of run ``prefix`` if its owner is dead (an orphaned engine cleaning up after its show)."""
    if (directory / f"{prefix}{LOCK_SUFFIX}").exists():
        _sweep_locked(directory, prefix, [])


def owner_pid(name: str) -> int | None:
    """The owner pid encoded in a ring's (or lock file's) name, or None if it is not one of ours."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists in our PID namespace (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    return True


def sweep_stale_segments(directory: Path = SHM_DIR) -> SweepResult:
    """Unlink the rings (and lock files) in ``directory`` whose owner is dead."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return SweepResult([], [], 0)
    runs: dict[str, list[str]] = {}  # run prefix -> its rings
    locks: set[str] = set()
    for name in names:
        match = _NAME.match(name)
        if match is None:
            continue
        prefix = f"{SHM_PREFIX}{match.group(1)}-{match.group(2)}"
        if name.endswith(LOCK_SUFFIX):
            locks.add(prefix)
            runs.setdefault(prefix, [])
        else:
            runs.setdefault(prefix, []).append(name)
    removed: list[str] = []
    kept: list[str] = []
    freed = 0
    for prefix, rings in runs.items():
        if prefix in locks:
            gone, size = _sweep_locked(directory, prefix, rings)
        elif pid_alive(owner_pid(prefix + "-") or 0):  # no lock file: a ring of an older version
            gone, size = [], 0
        else:
            gone, size = _unlink(directory, rings, prefix)
        removed += gone
        freed += size
        kept += [r for r in rings if r not in gone]
    if removed:
        logger.warning("removed %d shared-memory ring(s) left by crashed shows (%.1f MB freed): %s",
                       len(removed), freed / 1e6, ", ".join(removed))
    return SweepResult(removed, kept, freed)


def _sweep_locked(directory: Path, prefix: str, rings: list[str]) -> tuple[list[str], int]:
    """Rings of a run with a lock file: unlinked (with the lock file) only if the lock can be taken."""
    lock = directory / f"{prefix}{LOCK_SUFFIX}"
    try:
        fd = os.open(lock, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return [], 0  # its owner released it just now: a clean stop
    except OSError as exc:
        logger.error("ring lock %s cannot be opened (%s); its rings are left alone", lock, exc.strerror or exc)
        return [], 0
    try:
        if not _try_lock(fd):
            return [], 0  # the owner lives (in this PID namespace or another)
        gone, size = _unlink(directory, rings, prefix)
        lock.unlink(missing_ok=True)  # still holding the lock: nobody can mistake the run for a live one
        return gone, size
    finally:
        os.close(fd)


def _unlink(directory: Path, rings: list[str], prefix: str) -> tuple[list[str], int]:
    gone: list[str] = []
    size = 0
    for name in rings:
        path = directory / name
        try:
            size += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue  # another starting show swept it first
        except OSError as exc:
            logger.error("stale shared-memory ring %s (owner of %s is gone) could not be removed: %s", path, prefix, exc)
            continue
        gone.append(name)
    return gone, size


def _same_file(fd: int, path: Path) -> bool:
    """True if ``path`` still names the file open as ``fd`` (not unlinked meanwhile)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
