"""``render IN OUT``: translate a video file frame by frame through the streaming path.

The translator is the live engine's own (``assembly.translator_from_profile``, the same profile
settings and backend); only the frames come from a file and every one of them is translated
(a live show skips stale camera frames). A progress bar shows frames/s and the time left.
OUT is written at IN's size by default (the engine's output placed back where it came from,
``media/resize.place_back``); a render stopped with SIGTERM or Ctrl+C closes OUT cleanly, and
an .mp4 (fragmented) plays even after a SIGKILL, up to its last second.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from ..config import ProfileError, load_profile
from ..control.timeline import Timeline, TimelineError, load_timeline
from ..weights.errors import WeightsError

logger = logging.getLogger(__name__)


class RenderStopped(BaseException):
    """SIGTERM / SIGINT during a render: unwinds the frame in progress so OUT is closed cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="translate a video file through the live streaming path",
        description="Every input frame goes through warmup, the KV-cached causal attention and the "
        "stream batch exactly as in a live run; the output has one frame per input frame.",
    )
    p.add_argument("input", type=Path, help="video to read (anything OpenCV decodes)")
    p.add_argument("output", type=Path, help="video to write: .mp4 (H.264, fragmented: plays even if the render is "
                   "stopped), .mkv (lossless FFV1: the engine's frames exactly) or .avi (MJPG)")
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in tiny preset)")
    p.add_argument("--style", default=None, help="style name from the profile (default: its default style)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many input frames")
    p.add_argument("--size", choices=("input", "model"), default=None,
                   help="output size: 'input' (IN's size, the engine's picture where it came from; the default) or "
                   "'model' (the engine's own frames; the default for a lossless .mkv)")
    p.add_argument("--replay", type=Path, default=None, help="timeline.json from 'run --record DIR': apply its "
                   "control events at their frames (with DIR/input.mkv as IN and a .mkv OUT: the recorded output, bit for bit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2  # heavy imports when the command runs, not when the CLI starts
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..assembly import translator_from_profile
    from ..media.opencv_log import quiet_opencv
    from ..media.resize import place_back
    from ..media.video_file import VideoFileError, VideoFileWriter
    from ..runtime.replay import Replayer

    # 1. profile, timeline and style
    try:
        profile = load_profile(args.profile)
        timeline: Timeline | None = load_timeline(args.replay) if args.replay is not None else None
        style = profile.style(args.style or (timeline.style if timeline is not None else None))
    except (ProfileError, KeyError, TimelineError) as exc:
        logger.error("%s", exc)
        return 2
    # 2. the input
    quiet_opencv()
    capture = cv2.VideoCapture(str(args.input))
    if not capture.isOpened():
        logger.error("%s: cannot open as a video", args.input)
        return 2
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    in_size = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if args.max_frames is not None:
        total = min(total or args.max_frames, args.max_frames)
    # 3. the live engine's translator
    try:
        translator = translator_from_profile(profile, style)
    except WeightsError as exc:
        logger.error("%s", exc)
        return 2
    replayer = None if timeline is None else Replayer(profile, translator, timeline, style.name)
    # 4. the output, at the input's size unless asked otherwise
    size = args.size or ("model" if args.output.suffix.lower() == ".mkv" else "input")
    height, width = in_size if size == "input" else translator.size
    try:
        writer = VideoFileWriter(args.output, width, height, fps)
    except VideoFileError as exc:
        logger.error("%s", exc)
        capture.release()
        return 2
    # 5. every frame through the translator, with a progress bar; SIGTERM / Ctrl+C end it cleanly
    count_in = count_out = 0
    started = time.perf_counter()
    first_out: float | None = None
    stopped: RenderStopped | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise RenderStopped(signum)

    main_thread = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    bar = tqdm(total=total, unit="frame", desc=f"render {args.input.name}", dynamic_ncols=True, mininterval=0.5)
    try:
        with logging_redirect_tqdm():
            while args.max_frames is None or count_in < args.max_frames:
                ok, bgr = capture.read()
                if not ok:
                    break
                outputs = [] if replayer is None else replayer.before(count_in)
                count_in += 1
                outputs += translator.push(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                for index, rgb in outputs:
                    writer.write(place_back(rgb, height, width) if size == "input" else rgb, index)
                    count_out += 1
                    first_out = first_out or time.perf_counter()
                bar.update(1)
            for index, rgb in translator.flush():
                writer.write(place_back(rgb, height, width) if size == "input" else rgb, index)
                count_out += 1
    except TimelineError as exc:
        logger.error("%s", exc)
        return 2
    except RenderStopped as exc:
        stopped = exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        bar.close()
        capture.release()
        writer.close()
    # 6. what happened
    elapsed = time.perf_counter() - started
    if stopped is not None:
        logger.warning("render stopped by %s after %d of %s input frames: %s has the %d frames made so far (%s)",
                       stopped, count_in, total or "?", args.output, count_out, writer.format)
        return 128 + stopped.signum
    warmup = translator.stream.config.causal.warmup
    if count_in < warmup:
        logger.error("%s has %d frames; Live2Diff needs at least %d (its warmup) to produce output", args.input, count_in, warmup)
        return 2
    steady = ""
    if first_out is not None and count_in > warmup:
        rate = (count_in - warmup) / max(time.perf_counter() - first_out, 1e-9)
        steady = f"; first output after {first_out - started:.1f} s (the {warmup}-frame warmup), then {rate:.2f} frames/s"
    logger.info("rendered %d of %d frames to %s (%s) in %.1f s (%.2f frames/s%s)", count_out, count_in, args.output,
                writer.format, elapsed, count_in / elapsed, steady)
    return 0
