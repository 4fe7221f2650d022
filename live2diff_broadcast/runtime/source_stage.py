"""The source stage: a thread that connects the source, feeds the input ring and reconnects.

Each frame goes into the input ring (for the engine) and is kept as the latest source frame (for
passthrough). A lost source (open / read errors, or no frame for ``timeout_s``) is closed and
reconnected with exponential backoff, reset once it delivers again. ``restart()`` reopens it on
purpose (the profile's [source] changed): at once, even in the middle of a backoff wait, with the
backoff reset. A finite source that ends calls ``on_end``
(the supervisor flushes the engine's pipeline) and records when, so the show can drain and stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..media.backoff import Backoff
from ..media.frames import Frame, now_ns
from ..plugin_api import EndOfStream, PluginError, Source
from .telemetry import Telemetry
from .transport import FrameRing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Latest:
    frame: Frame | None  # the newest source frame (None: none yet)
    at_ns: int  # now_ns() when it arrived


class _Restart(Exception):
    """The source's settings changed: close it and open it again (not a failure: no backoff)."""


class SourceStage:
    def __init__(
        self,
        factory: Callable[[], Source],
        ring: FrameRing,
        telemetry: Telemetry,
        backoff: Backoff,
        on_end: Callable[[], object],
        timeout_s: float = 2.0,
        capacity: tuple[int, int] = (1080, 1920),
    ) -> None:
        self.factory, self.ring, self.telemetry, self.backoff = factory, ring, telemetry, backoff
        self.on_end, self.timeout_s, self.capacity = on_end, timeout_s, capacity
        self.ended_at: float | None = None  # monotonic time a finite source raised EndOfStream
        self._latest = Latest(None, 0)
        self._last_pts = -1
        self._warned_oversize = False
        self._restart = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()  # ends a backoff wait early: a restart or a stop
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, first: Source | None) -> None:
        """``first`` is the source already opened at start-up (None: it could not be, keep trying)."""
        self._thread = threading.Thread(target=self._run, args=(first,), name="source", daemon=True)
        self._thread.start()

    def latest(self) -> Latest:
        with self._lock:
            return self._latest

    def restart(self) -> None:
        self._restart.set()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                logger.error("source thread did not stop within 5 s (a plugin read() ignoring its timeout?)")

    def _run(self, source: Source | None) -> None:
        name = "source"
        opened = source is not None  # the first one was opened at start-up
        while not self._stop.is_set():
            reason = "stopped"
            try:
                if source is None:
                    source = self.factory()
                name = f"source {type(source).__name__}"
                if not opened:
                    source.open()
                opened = False
                logger.info("%s connected", name)
                last = time.monotonic()
                while not self._stop.is_set():
                    if self._restart.is_set():
                        self._restart.clear()
                        raise _Restart("the profile's [source] changed")
                    frame = source.read(timeout=0.2)
                    if frame is not None:
                        last = time.monotonic()
                        self.backoff.reset()
                        self._publish(frame)
                    elif time.monotonic() - last > self.timeout_s:
                        raise TimeoutError(f"no frame for {self.timeout_s:.1f} s")
            except EndOfStream as exc:
                logger.info("%s ended (%s): draining the engine, then stopping", name, exc)
                reason = "end of stream"
                self.on_end()  # the last n - 1 frames are still in the engine's pipeline
                self.ended_at = time.monotonic()
                return
            except _Restart as exc:
                reason = str(exc)
                self.backoff.reset()
                logger.info("%s: %s, reopening it (NO SIGNAL meanwhile)", name, reason)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                delay = self.backoff.next()
                logger.warning("%s lost (%s); reconnecting in %.1f s, the sink keeps running", name, reason, delay,
                               exc_info=not isinstance(exc, TimeoutError | PluginError))
                self.telemetry.add("source_reconnects")
                self._wake.wait(delay)
                if self._restart.is_set():  # the profile's [source] changed while waiting: reopen now
                    self._restart.clear()
                    self.backoff.reset()
                    logger.info("%s: the profile's [source] changed, reopening it now", name)
                self._wake.clear()
            finally:
                if source is not None:
                    try:
                        source.close(reason)
                    except Exception:
                        logger.exception("%s failed to close", name)
                source = None

    def _publish(self, frame: Frame) -> None:
        if frame.pts_ns <= self._last_pts:
            logger.warning("source frame seq %d has pts %d <= the previous %d; dropped", frame.seq, frame.pts_ns, self._last_pts)
            return
        self._last_pts = frame.pts_ns
        self.ring.write(self._fit_capacity(frame.image), frame.pts_ns, frame.seq)
        with self._lock:
            self._latest = Latest(frame, now_ns())
        self.telemetry.frame_in()

    def _fit_capacity(self, image: np.ndarray) -> np.ndarray:
        """Frames larger than the input ring are scaled down to fit it, keeping the aspect (logged once)."""
        cap_h, cap_w = self.capacity
        h, w = image.shape[:2]
        if h <= cap_h and w <= cap_w:
            return image
        scale = min(cap_h / h, cap_w / w)
        if not self._warned_oversize:
            logger.warning("source frames are %dx%d, larger than the input ring's %dx%d: scaling them down by %.3f",
                           w, h, cap_w, cap_h, scale)
            self._warned_oversize = True
        return cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
