"""A head start for the engine process: spawned before the show's own heavy imports, it imports torch,
diffusers and transformers while the main process imports them too (two cores, in parallel), then
waits for its ``EngineSpec`` over the pipe.

Importing those libraries is most of an engine's start-up (about 5 s of CPU; 10-28 s of wall time
on a loaded 2-core machine, measured). Spawned only once the show's rings exist, the first engine
spent all of it inside the show, in passthrough: a 20 s quick start showed the restyle for less
than half of it. ``run`` starts one early (``start_engine_early``) and hands it to the supervisor,
whose engine keeper sends it the spec instead of spawning (``EngineProcess(early=...)``); restarts
spawn as before.

This module imports nothing heavy: the child imports the engine when it runs ``_boot``.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from .engine_stop import StopFlag
from .transport import PipeEnd

logger = logging.getLogger(__name__)


@dataclass
class EngineStart:
    """An engine process started early, importing its libraries, then waiting for its spec."""

    process: BaseProcess
    conn: PipeEnd  # the parent's end of the duplex pipe
    stop_requested: StopFlag  # engine_stop.py: interrupts a frame in progress

    def discard(self, timeout: float = 5.0) -> None:
        """Never used (the show did not start): close the pipe (it exits on EOF), end it if it does not."""
        self.conn.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)


def start_engine_early(ctx: BaseContext) -> EngineStart:
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    stop_requested = StopFlag(ctx)
    process = ctx.Process(target=_boot, args=(child_conn, stop_requested), name="live2diff-engine", daemon=True)  # type: ignore[attr-defined]
    process.start()
    child_conn.close()  # the child holds its own copy; ours would hide EOF
    logger.debug("engine process pid %s started early: importing its libraries", process.pid)
    return EngineStart(process, parent_conn, stop_requested)


def _boot(conn: Connection, stop_requested: Any) -> None:
    """Child: ignore Ctrl+C (the parent decides), import the engine, wait for the spec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .engine_process import engine_main_when_told  # the heavy imports: torch, diffusers, transformers

    engine_main_when_told(conn, stop_requested)
