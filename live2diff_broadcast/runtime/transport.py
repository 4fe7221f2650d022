"""Shared-memory frame rings and the control/event channel between processes.

A ``FrameRing`` is one shared-memory segment: a small header, then ``slots`` slots, each
a slot header plus room for one RGB uint8 frame of at most ``capacity`` (height, width).
One writer, one reader, latest frame wins: the writer never waits, the reader always
gets the newest complete frame and skips (and counts) the ones it missed. Pixels are
copied into and out of the segment with numpy; nothing is pickled.

Layout (all int64, little-endian, 64-byte aligned)::

    ring header  [magic, cap_h, cap_w, slots, published, consumed, writer_drops, reader_drops]
    slot i       [gen, counter, pts_ns, seq, frame_index, height, width, 0] + pixels

Each slot is a seqlock: the writer makes ``gen`` odd, writes, makes it even again, and
only then advances ``published`` (the counter of the newest complete frame). A reader
copies slot ``published % slots`` and keeps the copy only if ``gen`` was even and
unchanged across the copy and the slot still holds that counter (otherwise the writer
lapped it: read again). This relies on stores becoming visible in program order, which
x86-64 guarantees; aligned 8-byte stores are atomic there.

A reader sleeps on a doorbell (``doorbell.py``: an anonymous pipe the writer rings once per
frame): a kernel object with no name, so a process killed mid-wait leaves no lock held and a
killed process group leaves nothing behind in /dev/shm but the segments themselves.

Segments are named ``<prefix>-<role>``; ``new_run_prefix()`` gives every run its own
recognisable prefix (``l2d-<pid>-<token>``, the owner's pid) so a test can check none remain in
/dev/shm and ``shm_sweep.py`` can remove those whose owner died without unlinking them.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, TypeAlias

import numpy as np

from .doorbell import Doorbell

if sys.platform == "win32":
    from multiprocessing.connection import PipeConnection

    PipeEnd: TypeAlias = Connection | PipeConnection  # what ctx.Pipe() gives on Windows
else:
    PipeEnd: TypeAlias = Connection

logger = logging.getLogger(__name__)

SHM_PREFIX = "l2d-"
_MAGIC = 0x4C32_4452_494E_4731  # "L2DRING1"
_ALIGN = 64
_HEADER_WORDS = 8
_H_MAGIC, _H_CAP_H, _H_CAP_W, _H_SLOTS, _H_PUBLISHED, _H_CONSUMED, _H_WRITER_DROPS, _H_READER_DROPS = range(8)
_S_GEN, _S_COUNTER, _S_PTS, _S_SEQ, _S_INDEX, _S_HEIGHT, _S_WIDTH = range(7)


class TransportError(RuntimeError):
    """A ring could not be created, attached or used; the message names the segment."""


def new_run_prefix() -> str:
    """A segment-name prefix unique to this run: ``l2d-<pid>-<6 hex>``."""
    return f"{SHM_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


@dataclass(frozen=True)
class RingFrame:
    """One frame read back from a ring. image: (H, W, 3) uint8, a private copy."""

    image: np.ndarray
    pts_ns: int
    seq: int
    frame_index: int


@dataclass(frozen=True)
class RingHandle:
    """What another process needs to attach: pass it as a Process argument (spawn)."""

    name: str
    capacity: tuple[int, int]  # (max height, max width)
    slots: int
    doorbell: Doorbell  # passed to a spawned child with the handle


@dataclass(frozen=True)
class RingStats:
    published: int  # frames written
    consumed: int  # counter of the last frame read
    writer_drops: int  # frames overwritten before the reader took them
    reader_drops: int  # frames the reader skipped to get to the newest


class FrameRing:
    """A bounded latest-frame-wins ring of RGB frames in shared memory (one writer, one reader)."""

    def __init__(self, shm: shared_memory.SharedMemory, handle: RingHandle, owner: bool) -> None:
        self._shm, self.handle, self.owner = shm, handle, owner
        cap_h, cap_w = handle.capacity
        self._pixel_bytes = cap_h * cap_w * 3
        self._slot_stride = _ALIGN + _aligned(self._pixel_bytes)
        self._header: np.ndarray | None = np.ndarray((_HEADER_WORDS,), np.int64, buffer=shm.buf, offset=0)
        self._slot_headers: list[np.ndarray] | None = [
            np.ndarray((8,), np.int64, buffer=shm.buf, offset=self._slot_offset(i)) for i in range(handle.slots)
        ]
        self._last_seen = 0
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, capacity: tuple[int, int], ctx: BaseContext, slots: int = 3) -> FrameRing:
        """A new segment ``name`` for frames up to ``capacity`` = (height, width) pixels."""
        if slots < 2:
            raise TransportError(f"ring {name!r}: slots must be >= 2, got {slots}")
        cap_h, cap_w = capacity
        if cap_h <= 0 or cap_w <= 0:
            raise TransportError(f"ring {name!r}: capacity must be positive (height, width), got {capacity}")
        size = _ALIGN + slots * (_ALIGN + _aligned(cap_h * cap_w * 3))
        try:
            shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        except FileExistsError:
            raise TransportError(f"ring {name!r}: a shared-memory segment of that name already exists") from None
        handle = RingHandle(name, (cap_h, cap_w), slots, Doorbell(ctx))
        ring = cls(shm, handle, owner=True)
        assert ring._header is not None
        ring._header[:] = 0
        ring._header[[_H_MAGIC, _H_CAP_H, _H_CAP_W, _H_SLOTS]] = [_MAGIC, cap_h, cap_w, slots]
        logger.debug("ring %s created: %d slots of %dx%d (%d bytes)", name, slots, cap_w, cap_h, size)
        return ring

    @classmethod
    def attach(cls, handle: RingHandle) -> FrameRing:
        """Open an existing ring from another process; reading starts at its newest frame."""
        try:
            shm = shared_memory.SharedMemory(name=handle.name, create=False)
        except FileNotFoundError:
            raise TransportError(f"ring {handle.name!r}: no such shared-memory segment (was it unlinked?)") from None
        ring = cls(shm, handle, owner=False)
        assert ring._header is not None
        if int(ring._header[_H_MAGIC]) != _MAGIC:
            ring.close()
            raise TransportError(f"ring {handle.name!r}: not a frame ring (bad magic)")
        ring._last_seen = max(0, int(ring._header[_H_PUBLISHED]) - 1)
        return ring

    def close(self) -> None:
        """Detach from the segment (idempotent). Frames already read stay valid (they are copies)."""
        if self._closed:
            return
        self._closed = True
        self._header = None
        self._slot_headers = None
        self._shm.close()

    def unlink(self) -> None:
        """Remove the segment's name (owner only; idempotent). Call after close on every exit path."""
        if not self.owner:
            raise TransportError(f"ring {self.handle.name!r}: only the creating process unlinks it")
        self._unlink()
        self.handle.doorbell.close()

    def unlink_orphaned(self) -> None:
        """Remove the segment's name from a process that attached it, because its owner died
        (the engine process does this when its parent is gone; idempotent)."""
        self._unlink()

    def _unlink(self) -> None:
        try:
            self._shm.unlink()
            logger.debug("ring %s unlinked", self.handle.name)
        except FileNotFoundError:
            pass

    # --- writer ----------------------------------------------------------------------------

    def write(self, image: np.ndarray, pts_ns: int, seq: int, frame_index: int = -1) -> None:
        """Publish one (H, W, 3) uint8 frame; never blocks. H, W must fit the capacity."""
        header, slot_headers = self._live()
        h, w = image.shape[0], image.shape[1]
        cap_h, cap_w = self.handle.capacity
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or h > cap_h or w > cap_w:
            raise TransportError(
                f"ring {self.handle.name!r}: expected (H<={cap_h}, W<={cap_w}, 3) uint8, got {image.dtype} {image.shape}"
            )
        published = int(header[_H_PUBLISHED])
        counter = published + 1
        slot = counter % self.handle.slots
        sh = slot_headers[slot]
        gen = int(sh[_S_GEN])
        sh[_S_GEN] = gen + 1  # odd: being written
        np.copyto(self._pixels(slot, h, w), image)
        sh[_S_COUNTER], sh[_S_PTS], sh[_S_SEQ], sh[_S_INDEX], sh[_S_HEIGHT], sh[_S_WIDTH] = (
            counter, pts_ns, seq, frame_index, h, w,
        )
        sh[_S_GEN] = gen + 2  # even: complete
        if int(header[_H_CONSUMED]) < published:
            header[_H_WRITER_DROPS] += 1  # the previous frame was never read
        header[_H_PUBLISHED] = counter
        self.handle.doorbell.ring()

    # --- reader ----------------------------------------------------------------------------

    def read(self, timeout: float) -> RingFrame | None:
        """The newest frame not read yet, waiting up to ``timeout`` s; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            self.handle.doorbell.drain()  # we are about to look anyway
            frame = self._try_read()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.handle.doorbell.wait(remaining):
                return self._try_read()

    def poll(self) -> RingFrame | None:
        """The newest frame not read yet, or None at once."""
        self.handle.doorbell.drain()
        return self._try_read()

    def _try_read(self) -> RingFrame | None:
        header, slot_headers = self._live()
        for _ in range(100):
            counter = int(header[_H_PUBLISHED])
            if counter <= self._last_seen:
                return None
            slot = counter % self.handle.slots
            sh = slot_headers[slot]
            gen = int(sh[_S_GEN])
            if gen % 2 == 1 or int(sh[_S_COUNTER]) != counter:
                continue  # lapped by the writer: look again
            h, w = int(sh[_S_HEIGHT]), int(sh[_S_WIDTH])
            pts, seq, index = int(sh[_S_PTS]), int(sh[_S_SEQ]), int(sh[_S_INDEX])
            image = self._pixels(slot, h, w).copy()
            if int(sh[_S_GEN]) != gen:
                continue  # torn copy
            if counter > self._last_seen + 1:
                header[_H_READER_DROPS] += counter - self._last_seen - 1
            self._last_seen = counter
            header[_H_CONSUMED] = counter
            return RingFrame(image, pts, seq, index)
        raise TransportError(f"ring {self.handle.name!r}: could not get a consistent frame in 100 tries")

    # --- both ------------------------------------------------------------------------------

    def stats(self) -> RingStats:
        header, _ = self._live()
        return RingStats(
            published=int(header[_H_PUBLISHED]),
            consumed=int(header[_H_CONSUMED]),
            writer_drops=int(header[_H_WRITER_DROPS]),
            reader_drops=int(header[_H_READER_DROPS]),
        )

    def _live(self) -> tuple[np.ndarray, list[np.ndarray]]:
        if self._header is None or self._slot_headers is None:
            raise TransportError(f"ring {self.handle.name!r} is closed")
        return self._header, self._slot_headers

    def _slot_offset(self, slot: int) -> int:
        return _ALIGN + slot * self._slot_stride

    def _pixels(self, slot: int, h: int, w: int) -> np.ndarray:
        return np.ndarray((h, w, 3), np.uint8, buffer=self._shm.buf, offset=self._slot_offset(slot) + _ALIGN)


def leftover_segments(prefix: str = SHM_PREFIX) -> list[str]:
    """Names in /dev/shm that start with ``prefix`` (Linux; empty elsewhere)."""
    try:
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith(prefix))
    except FileNotFoundError:
        return []


class ControlChannel:
    """One end of a duplex pipe for small control and event messages (never pixels).

    ``send`` never raises when the other side is gone (it returns False and the channel
    reports ``closed``) and may be called from several threads (the engine's heartbeat);
    ``receive_all`` returns what is waiting without blocking.
    """

    def __init__(self, conn: PipeEnd) -> None:
        self.conn = conn
        self.closed = False
        self._send_lock = threading.Lock()

    def send(self, message: object) -> bool:
        if self.closed:
            return False
        try:
            with self._send_lock:
                self.conn.send(message)
            return True
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            self.closed = True
            return False

    def receive_all(self, timeout: float = 0.0) -> list[Any]:
        messages: list[Any] = []
        if self.closed:
            return messages
        try:
            wait = timeout
            while self.conn.poll(wait):
                messages.append(self.conn.recv())
                wait = 0.0
        except (EOFError, ConnectionResetError, BrokenPipeError, OSError):
            self.closed = True
        return messages

    def close(self) -> None:
        self.closed = True
        self.conn.close()
