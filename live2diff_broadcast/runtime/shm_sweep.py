"""Remove shared-memory rings whose owner died without unlinking them (a crash of a whole show).

Every ring is named ``l2d-<owner pid>-<token>-<role>`` (``transport.new_run_prefix``). A show that
was SIGKILLed as a process group (container stop, killed terminal session, OOM kill of the group)
loses its resource tracker too, so nobody unlinks its rings and the RAM they pin stays taken
until reboot. ``sweep_stale_segments()`` runs when a show starts: a segment whose owner pid no
longer exists is unlinked and logged; a segment whose pid exists (its show still running, or the
pid reused by another process) is left alone. Linux only (elsewhere the names cannot be listed);
a /dev/shm shared by another pid namespace should not be swept (its pids are not ours).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .transport import SHM_PREFIX

logger = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
_NAME = re.compile(re.escape(SHM_PREFIX) + r"(\d+)-")


@dataclass(frozen=True)
class SweepResult:
    removed: list[str]  # names unlinked (owner gone)
    kept: list[str]  # names of live owners
    freed_bytes: int


def owner_pid(name: str) -> int | None:
    """The owner pid encoded in a ring's name, or None if it is not one of ours."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (ours or another user's)."""
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
    """Unlink every ``l2d-<pid>-*`` segment in ``directory`` whose pid is gone."""
    removed: list[str] = []
    kept: list[str] = []
    freed = 0
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return SweepResult([], [], 0)
    for name in names:
        pid = owner_pid(name)
        if pid is None:
            continue
        if pid_alive(pid):
            kept.append(name)
            continue
        path = directory / name
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue  # another starting show swept it first
        except OSError as exc:
            logger.error("stale shared-memory ring %s (owner pid %d is gone) could not be removed: %s", path, pid, exc)
            continue
        removed.append(name)
        freed += size
    if removed:
        logger.warning("removed %d shared-memory ring(s) left by crashed shows (%.1f MB freed): %s",
                       len(removed), freed / 1e6, ", ".join(removed))
    return SweepResult(removed, kept, freed)
