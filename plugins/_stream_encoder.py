"""One MPEG-TS output (PyAV: FFmpeg's own encoders and muxer) carrying one video stream.

Timing: pts are integers from our frame clock (``Frame.pts_ns``, monotonic ns at capture),
counted from the first frame sent, in a Fraction time base:

* H.264 (libx264, ``tune=zerolatency``: no B-frames, no lookahead, one packet per frame): the
  MPEG-TS clock itself, 1/90000 s; the frame clock maps to the nearest tick (±5.6 µs).
* MPEG-2 (FFmpeg's ``mpeg2video``): the encoder only accepts frame-rate time bases, so 1/fps,
  with each pts rounded to the nearest frame period.

Either way a pts never repeats: a frame that maps onto its predecessor's tick moves one tick on.
"""

from __future__ import annotations

import functools
import logging
from fractions import Fraction
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import av
import numpy as np

logger = logging.getLogger(__name__)

H264_ENCODER = "libx264"
MPEG2_ENCODER = "mpeg2video"
MPEGTS_CLOCK = Fraction(1, 90_000)
TS_PACKETS_PER_DATAGRAM = 7  # 7 x 188-byte TS packets = 1316 bytes: one datagram within an Ethernet MTU
# flush_packets: every datagram leaves at once. omit_video_pes_length=0: each video PES header states
# its length (when the frame fits in 64 KiB), so a demuxer (OBS's Media Source, ffplay) hands the frame
# on as soon as its last byte arrives; with FFmpeg's default (length omitted) it waits for the next
# frame's first packet to know this one ended: one whole frame period later (docs/benchmarks.md).
MPEGTS_OPTIONS = {"flush_packets": "1", "omit_video_pes_length": "0"}
CodecChoice = Literal["auto", "h264", "mpeg2video"]


@functools.cache
def encoder_available(name: str) -> bool:
    """True if PyAV's FFmpeg can encode with ``name`` (e.g. libx264: PyPI wheels bundle it)."""
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - UnknownCodecError or ValueError, depending on the PyAV version
        return False
    return True


@functools.cache
def protocol_available(scheme: str) -> bool:
    """True if PyAV's FFmpeg has the ``scheme`` protocol (srt needs an FFmpeg built with libsrt).

    PyAV lists formats and codecs but not protocols, so this asks FFmpeg to open a URL of that
    scheme on the discard port of this machine: "protocol not found" is the only answer that
    means absent (any other error means the protocol exists and simply found nothing there).
    """
    try:
        av.open(f"{scheme}://127.0.0.1:9", "r", timeout=(0.5, 0.5)).close()
    except av.error.ProtocolNotFoundError:
        return False
    except Exception:  # noqa: BLE001 - refused / timed out / unreachable: the protocol is there
        return True
    return True


def choose_codec(choice: CodecChoice) -> tuple[str, str | None]:
    """(FFmpeg encoder, why it is not the one asked for or None): H.264 unless libx264 is missing."""
    if choice == "mpeg2video":
        return MPEG2_ENCODER, None
    if encoder_available(H264_ENCODER):
        return H264_ENCODER, None
    return MPEG2_ENCODER, (
        f"PyAV's FFmpeg has no {H264_ENCODER} encoder (PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}); "
        "install the PyPI wheel of av (it bundles libx264) for H.264"
    )


def udp_url(url: str, pkt_size: int) -> str:
    """``url`` with ``pkt_size`` added to a udp:// query unless it names one already."""
    parts = urlsplit(url)
    if parts.scheme != "udp":
        return url
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("pkt_size", str(pkt_size))
    return urlunsplit(parts._replace(query=urlencode(query)))


class StreamEncoder:
    """Opens ``url`` as an MPEG-TS output at construction; ``send`` encodes and muxes one frame.

    Not thread-safe: one thread sends (the stream sink's sender thread).
    """

    def __init__(
        self,
        url: str,
        encoder: str,
        width: int,
        height: int,
        fps: float,
        bitrate_bps: int,
        keyframe_interval: int,
        preset: str = "veryfast",
    ) -> None:
        self.url, self.encoder = url, encoder
        rate = Fraction(fps).limit_denominator(1001)
        # libx264 takes the MPEG-TS clock itself; mpeg2video insists on a frame-rate time base
        self.time_base = MPEGTS_CLOCK if encoder == H264_ENCODER else 1 / rate
        self._container: Any = av.open(url, "w", format="mpegts", options=dict(MPEGTS_OPTIONS))
        try:
            stream: Any = self._container.add_stream(encoder)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            cc = stream.codec_context
            cc.time_base, cc.framerate = self.time_base, rate
            cc.gop_size = keyframe_interval  # a player joining mid-stream starts at the next keyframe
            cc.max_b_frames = 0  # B-frames would hold frames back: latency
            cc.bit_rate = bitrate_bps
            if encoder == H264_ENCODER:
                cc.options = {"preset": preset, "tune": "zerolatency"}
            cc.open()
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._origin_ns: int | None = None
        self._last_pts = -1
        self._last_frame: Any = None  # the last picture sent, converted (repeat() sends it again)
        self.frames_sent = 0
        self.frames_repeated = 0
        self.bytes_sent = 0

    def pts_for(self, pts_ns: int) -> int:
        """Integer pts in ``time_base`` for a frame captured at ``pts_ns`` (strictly increasing)."""
        if self._origin_ns is None:
            self._origin_ns = pts_ns
        tb = self.time_base
        unit = tb.numerator * 1_000_000_000  # ns per tick, times the denominator
        pts = ((pts_ns - self._origin_ns) * tb.denominator * 2 + unit) // (2 * unit)  # nearest tick
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        return pts

    def send(self, image: np.ndarray, pts_ns: int) -> None:
        """Encode (H, W, 3) uint8 RGB ``image`` (the stream's size) and send its packets."""
        self._last_frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        self._encode(self._last_frame, pts_ns)
        self.frames_sent += 1

    def repeat(self, pts_ns: int) -> bool:
        """Send the last picture again at ``pts_ns`` (a P-frame of a few KiB: ~3 ms of libx264 at 512x512);
        False before the first ``send``."""
        if self._last_frame is None:
            return False
        self._encode(self._last_frame, pts_ns)
        self.frames_repeated += 1
        return True

    def _encode(self, frame: Any, pts_ns: int) -> None:
        frame.pts, frame.time_base = self.pts_for(pts_ns), self.time_base
        for packet in self._stream.encode(frame):
            self.bytes_sent += packet.size
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder (its delayed frames) and close the output. Safe to call more than once."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except Exception as exc:  # noqa: BLE001 - closing must release the socket whatever happened
            logger.warning("stream %s: flushing the encoder failed: %s", self.url, exc)
        finally:
            try:
                self._container.close()  # writes the trailer: fails like any send on a broken output
            except Exception as exc:  # noqa: BLE001 - the output is released either way
                logger.warning("stream %s: closing the output failed: %s", self.url, exc)
            self._container = None
