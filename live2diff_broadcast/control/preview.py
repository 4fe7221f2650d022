"""The dock's live picture: small JPEGs of the latest output (and input) frame, only while someone watches.

Cost is bounded and kept off the hot path:

- ``PreviewTap.offer(image)`` is all the output stage does per written frame: one reference kept
  (latest frame wins; the array is never written to again, so nothing is copied, nothing queued);
- ``PreviewFeeds.encode(feed)`` scales the newest frame down to ``max_side`` pixels and encodes a
  JPEG (OpenCV, which releases the GIL), at most once per new frame whoever asks, in the control
  server's worker thread, never in the sink loop;
- ``PreviewBroadcaster`` runs in the control server's event loop only while at least one dock has
  asked for a feed (``{"preview": ["output"]}`` on its authenticated WebSocket; ``[]`` or closing
  stops it): ``fps`` times a second it encodes each watched feed that has a new frame and sends
  it as ``{"type": "preview", "feed", "seq", "width", "height", "jpeg": base64}`` to the docks
  watching it. A slow dock never holds up the others: a send still in flight is skipped (the
  next picture replaces it).

The picture reveals the show, so it is served like a command: on the token-checked WebSocket,
or ``GET /preview/output.jpg`` with the token (``app.py``). ``scripts/benchmark_preview.py``
measures the cost per frame (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

logger = logging.getLogger(__name__)

FEEDS = ("output", "input")
DEFAULT_FPS = 5.0  # pictures a second per watched feed: enough to see the style, cheap to make
MAX_FPS = 15.0
DEFAULT_MAX_SIDE = 320  # pixels on the longer side (an OBS dock is ~300-400 px wide)
DEFAULT_QUALITY = 70

Snapshot = tuple[int, np.ndarray]  # (a number that changes with every new frame, RGB uint8 (H, W, 3))
SnapshotFn = Callable[[], Snapshot | None]


class PreviewTap:
    """The output stage's hook: ``offer`` keeps a reference to the newest frame written (any thread)."""

    def __init__(self) -> None:
        self._latest: Snapshot | None = None
        self._count = 0

    def offer(self, image: np.ndarray) -> None:
        self._count += 1
        self._latest = (self._count, image)  # one assignment: readers see the old or the new pair, never half

    def latest(self) -> Snapshot | None:
        return self._latest


@dataclass(frozen=True)
class PreviewFrame:
    feed: str
    seq: int
    width: int
    height: int
    jpeg: bytes

    def message(self) -> dict[str, Any]:
        return {"type": "preview", "feed": self.feed, "seq": self.seq, "width": self.width, "height": self.height,
                "jpeg": base64.b64encode(self.jpeg).decode("ascii")}


class PreviewFeeds:
    """Where each feed's newest frame comes from, and its JPEG (encoded once per new frame)."""

    def __init__(self, sources: dict[str, SnapshotFn], max_side: int = DEFAULT_MAX_SIDE,
                 quality: int = DEFAULT_QUALITY) -> None:
        unknown = set(sources) - set(FEEDS)
        if unknown:
            raise ValueError(f"unknown preview feed(s) {sorted(unknown)}; feeds: {', '.join(FEEDS)}")
        if not 16 <= max_side <= 4096 or not 1 <= quality <= 100:
            raise ValueError(f"preview max_side must be in [16, 4096] and quality in [1, 100], got {max_side}, {quality}")
        self.sources, self.max_side, self.quality = sources, max_side, quality
        self._lock = threading.Lock()
        self._cache: dict[str, PreviewFrame] = {}
        self.encoded = 0  # JPEGs made (the cost counter the tests and the benchmark read)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f for f in FEEDS if f in self.sources)

    def encode(self, feed: str) -> PreviewFrame | None:
        """The JPEG of ``feed``'s newest frame (None: no frame yet or no such feed); cached per frame."""
        source = self.sources.get(feed)
        snapshot = source() if source is not None else None
        if snapshot is None:
            return None
        seq, image = snapshot
        with self._lock:  # two docks asking at once encode it once
            cached = self._cache.get(feed)
            if cached is not None and cached.seq == seq:
                return cached
            frame = self._encode(feed, seq, image)
            self._cache[feed] = frame
            self.encoded += 1
            return frame

    def _encode(self, feed: str, seq: int, image: np.ndarray) -> PreviewFrame:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a {w}x{h} preview frame as JPEG")
        return PreviewFrame(feed, seq, image.shape[1], image.shape[0], data.tobytes())


Send = Callable[[dict[str, Any]], Awaitable[bool]]  # False: that dock is gone


class PreviewBroadcaster:
    """Lives in the control server's event loop: one task, running only while a dock watches a feed."""

    def __init__(self, feeds: PreviewFeeds, fps: float = DEFAULT_FPS) -> None:
        if not 0 < fps <= MAX_FPS:
            raise ValueError(f"preview fps must be in (0, {MAX_FPS:g}], got {fps}")
        self.feeds, self.period = feeds, 1.0 / fps
        self._watchers: dict[int, tuple[frozenset[str], Send]] = {}
        self._busy: set[int] = set()  # docks whose last picture is still being sent
        self._sent: dict[tuple[int, str], int] = {}  # (dock, feed) -> seq last sent
        self._task: asyncio.Task[None] | None = None

    @property
    def watching(self) -> int:
        return sum(1 for feeds, _ in self._watchers.values() if feeds)

    def watch(self, key: int, feeds: list[str], send: Send) -> str | None:
        """Dock ``key`` wants ``feeds`` ([] = none); returns an error for unknown feeds (nothing changes then)."""
        unknown = [f for f in feeds if f not in self.feeds.names]
        if unknown:
            return f"no preview feed {unknown[0]!r}; feeds: {', '.join(self.feeds.names)}"
        if feeds:
            self._watchers[key] = (frozenset(feeds), send)
            self._sent = {k: v for k, v in self._sent.items() if k[0] != key}  # a re-subscribe gets the current picture
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
        else:
            self.forget(key)
        return None

    def forget(self, key: int) -> None:
        self._watchers.pop(key, None)
        self._busy.discard(key)
        self._sent = {k: v for k, v in self._sent.items() if k[0] != key}

    async def _run(self) -> None:
        logger.debug("preview: encoding for %d dock(s)", self.watching)
        try:
            while self.watching:
                wanted = {f for feeds, _ in self._watchers.values() for f in feeds}
                for feed in sorted(wanted):
                    frame = await asyncio.to_thread(self.feeds.encode, feed)
                    if frame is not None:
                        self._deliver(frame)
                await asyncio.sleep(self.period)
        except Exception:
            logger.exception("preview encoding failed; the dock shows no picture until it asks again")
        logger.debug("preview: nobody watches, encoding stopped")

    def _deliver(self, frame: PreviewFrame) -> None:
        message: dict[str, Any] | None = None
        for key, (feeds, send) in list(self._watchers.items()):
            if frame.feed not in feeds or key in self._busy or self._sent.get((key, frame.feed)) == frame.seq:
                continue
            message = message or frame.message()
            self._sent[(key, frame.feed)] = frame.seq
            self._busy.add(key)
            asyncio.get_running_loop().create_task(self._send(key, send, message))

    async def _send(self, key: int, send: Send, message: dict[str, Any]) -> None:
        try:
            alive = await send(message)
        finally:
            self._busy.discard(key)
        if not alive:
            self.forget(key)
