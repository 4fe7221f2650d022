"""Glass-to-glass delay into OBS: frame numbers painted into the frames, read back where they arrive.

    .venv/bin/python scripts/benchmark_obs_latency.py [--seconds 20] [--size 512] [--only NAME ...]

A sender thread writes numbered frames into one of our real sinks at a steady rate (what the
show's output stage does) and notes when each number was written. Where the frames arrive, the
number is read back (16 bits painted as black / white cells, robust to H.264) and the delay is
the arrival time minus the write time:

* **OBS Media Source** (``stream`` sink, MPEG-TS over UDP): a real headless OBS 29 (Xvfb +
  llvmpipe, ``tests/obs/harness.py``) plays it; ``GetSourceScreenshot`` is polled as fast as OBS
  answers. A screenshot at time t (the middle of its request) showing frame n gives the sample
  t - written(n) - 1/(2 fps): the frame on screen is on average half a frame older than its
  arrival. The screenshot's own round trip is reported (it bounds the resolution).
* **PyAV decoder** (the same stream into a plain FFmpeg decoder, no OBS): the moment each frame
  comes out of the decoder. Twice: FFmpeg's default threads (frame threading, as OBS's Media
  Source decodes) and one thread with the low-delay flag.
* **NDI** (``ndi`` sink into a plain NDI receiver over loopback, our ``ndi`` source): the moment
  each frame is received.

Each OBS variant changes Media Source settings (SetInputSettings) and/or the stream's
parameters; the table printed at the end (Markdown) goes into docs/benchmarks.md. The frame
number probe is also run by tests/obs/test_benchmark_obs_latency.py (does it read frames back, is
the delay sane; no timing assertion).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from live2diff_broadcast.media.frames import Frame, now_ns  # noqa: E402
from live2diff_broadcast.plugin_api import Sink  # noqa: E402
from plugins._stream_encoder import MPEGTS_OPTIONS  # noqa: E402

BITS = 16
MEDIA = "Latency probe"
SCENE = "Latency probe scene"
OBS_DEFAULTS = {  # what a user gets from Sources > + > Media Source with Local File unticked
    "is_local_file": False, "input_format": "mpegts", "buffering_mb": 2, "hw_decode": False,
    "clear_on_media_end": True, "restart_on_activate": True, "close_when_inactive": False,
}


# --- the frame number, painted and read back -------------------------------------------------

def paint(n: int, size: int, background: np.ndarray) -> np.ndarray:
    """(size, size, 3) uint8 RGB: ``background`` shifted by n (moving texture: the encoder works as on
    camera video) with n's 16 bits as cells in a band across the middle, and their inverse below."""
    image = np.roll(background, 3 * n, axis=1)
    cell = size // (BITS + 2)
    top = size // 2 - cell
    for bit in range(BITS):
        on = (n >> (BITS - 1 - bit)) & 1
        x = (bit + 1) * cell
        image[top : top + cell, x : x + cell] = 255 if on else 0
        image[top + cell : top + 2 * cell, x : x + cell] = 0 if on else 255
    return image


def read_number(image: np.ndarray) -> int | None:
    """The number ``paint`` wrote into ``image`` (any size, RGB or BGR), or None if unreadable."""
    h, w = image.shape[:2]
    gray = image.mean(axis=2) if image.ndim == 3 else image
    n = 0
    for bit in range(BITS):
        cx = (bit + 1.5) * w / (BITS + 2)
        cy_on, cy_off = h / 2 - h / (BITS + 2) / 2, h / 2 + h / (BITS + 2) / 2
        r = max(1, int(w / (BITS + 2) / 4))
        on = gray[int(cy_on) - r : int(cy_on) + r, int(cx) - r : int(cx) + r].mean()
        off = gray[int(cy_off) - r : int(cy_off) + r, int(cx) - r : int(cx) + r].mean()
        if abs(on - off) < 100:  # a cell and its inverse must disagree clearly
            return None
        n = (n << 1) | int(on > off)
    return n


# --- the sender ------------------------------------------------------------------------------

class NumberedSender:
    """Writes numbered frames into ``sink`` at ``fps`` from its own thread; ``written[n]`` = now_ns() of the write.

    A frame's pts_ns is the write time, less ``pts_lag_ms()`` when given: a show's engine frames carry
    their camera frame's capture time, which is older than the write by the engine's (varying) latency."""

    def __init__(self, sink: Sink, size: int, fps: float, pts_lag_ms: Callable[[], float] | None = None) -> None:
        self.sink, self.size, self.fps = sink, size, fps
        self.pts_lag_ms = pts_lag_ms
        self.written: dict[int, int] = {}
        self._stop = threading.Event()
        rng = np.random.default_rng(0)
        self._background = rng.integers(40, 216, (size, size, 3), np.uint8)
        self._thread = threading.Thread(target=self._run, name="probe-sender", daemon=True)

    def __enter__(self) -> NumberedSender:
        self.sink.open(self.size, self.size, self.fps)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sink.close("probe over")

    def _run(self) -> None:
        period_ns = round(1e9 / self.fps)
        start = now_ns()
        n = 0
        last_pts = 0
        while not self._stop.is_set():
            due = start + n * period_ns
            delay = (due - now_ns()) / 1e9
            if delay > 0:
                self._stop.wait(delay)
            image = paint(n % (1 << BITS), self.size, self._background)
            t = now_ns()
            lag = 0 if self.pts_lag_ms is None else round(self.pts_lag_ms() * 1e6)
            pts = max(t - lag, last_pts + 1)
            last_pts = pts
            self.sink.write(Frame(image, pts, n))
            self.written[n % (1 << BITS)] = t
            n += 1


# --- results ---------------------------------------------------------------------------------

@dataclass
class PathResult:
    path: str
    samples_ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")

    def row(self) -> str:
        return (f"| {self.path} | {self.p50:.0f} | {self.pct(0.95):.0f} | {len(self.samples_ms)} | {self.note} |")


def _keep_recent(samples: list[float], skip_s: float, times: list[float]) -> list[float]:
    """Samples after the first ``skip_s`` seconds (start-up: probing, first keyframe)."""
    if not times:
        return []
    t0 = times[0]
    return [s for s, t in zip(samples, times, strict=True) if t - t0 >= skip_s]


# --- OBS -------------------------------------------------------------------------------------

def screenshot(client: Any, source: str, size: int) -> np.ndarray | None:
    try:
        data = client.get_source_screenshot(source, "png", size, size, -1).image_data
    except Exception:  # noqa: BLE001 - 702 until the first frame is decoded
        return None
    raw = base64.b64decode(data.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)


def media_input(kind: str, url: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The input settings of a Media Source (``ffmpeg_source``) or VLC Video Source (``vlc_source``) on ``url``."""
    if kind == "vlc_source":
        port = url.rsplit(":", 1)[1].split("?")[0]
        return {"playlist": [{"value": f"udp://@127.0.0.1:{port}", "hidden": False, "selected": False}],
                "loop": False, "network_caching": 100, **settings}
    if settings.get("is_local_file"):  # the URL as a "file": OBS then plays it unbuffered (README: Into OBS)
        return {**OBS_DEFAULTS, **settings, "local_file": url, "looping": False}
    return {**OBS_DEFAULTS, **settings, "input": url}


def prepare_obs_scene(client: Any, kind: str, url: str, settings: dict[str, Any]) -> str:
    """A scene on air holding one source of ``kind`` playing ``url`` (created once, then re-pointed); its name."""
    name, scene = f"{MEDIA} ({kind})", f"{SCENE} ({kind})"
    scenes = {s["sceneName"] for s in client.get_scene_list().scenes}
    if scene not in scenes:
        client.create_scene(scene)
        client.create_input(scene, name, kind, media_input(kind, url, settings), True)
    else:
        client.set_input_settings(name, media_input(kind, url, settings), False)
    client.set_current_program_scene(scene)
    return name


def measure_obs(client: Any, sink: Sink, media_settings: dict[str, Any], seconds: float, size: int = 512,
                fps: float = 30.0, skip_s: float = 3.0, shot_size: int = 128, name: str = "OBS Media Source",
                kind: str = "ffmpeg_source", pts_lag_ms: Callable[[], float] | None = None) -> PathResult:
    """OBS playing ``sink``'s stream in a source of ``kind`` (``media_settings`` over its defaults)."""
    url = str(sink.settings.url)  # type: ignore[attr-defined]
    samples: list[float] = []
    times: list[float] = []
    trips: list[float] = []
    with NumberedSender(sink, size, fps, pts_lag_ms) as sender:
        source = prepare_obs_scene(client, kind, url, media_settings)
        client.trigger_media_input_action(source, "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_RESTART")
        deadline = time.monotonic() + seconds + skip_s + 60  # + the first frame: a keyframe, probing
        first: float | None = None
        while time.monotonic() < deadline:
            before = now_ns()
            image = screenshot(client, source, shot_size)
            after = now_ns()
            n = None if image is None else read_number(image)
            if n is None or n not in sender.written:
                continue
            if first is None:
                first = time.monotonic()
                deadline = first + seconds + skip_s
            mid = (before + after) // 2
            samples.append((mid - sender.written[n]) / 1e6 - 500 / fps)
            times.append(time.monotonic())
            trips.append((after - before) / 1e6)
    kept = _keep_recent(samples, skip_s, times)
    note = f"screenshot round trip p50 {statistics.median(trips):.0f} ms" if trips else "OBS showed no readable frame"
    return PathResult(name, kept, note)


# --- plain decoders --------------------------------------------------------------------------

def measure_pyav(sink: Sink, seconds: float, low_delay: bool, size: int = 512, fps: float = 30.0,
                 skip_s: float = 2.0, threads: int = 0, name: str = "PyAV decoder") -> PathResult:
    """The same MPEG-TS stream into PyAV's decoder (FFmpeg), in this process."""
    import av

    url = str(sink.settings.url)  # type: ignore[attr-defined]
    port = url.rsplit(":", 1)[1].split("?")[0]
    samples: list[float] = []
    times: list[float] = []
    stop = threading.Event()
    opened = threading.Event()

    def receive() -> None:
        options = {"fflags": "nobuffer", "probesize": "32768", "analyzeduration": "0"}
        with av.open(f"udp://127.0.0.1:{port}?timeout=3000000", format="mpegts", options=options, timeout=20) as c:
            stream = c.streams.video[0]
            if low_delay:
                stream.codec_context.thread_count = 1
                stream.codec_context.flags |= av.codec.context.Flags.low_delay
            else:
                stream.codec_context.thread_count = threads  # 0: FFmpeg's default, cores + 1 (at most 16)
                stream.codec_context.thread_type = "AUTO"  # frame threading: each thread holds one frame back
            opened.set()
            for packet in c.demux(stream):
                for frame in packet.decode():
                    t = now_ns()
                    n = read_number(frame.to_ndarray(format="gray"))
                    if n is not None and n in sender.written:
                        samples.append((t - sender.written[n]) / 1e6)
                        times.append(time.monotonic())
                if stop.is_set():
                    return

    with NumberedSender(sink, size, fps) as sender:
        thread = threading.Thread(target=receive, name="probe-pyav", daemon=True)
        thread.start()
        end = time.monotonic() + seconds + skip_s + 30
        while time.monotonic() < end and not (times and times[-1] - times[0] > seconds + skip_s):
            time.sleep(0.1)
        stop.set()
    thread.join(10)
    return PathResult(name, _keep_recent(samples, skip_s, times), f"{os.cpu_count()} CPUs")


def measure_ndi(seconds: float, size: int = 512, fps: float = 30.0, skip_s: float = 2.0) -> PathResult:
    """Our ``ndi`` sink into a plain NDI receiver (our ``ndi`` source) over loopback."""
    from plugins.ndi_sink import NdiSink
    from plugins.ndi_source import NdiSource

    name = f"latency-probe-{os.getpid()}"
    samples: list[float] = []
    times: list[float] = []
    with NumberedSender(NdiSink.create({"name": name}), size, fps) as sender:
        source = NdiSource.create({"source": name, "extra_ips": "127.0.0.1", "connect_timeout_s": 20})
        source.open()
        try:
            end = time.monotonic() + seconds + skip_s + 30
            while time.monotonic() < end and not (times and times[-1] - times[0] > seconds + skip_s):
                frame = source.read(1.0)
                if frame is None:
                    continue
                n = read_number(frame.image)
                if n is not None and n in sender.written:
                    samples.append((frame.pts_ns - sender.written[n]) / 1e6)
                    times.append(time.monotonic())
        finally:
            source.close("probe over")
    return PathResult("NDI sink -> NDI receiver (loopback)", _keep_recent(samples, skip_s, times), "BGRX, uncompressed")


# --- the runs --------------------------------------------------------------------------------

def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stream_sink(**settings: Any) -> Sink:
    from plugins.stream_sink import StreamSink

    return StreamSink.create({"url": f"udp://127.0.0.1:{free_udp_port()}", **settings})


@dataclass
class ObsVariant:
    name: str
    media: dict[str, Any] = field(default_factory=dict)  # source settings over its defaults
    stream: dict[str, Any] = field(default_factory=dict)  # stream sink settings
    fps: float = 30.0  # stream frame rate
    canvas_fps: int = 30  # OBS's own render rate (Settings > Video > Common FPS Values)
    kind: str = "ffmpeg_source"
    mux: dict[str, str] | None = None  # MPEG-TS muxer options instead of the stream sink's own
    pts_lag_ms: Callable[[], float] | None = None  # frames stamped this much before their write (engine latency)


MPEGTS_NOW = dict(MPEGTS_OPTIONS)  # the stream sink's muxer options (a copy: mpegts_options() swaps the original)
JITTER = random.Random(0)  # the simulated engine latency of the pts variants
FFMPEG_MUX_DEFAULTS = {"flush_packets": "1"}  # the stream sink before: PES lengths omitted (FFmpeg's default)

BEFORE = {"min_fps": 0}  # with FFMPEG_MUX_DEFAULTS: the stream sink as it was (no repeats, PES lengths omitted)
ZERO = {"buffering_mb": 0}
# What the README tells the streamer to set (Network Buffering 0 MB; keep playing while another scene is on air)
RECOMMENDED_MEDIA = {"buffering_mb": 0, "restart_on_activate": False, "close_when_inactive": False, "hw_decode": False}

OBS_VARIANTS = [
    ObsVariant("Media Source, OBS defaults (buffering 2 MB); stream sink before (no PES lengths, no repeats)",
               {}, BEFORE, mux=FFMPEG_MUX_DEFAULTS),
    ObsVariant("Media Source, OBS defaults (buffering 2 MB); stream sink now"),
    ObsVariant("Media Source, buffering 0 MB; stream sink now", ZERO),
    ObsVariant("Media Source, Local File ticked, the udp:// URL as its file (unbuffered); stream sink now",
               {**RECOMMENDED_MEDIA, "is_local_file": True}),
    ObsVariant("Media Source, buffering 0 MB + ffmpeg_options fflags=nobuffer probesize analyzeduration=0; now",
               {**ZERO, "ffmpeg_options": "fflags=nobuffer probesize=32768 analyzeduration=0"}),
    ObsVariant("Media Source, buffering 0 MB; stream sink now without repeats (min_fps 0)", ZERO, {"min_fps": 0}),
    ObsVariant("Media Source, buffering 0 MB; engine latency 150-450 ms, pts = capture time (no repeats)",
               ZERO, {"timestamps": "capture"}, pts_lag_ms=lambda: JITTER.uniform(150, 450)),
    ObsVariant("Media Source, buffering 0 MB; engine latency 150-450 ms, pts = send time (now)",
               ZERO, {}, pts_lag_ms=lambda: JITTER.uniform(150, 450)),
    ObsVariant("Media Source, recommended (buffering 0 MB, restart when active off); stream sink now",
               RECOMMENDED_MEDIA),
    ObsVariant("Media Source, buffering 0 MB, keyframe every 10 frames; now", ZERO, {"keyframe_interval": 10}),
    ObsVariant("Media Source, buffering 0 MB, x264 veryfast (the default before); now", ZERO, {"preset": "veryfast"}),
    ObsVariant("Media Source, buffering 0 MB, MPEG-2 (no repeats); now", ZERO, {"codec": "mpeg2video"}),
    ObsVariant("Media Source, buffering 0 MB, stream at 60 fps; now", ZERO, fps=60.0),
    ObsVariant("Media Source, buffering 0 MB, repeats up to 120 fps (min_fps 120); now", ZERO, {"min_fps": 120}),
    ObsVariant("Media Source, buffering 0 MB, close when inactive on; now", {**ZERO, "close_when_inactive": True}),
    ObsVariant("Media Source, buffering 0 MB; muxer delay 0.7 s (the ffmpeg CLI's -muxdelay default); now", ZERO,
               mux={**MPEGTS_NOW, "max_delay": "700000"}),
    # not run by default (--only "canvas" / "VLC"): slower here for reasons of this machine, see docs/benchmarks.md
    ObsVariant("Media Source, buffering 0 MB, OBS canvas 60 fps; now", ZERO, canvas_fps=60),
    ObsVariant("VLC Video Source, network caching 100 ms; now", {"network_caching": 100}, kind="vlc_source"),
]
# not run by default: OBS stopped answering once right after "Local File" (probably: a local file's read has no timeout)
NOT_BY_DEFAULT = ("canvas 60", "VLC", "Local File")


@dataclass
class DecoderVariant:
    name: str
    stream: dict[str, Any] = field(default_factory=dict)
    mux: dict[str, str] | None = None
    low_delay: bool = True
    threads: int = 0


DECODER_VARIANTS = [
    DecoderVariant("PyAV decoder, 1 thread, low_delay; stream sink before (no PES lengths)", BEFORE, FFMPEG_MUX_DEFAULTS),
    DecoderVariant("PyAV decoder, 1 thread, low_delay; now", {"min_fps": 0}),
    DecoderVariant("PyAV decoder, FFmpeg default threads (cores + 1, as OBS); now without repeats", {"min_fps": 0},
                   low_delay=False),
    DecoderVariant("PyAV decoder, FFmpeg default threads (cores + 1, as OBS); now", low_delay=False),
    DecoderVariant("PyAV decoder, 9 frame threads (OBS on an 8-core PC); now without repeats", {"min_fps": 0},
                   low_delay=False, threads=9),
    DecoderVariant("PyAV decoder, 9 frame threads (OBS on an 8-core PC); now", low_delay=False, threads=9),
    DecoderVariant("PyAV decoder, 9 frame threads (OBS on an 8-core PC); now with min_fps 120", {"min_fps": 120},
                   low_delay=False, threads=9),
]


@contextmanager
def mpegts_options(options: dict[str, str] | None) -> Iterator[None]:
    """The stream sink's MPEG-TS muxer options replaced while inside (None: left as they are)."""
    import plugins._stream_encoder as encoder

    saved = dict(encoder.MPEGTS_OPTIONS)
    if options is not None:
        encoder.MPEGTS_OPTIONS.clear()
        encoder.MPEGTS_OPTIONS.update(options)
    try:
        yield
    finally:
        encoder.MPEGTS_OPTIONS.clear()
        encoder.MPEGTS_OPTIONS.update(saved)


@contextmanager
def headless_obs(tmp: Path) -> Iterator[Any]:
    """Xvfb + OBS 29 (tests/obs/harness.py); yields a connected obsws_python ReqClient."""
    import obsws_python

    from tests.obs.harness import free_port, missing_programs, obs_studio, xvfb

    missing = missing_programs()
    if missing:
        raise SystemExit(f"{', '.join(missing)} not installed: bash scripts/setup_system.sh installs OBS and Xvfb "
                         "(or leave the OBS paths out: --only PyAV NDI)")
    logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
    port = free_port()
    with xvfb(tmp) as display, obs_studio(tmp, display, port):
        client = obsws_python.ReqClient(host="127.0.0.1", port=port, password="", timeout=30)
        try:
            yield client
        finally:
            client.disconnect()


@dataclass
class Report:
    """What a run measured, and where: the header docs/benchmarks.md needs, then one row per path."""

    command: str
    started: str
    machine: str
    load_before: str
    load_after: str = ""
    software: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: list[PathResult] = field(default_factory=list)
    rounds_p50: dict[str, list[float]] = field(default_factory=dict)

    def header(self) -> list[str]:
        return [f"Date: {self.started}. Machine: {self.machine}.", f"Load (uptime) before: {self.load_before}",
                f"Load (uptime) after: {self.load_after}", f"Software: {'; '.join(self.software)}.",
                f"Command: `{self.command}`", *self.notes]

    def table(self, markdown: bool) -> str:
        head = ["path", "p50 ms", "p95 ms", "p50 per round", "samples", "note"]
        rows = [[r.path, f"{r.p50:.0f}", f"{r.pct(0.95):.0f}", ", ".join(f"{p:.0f}" for p in self.rounds_p50[r.path]),
                 str(len(r.samples_ms)), r.note] for r in self.results]
        if markdown:
            lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return "\n".join(["", *self.header(), "", *lines])
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [head, *rows]]
        return "\n".join(["", *self.header(), "", *lines])


def uptime() -> str:
    """`uptime`'s line (load averages over 1, 5 and 15 minutes), or os.getloadavg() without the program."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else 0
    return (f"{platform.node()}, {os.cpu_count()} CPUs ({model or platform.processor() or 'unknown CPU'}), "
            f"{memory:.0f} GiB, {platform.system()} {platform.release()}, no GPU used")


def run_all(seconds: float, size: int, only: list[str], rounds: int, report: Report,
            emit: Callable[[str], None]) -> None:
    """Every chosen path ``rounds`` times, interleaved (a load change hits all of them); one pooled result each."""
    pooled: dict[str, PathResult] = {}
    report.results = []

    def wanted(name: str) -> bool:
        return not only or any(o.lower() in name.lower() for o in only)

    def add(result: PathResult) -> None:
        if result.path not in pooled:
            pooled[result.path] = PathResult(result.path, [], result.note)
            report.results.append(pooled[result.path])
        into = pooled[result.path]
        into.samples_ms += result.samples_ms
        report.rounds_p50.setdefault(result.path, []).append(result.p50)
        emit(f"  {result.path}: p50 {result.p50:.0f} ms, p95 {result.pct(0.95):.0f} ms, "
             f"{len(result.samples_ms)} samples; {result.note}")

    variants = [v for v in OBS_VARIANTS if wanted(v.name) and (only or not any(x in v.name for x in NOT_BY_DEFAULT))]
    for round_ in range(rounds):
        if round_:  # each round starts with the next variant: none is always the first after OBS starts
            variants = variants[1:] + variants[:1]
        emit(f"round {round_ + 1} of {rounds}, load {os.getloadavg()[0]:.2f}")
        for d in [d for d in DECODER_VARIANTS if wanted(d.name)]:
            with mpegts_options(d.mux):
                add(measure_pyav(stream_sink(**d.stream), seconds, d.low_delay, size=size, threads=d.threads, name=d.name))
        if wanted("NDI"):
            try:
                add(measure_ndi(seconds, size=size))
            except Exception as exc:  # noqa: BLE001 - no NDI runtime: said in the report
                note = f"NDI sink -> NDI receiver not measured: {type(exc).__name__}: {exc}"
                emit("  " + note)
                if note not in report.notes:
                    report.notes.append(note)
        if variants:
            with tempfile.TemporaryDirectory() as tmp, headless_obs(Path(tmp)) as client:
                if round_ == 0:
                    version = client.get_version()
                    report.software.append(f"OBS {version.obs_version} (obs-websocket {version.obs_web_socket_version})")
                    if "ndi_source" not in client.get_input_kind_list(False).input_kinds:
                        report.notes.append("NDI into OBS: not measured, this OBS has no NDI source (DistroAV) plugin.")
                # OBS is slower for its first minute (shaders, caches): a measurement thrown away first
                warm = measure_obs(client, stream_sink(), ZERO, min(15.0, seconds), size=size, name="warm-up")
                emit(f"  warm-up (not counted): p50 {warm.p50:.0f} ms")
                canvas = 30
                for v in variants:
                    try:
                        if v.canvas_fps != canvas:
                            client.send("SetVideoSettings", {"fpsNumerator": v.canvas_fps, "fpsDenominator": 1})
                            canvas = v.canvas_fps
                        sink = stream_sink(**v.stream, fps=v.fps)
                        with mpegts_options(v.mux):
                            add(measure_obs(client, sink, v.media, seconds, size=size, fps=v.fps, name=v.name,
                                            kind=v.kind, pts_lag_ms=v.pts_lag_ms))
                    except Exception as exc:  # noqa: BLE001 - OBS stopped answering: said, and the next round restarts it
                        note = f"round {round_ + 1}: OBS failed during '{v.name}' ({type(exc).__name__}: {exc}); " \
                               "the rest of that round's OBS paths were skipped"
                        emit("  " + note)
                        report.notes.append(note)
                        break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per path and round (after start-up)")
    parser.add_argument("--size", type=int, default=512, help="frame width = height (default 512)")
    parser.add_argument("--only", nargs="*", default=[], help="run only paths whose name contains one of these "
                        "(case-insensitive; names the paths left out by default too: 'canvas 60', 'VLC')")
    parser.add_argument("--rounds", type=int, default=3, help="times each path runs, interleaved (default 3)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/benchmarks.md)")
    parser.add_argument("--list", action="store_true", help="list the paths and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name in [d.name for d in DECODER_VARIANTS] + ["NDI sink -> NDI receiver (loopback)"]:
            print(name)
        for v in OBS_VARIANTS:
            print(v.name + ("  [only with --only]" if any(x in v.name for x in NOT_BY_DEFAULT) else ""))
        return
    if args.seconds <= 0 or args.rounds < 1 or not 64 <= args.size <= 4096:
        parser.error("--seconds must be > 0, --rounds >= 1 and --size within 64..4096")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import av

    report = Report(
        command=shlex.join([os.path.relpath(sys.executable), *sys.argv]) if argv is None else shlex.join(argv),
        started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=machine(), load_before=uptime(),
        software=[f"Python {platform.python_version()}", f"PyAV {av.__version__} (libavcodec "
                  f"{'.'.join(map(str, av.library_versions['libavcodec']))})"])
    print(f"{report.started}  {report.machine}\n{report.load_before}", file=sys.stderr, flush=True)
    try:
        run_all(args.seconds, args.size, args.only, args.rounds, report,
                lambda line: print(line, file=sys.stderr, flush=True))
    finally:  # Ctrl+C or a failure: what was measured so far is still printed
        report.load_after = uptime()
        print(report.table(args.markdown), flush=True)


if __name__ == "__main__":
    main()
