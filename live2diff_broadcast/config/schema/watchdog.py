"""[watchdog]: when the engine process counts as hung and is replaced (``runtime/heartbeat.py``).

The engine reports progress: every finished stage of the frame path (depth, encode, UNet call,
decode), every re-warm step and every load step. It is hung when it is silent (no message at
all: the process is stopped or frozen) or busy without progress for longer than these limits.
A slow engine is never killed for being slow: only for making no progress. Applied live on reload.
"""

from __future__ import annotations

from pydantic import Field

from .base import Section


class WatchdogSection(Section):
    # No message from the engine (it sends a heartbeat every 0.25 s) for this long: frozen (SIGSTOP, a stalled VM).
    silent_s: float = Field(default=3.0, ge=1.0, le=3600)
    # The same while it loads: reading a checkpoint may hold the GIL in C code for a while.
    loading_silent_s: float = Field(default=60.0, ge=1.0, le=3600)
    # Busy with a frame or a re-warm and no progress for this long: stuck in a kernel or a lock.
    stuck_s: float = Field(default=60.0, ge=1.0, le=3600)
    # Loading and no load step finished for this long (a download or a TensorRT build takes minutes).
    loading_stuck_s: float = Field(default=1800.0, ge=1.0, le=86400)
