"""``stream`` sink: MPEG-TS over UDP (or SRT) that an OBS Media Source, ffplay or VLC plays.

In OBS: Sources > + > Media Source, untick "Local File", Input ``udp://127.0.0.1:5600``, Input
Format ``mpegts``. H.264 (libx264, zerolatency) by default; MPEG-2 when asked for, or as a LOUD
fallback when PyAV's FFmpeg has no libx264 (logged, and named in the status' ``sink`` field).

``write`` never waits for the encoder: it leaves the frame in a one-slot mailbox and a sender
thread encodes and sends the newest frame; a frame replaced before the sender took it is
dropped and counted (``dropped``). A send that fails (an SRT peer gone, a network unreachable)
makes the next ``write`` raise, so the sink keeper closes and reopens the sink with backoff.

Latency into OBS (measured: scripts/benchmark_obs_latency.py, docs/benchmarks.md), four defaults:

* the pts are the send times (``timestamps = "send"``): OBS's Media Source plays frames on the pts
  clock it anchors at its first frame, so capture-time pts (the engine's varying latency) make it
  hold back every frame that came early;
* every video PES states its length (``_stream_encoder.MPEGTS_OPTIONS``): a demuxer hands a frame on
  when its last byte arrives, not one frame period later when the next one starts;
* libx264 ``ultrafast``: the cheapest frames to decode (OBS decodes in software on the CPU);
* at least ``min_fps`` (60) frames a second, the last picture repeated (a few KiB each, H.264 only):
  OBS decodes with FFmpeg's frame threads, which hold back about one frame per CPU core, so more
  frames per second move each one out sooner.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field, field_validator

from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import PluginError, Sink

from ._mailbox import LatestMailbox
from ._sizing import SinkSizeSettings, fit, output_size
from ._stream_encoder import (
    MPEGTS_CLOCK,
    TS_PACKETS_PER_DATAGRAM,
    CodecChoice,
    StreamEncoder,
    choose_codec,
    protocol_available,
    udp_url,
)

logger = logging.getLogger(__name__)

SCHEMES = ("udp", "srt")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


class StreamSinkSettings(SinkSizeSettings):
    url: str = Field(default="udp://127.0.0.1:5600",
                     description="udp://HOST:PORT (MPEG-TS datagrams) or srt://HOST:PORT (needs FFmpeg with libsrt)")
    codec: CodecChoice = Field(default="auto", description="auto / h264: libx264 zerolatency; mpeg2video: MPEG-2")
    bitrate_kbps: int = Field(default=4000, ge=100, le=200_000, description="target video bitrate")
    keyframe_interval: int = Field(default=30, ge=1, le=1000,
                                   description="frames between keyframes: a player that joins waits up to this long")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="ultrafast", description="libx264 speed / quality trade-off: ultrafast (no CABAC, no deblocking) is "
        "the cheapest to encode and to decode and came into OBS ~30 ms sooner than veryfast (docs/benchmarks.md); "
        "veryfast looks better at the same bitrate_kbps")
    fps: float | None = Field(default=None, gt=0, le=240, description="advertised frame rate (default: open()'s)")
    min_fps: float = Field(
        default=60.0, ge=0, le=240, description="send at least this often: when no new frame came for 1/min_fps s, "
        "the last one goes out again (0: never). A player's decoder holds back a fixed number of frames (OBS's Media "
        "Source: about one per CPU core), so more frames per second move each one out sooner. Only with "
        "timestamps = 'send'")
    timestamps: Literal["send", "capture"] = Field(
        default="send", description="the pts the stream carries: 'send' (when the sink sends the frame: a player such "
        "as OBS shows each frame the moment it arrives) or 'capture' (the camera frame's capture time: the player "
        "re-creates the capture timing and holds back frames that came early, adding the engine's latency jitter)")

    @field_validator("url")
    @classmethod
    def _reachable_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"expected udp://HOST:PORT or srt://HOST:PORT, got {url!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"port of {url!r} must be a number in 1..65535") from None
        if not parts.hostname or port is None or port == 0:
            raise ValueError(f"expected {parts.scheme}://HOST:PORT with a port in 1..65535, got {url!r}")
        if parts.scheme == "srt" and not protocol_available("srt"):
            raise ValueError(
                f"{url!r}: this PyAV's FFmpeg has no SRT protocol (the PyPI wheels are built without libsrt); "
                "use udp://HOST:PORT, or install PyAV built against an FFmpeg with libsrt "
                "(pip install av --no-binary av, with FFmpeg configured --enable-libsrt)"
            )
        return url


class StreamSink(Sink):
    """Encodes the newest written frame on a sender thread and sends it as MPEG-TS to ``url``."""

    name = "stream"
    description = "MPEG-TS over UDP/SRT for an OBS Media Source (settings: url, codec, bitrate_kbps, keyframe_interval)"
    Settings = StreamSinkSettings
    settings: StreamSinkSettings

    def __init__(self, settings: StreamSinkSettings) -> None:
        super().__init__(settings)
        self.encoder_name, self.fallback = choose_codec(settings.codec)
        if self.fallback is not None:
            logger.error("STREAM CODEC FALLBACK: sink 'stream' asked for %s, sending MPEG-2 (%s) instead: %s",
                         settings.codec, self.encoder_name, self.fallback)
        self._encoder: StreamEncoder | None = None
        self._mailbox: LatestMailbox[tuple[Frame, int]] = LatestMailbox()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._size = (0, 0)
        self.send_ns: deque[int] = deque(maxlen=600)  # write() -> packets sent, per frame (benchmarks)

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self, width: int, height: int, fps: float) -> None:
        s = self.settings
        self._size = output_size(s, width, height)
        if self._size[0] % 2 or self._size[1] % 2:
            raise PluginError(f"sink 'stream': settings 'width'/'height': {self._size[0]}x{self._size[1]} must both be "
                              "even (the stream is yuv420p)")
        url = udp_url(s.url, 188 * TS_PACKETS_PER_DATAGRAM)
        try:
            self._encoder = StreamEncoder(url, self.encoder_name, *self._size, s.fps or fps, s.bitrate_kbps * 1000,
                                          s.keyframe_interval, s.preset)
        except Exception as exc:  # av.error.*: the URL, the codec or its options refused
            raise PluginError(f"sink 'stream': cannot open {s.url!r} with {self.encoder_name}: {exc}") from exc
        self._mailbox = LatestMailbox()
        self._error = None
        self._thread = threading.Thread(target=self._send_loop, name="stream-sink", daemon=True)
        self._thread.start()
        logger.info("stream sink: %s (%dx%d, %.3f fps, %d kbps, keyframe every %d frames)",
                    self.detail, *self._size, s.fps or fps, s.bitrate_kbps, s.keyframe_interval)

    def write(self, frame: Frame) -> None:
        if self._encoder is None:
            raise PluginError("sink 'stream': write() called before open()")
        if self._error is not None:
            raise PluginError(f"sink 'stream': sending to {self.settings.url} failed: "
                              f"{type(self._error).__name__}: {self._error}")
        self._mailbox.put((frame, now_ns()))

    def _close(self) -> None:
        self._mailbox.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            if self._thread.is_alive():
                logger.warning("stream sink: the sender thread did not stop within 2 s; leaving it")
                return  # it still uses the encoder: closing under it could crash FFmpeg
        if self._encoder is not None:
            self._encoder.close()
            logger.info("stream sink closed %s after %d frames (%d repeated to keep %g fps, %d dropped, %.1f MB)",
                        self.settings.url, self._encoder.frames_sent, self._encoder.frames_repeated,
                        self.settings.min_fps, self.dropped, self._encoder.bytes_sent / 1e6)
            self._encoder = None

    # --- what the status shows -------------------------------------------------------------------

    @property
    def detail(self) -> str:
        codec = "h264 (libx264 zerolatency)" if self.encoder_name == "libx264" else "mpeg2video"
        if self.fallback is not None:
            codec += " (CODEC FALLBACK: no libx264)"
        return f"stream {codec} -> {self.settings.url}"

    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    # --- the sender thread -----------------------------------------------------------------------

    def _send_loop(self) -> None:
        encoder = self._encoder
        assert encoder is not None
        s = self.settings
        # repeats need the 90 kHz clock (H.264): MPEG-2's frame-rate time base has no slot between two frames
        repeat = s.min_fps > 0 and s.timestamps == "send" and encoder.time_base == MPEGTS_CLOCK
        repeat_after = 1 / s.min_fps if repeat else None
        while not self._mailbox.closed:
            item = self._mailbox.take(timeout=repeat_after or 0.5)
            try:
                if item is None:  # nothing new for 1/min_fps s: the last picture again (or nothing yet)
                    if repeat_after is not None and not self._mailbox.closed:
                        encoder.repeat(now_ns())
                    continue
                frame, written_at = item
                image: np.ndarray = fit(frame.image, *self._size)
                encoder.send(np.ascontiguousarray(image), written_at if s.timestamps == "send" else frame.pts_ns)
            except Exception as exc:  # noqa: BLE001 - reported by the next write(), which the keeper handles
                logger.error("stream sink: sending to %s failed: %s", s.url, exc)
                self._error = exc
                return
            self.send_ns.append(now_ns() - written_at)
