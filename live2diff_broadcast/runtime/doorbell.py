"""A ring's doorbell: the writer rings once per frame, the reader sleeps until it rings.

Why not a ``multiprocessing.Semaphore``: with the spawn start method a semaphore is a NAMED POSIX
semaphore (``/dev/shm/sem.mp-*``) whose name must outlive the parent's start-up so each (re)started
child can open it; it is only unlinked by its finaliser or by multiprocessing's resource tracker.
A SIGKILL of the whole process group (container stop, killed terminal session, OOM kill) takes the
tracker too, and the names stay in /dev/shm until reboot.

On POSIX the doorbell is an anonymous pipe (``ctx.Pipe(duplex=False)``): no name anywhere, the
kernel frees it with its last holder, and multiprocessing passes its descriptors to a spawned child
like any Connection. Both ends are non-blocking: a ring is one byte (a full pipe already means
"wake up", so EAGAIN is ignored) and a wait is ``poll`` on the read end, then a drain. On Windows
(no descriptors to pass this way; its kernel semaphores have no file that could leak) it stays an
unnamed ``ctx.Semaphore``.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any


class Doorbell:
    """Picklable to a spawned child (as a Process argument), like the Connections it holds."""

    def __init__(self, ctx: BaseContext) -> None:
        self._sem: Any = None
        self._reader: Connection | None = None
        self._writer: Connection | None = None
        if sys.platform == "win32":
            self._sem = ctx.Semaphore(0)
            return
        self._reader, self._writer = ctx.Pipe(duplex=False)
        os.set_blocking(self._reader.fileno(), False)
        os.set_blocking(self._writer.fileno(), False)

    def ring(self) -> None:
        """Wake the reader (never blocks)."""
        if self._sem is not None:
            self._sem.release()
            return
        assert self._writer is not None
        try:
            os.write(self._writer.fileno(), b"\1")
        except (BlockingIOError, BrokenPipeError):
            pass  # full: the reader has plenty to wake on; gone: nobody to wake

    def wait(self, timeout: float) -> bool:
        """Sleep until rung or ``timeout`` s pass; True if it rang. Consumes every ring so far."""
        if self._sem is not None:
            rang = bool(self._sem.acquire(True, max(0.0, timeout)))
            self.drain()
            return rang
        assert self._reader is not None
        if not self._reader.poll(max(0.0, timeout)):
            return False
        self.drain()
        return True

    def drain(self) -> None:
        """Forget rings so far (the reader is about to look at the ring anyway)."""
        if self._sem is not None:
            while self._sem.acquire(False):
                pass
            return
        assert self._reader is not None
        try:
            while os.read(self._reader.fileno(), 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close this process's copies of the pipe ends (idempotent)."""
        for conn in (self._reader, self._writer):
            if conn is not None and not conn.closed:
                conn.close()
