"""``eval CLIPS``: the paper's metrics (Sec. 4) over DAVIS-style clips, for the method and its ablations."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import ProfileError, load_profile
from ..weights.errors import WeightsError

logger = logging.getLogger(__name__)

# For --help without importing torch; tests/test_cli.py holds them to evaluation.modes.MODES and
# evaluation.temporal_clip.DEFAULT_CLIP_MODEL.
MODE_NAMES = ("live2diff", "no_warmup_inference", "no_depth", "frame_by_frame")
DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure depth MSE, CLIP temporal score, warp error and latency over clips",
        description="Runs every clip through the live streaming path in each mode and scores it as the "
        "Live2Diff paper does (Sec. 4). Writes results.json, results.md and per-clip PNG plots.",
    )
    p.add_argument("clips", type=Path, help="DAVIS-2017 folder (JPEGImages/480p/<seq>/), folders of frames, or videos")
    p.add_argument("--out", type=Path, default=Path("eval_results"), help="output folder (default: eval_results)")
    p.add_argument("--captions", type=Path, default=None, help="JSON {clip: caption} or 'clip<TAB>caption' lines")
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in tiny preset)")
    p.add_argument("--style", default=None, help="style from the profile (its prompt/trigger words prefix captions)")
    p.add_argument("--modes", default="live2diff", help=f"comma-separated: {', '.join(MODE_NAMES)}, or 'all'")
    p.add_argument("--max-frames", type=int, default=None, help="use at most this many frames per clip")
    p.add_argument("--size", default=None, help="WxH override of the profile's engine size (bilinear resize)")
    p.add_argument("--clip-model", default=None, help=f"CLIP image model id or folder (default {DEFAULT_CLIP_MODEL})")
    p.add_argument("--flow", choices=("auto", "raft", "farneback"), default="auto", help="optical flow for warp error")
    p.add_argument("--flow-on", choices=("input", "output"), default="input", help="which clip the flow is computed on")
    p.add_argument("--download", action="store_true", help="allow downloading the CLIP model")
    p.set_defaults(func=run)


def _size(spec: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 512x512 (width x height), got {spec!r}") from None
    if w % 8 or h % 8 or w <= 0 or h <= 0:
        raise ValueError(f"--size must be positive multiples of 8, got {spec!r}")
    return w, h


def run(args: argparse.Namespace) -> int:
    # heavy imports (torch, diffusers, transformers) when the command runs: the CLI stays instant
    from ..assembly import build_components, resolve_device
    from ..evaluation.clips import EvaluationInputError, discover_clips, read_captions
    from ..evaluation.flow import default_flow
    from ..evaluation.harness import evaluate
    from ..evaluation.modes import parse_modes
    from ..evaluation.report import write_report
    from ..evaluation.scores import MetricSuite
    from ..evaluation.structure import DepthStructureMetric
    from ..evaluation.temporal_clip import ClipTemporalMetric, load_clip_vision, tiny_clip_vision
    from ..evaluation.warp_error import WarpErrorMetric

    try:
        profile = load_profile(args.profile)
        style = profile.style(args.style)
        modes = parse_modes(args.modes)
        if args.size:
            width, height = _size(args.size)
            profile = profile.model_copy(update={"engine": profile.engine.model_copy(update={"width": width, "height": height})})
        clips = discover_clips(args.clips)
        captions = read_captions(args.captions)
    except (ProfileError, KeyError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    device, dtype = resolve_device(profile.engine.device, profile.engine.dtype)
    try:
        components = build_components(profile, style).to(device, dtype)
        if args.clip_model is None and profile.models.preset == "tiny":
            logger.warning("tiny preset: a RANDOM-WEIGHT tiny CLIP scores temporal smoothness (meaningless numbers); "
                           "pass --clip-model %s for real scores", DEFAULT_CLIP_MODEL)
            clip_model = tiny_clip_vision()
        else:
            clip_model = load_clip_vision(args.clip_model or DEFAULT_CLIP_MODEL, allow_download=args.download)
        flow = default_flow(args.flow, device)
    except (WeightsError, EvaluationInputError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2
    metrics = MetricSuite(
        DepthStructureMetric(components.depth, device),
        ClipTemporalMetric(clip_model.to(dtype), device),
        WarpErrorMetric(flow, args.flow_on),
    )
    prompts = {c.name: f"{style.prompt}, {captions[c.name]}" if c.name in captions else style.prompt for c in clips}
    unknown = sorted(set(captions) - set(prompts))
    if unknown:
        logger.warning("%s: captions for clips that are not there: %s", args.captions, unknown[:8])
    config = profile.stream_config(style)
    try:
        result = evaluate(clips, modes, components, config, metrics, prompts, device, dtype, args.max_frames)
    except EvaluationInputError as exc:
        logger.error("%s", exc)
        return 2
    result.settings = {
        "size": f"{config.width}x{config.height}", "t_index_list": list(config.t_index_list),
        "window": config.causal.window, "warmup": config.causal.warmup, "device": str(device), "dtype": str(dtype),
        "preset": profile.models.preset, "style": style.name, "random_weights": components.random_weights,
    }
    for path in write_report(result, args.out):
        print(path)
    print((args.out / "results.md").read_text(encoding="utf-8"))
    return 0
