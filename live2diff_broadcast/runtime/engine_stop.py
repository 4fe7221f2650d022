"""In the engine process: a stop request ends the frame in progress, so the engine stops within its deadline.

A frame on a CPU can take seconds (the tiny preset at 512x512 on a loaded machine), longer than
the supervisor waits for a stopping engine (``EngineKeeper.stop_timeout_s``, 5 s): the engine
used to be terminated mid-frame, with a warning, on nearly every exit. The supervisor now sets a
shared ``multiprocessing`` Event before it sends ``Stop``; ``StopWatch`` runs a daemon thread
that waits for it and then

1. makes the next torch module call on the main thread raise ``EngineStopping`` (one global
   forward pre-hook, installed only now: nothing is hooked while the show runs), so the engine
   loop unwinds as for a ``Stop`` between frames: the recorder closes, the stats are sent;
2. if the main thread is still busy ``grace_s`` later (reading weight files, an onnxruntime or
   TensorRT call: no torch module runs there), says so and ends the process with ``os._exit``.
   Nothing is lost that matters: the rings belong to the supervisor, which unlinks them; a
   ``run --record`` take loses its last frames (Matroska plays up to them).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Protocol

logger = logging.getLogger(__name__)

STOP_GRACE_S = 2.0  # well inside the supervisor's 5 s, so it never has to terminate a healthy engine


class EngineStopping(BaseException):
    """Raised inside a torch module call on the engine's main thread once a stop was requested.

    A BaseException (like KeyboardInterrupt), so no ``except Exception`` on the way treats it as
    a failed frame or a failed style load and carries on."""


class StopRequest(Protocol):
    def wait(self, timeout: float | None = None) -> bool: ...
    def is_set(self) -> bool: ...


class StopWatch:
    """The watcher thread of one engine process (``start`` once; ``close`` removes the hook again)."""

    def __init__(self, requested: StopRequest, finished: threading.Event, grace_s: float = STOP_GRACE_S) -> None:
        self.requested, self.finished, self.grace_s = requested, finished, grace_s
        self._main = threading.main_thread()
        self._hook: Any = None  # torch's RemovableHandle once installed

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._watch, name="stop-watch", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _interrupt(self, module: Any, args: Any) -> None:
        if threading.current_thread() is self._main:
            raise EngineStopping(f"stop requested during {type(module).__name__}.forward")

    def _watch(self) -> None:
        self.requested.wait()
        if self.finished.is_set():
            return
        import torch  # loaded by now: the engine imports it before it starts this watch

        self._hook = torch.nn.modules.module.register_module_forward_pre_hook(self._interrupt)
        if self.finished.wait(self.grace_s):
            return
        logger.info("engine: still busy %.1f s after the stop request (no torch module running: a load or "
                    "another runtime's call); exiting now", self.grace_s)
        logging.shutdown()
        os._exit(0)
