"""``render IN OUT``: translate a video file frame by frame through the streaming path."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..config import ProfileError, load_profile
from ..control.timeline import Timeline, TimelineError, load_timeline
from ..weights.errors import WeightsError

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="translate a video file through the live streaming path",
        description="Every input frame goes through warmup, the KV-cached causal attention and the "
        "stream batch exactly as in a live run; the output has one frame per input frame.",
    )
    p.add_argument("input", type=Path, help="video to read (anything OpenCV decodes)")
    p.add_argument("output", type=Path, help="video to write (.mp4: mp4v, .avi: MJPG)")
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in tiny preset)")
    p.add_argument("--style", default=None, help="style name from the profile (default: its default style)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many input frames")
    p.add_argument("--replay", type=Path, default=None, help="timeline.json from 'run --record DIR': apply its "
                   "control events at their frames (with DIR/input.mkv as IN and a .mkv OUT: the recorded output, bit for bit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2  # heavy imports when the command runs: the CLI itself stays instant (tests/test_cli.py)

    from ..assembly import translator_from_profile
    from ..runtime.replay import Replayer

    try:
        profile = load_profile(args.profile)
        timeline: Timeline | None = load_timeline(args.replay) if args.replay is not None else None
        style = profile.style(args.style or (timeline.style if timeline is not None else None))
    except (ProfileError, KeyError, TimelineError) as exc:
        logger.error("%s", exc)
        return 2
    capture = cv2.VideoCapture(str(args.input))
    if not capture.isOpened():
        logger.error("%s: cannot open as a video", args.input)
        return 2
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        translator = translator_from_profile(profile, style)
    except WeightsError as exc:
        logger.error("%s", exc)
        return 2
    replayer = None if timeline is None else Replayer(profile, translator, timeline, style.name)
    height, width = translator.size
    codecs = {".avi": "MJPG", ".mkv": "FFV1"}  # .mkv: lossless
    fourcc = cv2.VideoWriter_fourcc(*codecs.get(args.output.suffix.lower(), "mp4v"))
    writer = cv2.VideoWriter(str(args.output), fourcc, fps, (width, height))
    if not writer.isOpened():
        logger.error("%s: cannot write a video here (try .mp4 or .avi)", args.output)
        return 2
    count_in = count_out = 0
    started = time.perf_counter()
    try:
        while args.max_frames is None or count_in < args.max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            outputs = [] if replayer is None else replayer.before(count_in)
            count_in += 1
            for _, rgb in outputs + translator.push(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)):
                writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                count_out += 1
        for _, rgb in translator.flush():
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            count_out += 1
    except TimelineError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        capture.release()
        writer.release()
    warmup = translator.stream.config.causal.warmup
    if count_in < warmup:
        logger.error("%s has %d frames; Live2Diff needs at least %d (its warmup) to produce output", args.input, count_in, warmup)
        return 2
    elapsed = time.perf_counter() - started
    logger.info("rendered %d of %d frames to %s in %.1f s (%.2f frames/s)", count_out, count_in, args.output, elapsed, count_in / elapsed)
    return 0
