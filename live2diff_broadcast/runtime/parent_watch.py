"""In the engine process: notice the parent's death at once, clean up what it left, and exit.

A spawned engine must never outlive its show. The engine loop already checks the parent between
frames, but model loading or a long style preparation can keep that loop away for minutes, and
a show killed with SIGKILL never unlinks its shared-memory rings. ``watch_parent`` starts a
daemon thread that waits on multiprocessing's parent sentinel (a pipe whose write end only the
parent holds: it reads EOF the moment the parent dies, however it dies) and, as a second check,
polls ``os.getppid()`` every ``poll_s``. When the parent is gone it calls ``on_orphaned`` (the
engine unlinks the rings its dead parent owned) and ends the process with ``os._exit``.

Why not ``prctl(PR_SET_PDEATHSIG)``: it fires when the parent THREAD that started the child
exits, not the process, and its signal either kills at once (no clean-up) or needs a Python
handler, which runs only when the main thread is between bytecodes (not during a long load).
The thread here runs whenever the GIL is free, which is also what a handler would need.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

ORPHAN_EXIT_CODE = 75  # what an engine exits with when it found its parent dead


def watch_parent(on_orphaned: Callable[[], None], poll_s: float = 0.5) -> threading.Thread | None:
    """Start the watcher (None when this process has no multiprocessing parent)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return None
    ppid = os.getppid()

    def watch() -> None:
        while parent.is_alive() and os.getppid() == ppid:
            parent.join(timeout=poll_s)  # returns early when the parent's sentinel reads EOF
        logger.error("engine: the show (pid %s) is gone; removing its rings and exiting", parent.pid)
        try:
            on_orphaned()
        except Exception:
            logger.exception("engine: clean-up after the show's death failed")
        finally:
            logging.shutdown()
            os._exit(ORPHAN_EXIT_CODE)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
