"""``train DATA``: one training stage of Live2Diff's temporal modules (paper Sec. 3.5).

Single process: ``live2diff-broadcast train ...``. Several GPUs / machines:
``accelerate launch [--multi_gpu --num_processes N | --config_file fsdp.yaml] scripts/train.py train ...``
(see docs/training.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import ProfileError, load_profile
from ..training.config import TrainConfig
from ..weights.errors import WeightsError

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the temporal modules (stage 1) or them + the depth prior (stage 2)",
        description="Stage 1: AnimateDiff-initialised motion modules fine-tuned with the uni-directional "
        "warmup mask. Stage 2: + depth prior (last layer zero-initialised), trained jointly. Run under "
        "`accelerate launch` for several GPUs or machines.",
    )
    d = TrainConfig(data=Path("."), output=Path("."))
    p.add_argument("data", type=Path, help="folder of videos or frame folders (DAVIS layout works)")
    p.add_argument("--output", type=Path, default=Path("train_out"), help="checkpoints and exported weights")
    p.add_argument("--profile", type=Path, default=None, help="profile naming the models (default: tiny preset)")
    p.add_argument("--captions", type=Path, default=None, help="JSON {clip: caption} or 'clip<TAB>caption' lines")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--motion-init", type=Path, default=None, help="AnimateDiff-v1 motion module (e.g. mm_sd_v15.ckpt)")
    p.add_argument("--init", type=Path, default=None, help="live2diff-layout file to start from (stage 2: stage 1's export)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoints/step-N folder, or 'latest'")
    p.add_argument("--window", type=int, default=d.window)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--size", default="512x512", help="WxH of the training frames")
    p.add_argument("--chunk-stride", type=int, default=d.chunk_stride)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="chunks per process per micro-batch")
    p.add_argument("--grad-accumulation", type=int, default=d.grad_accumulation)
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--max-grad-norm", type=float, default=d.max_grad_norm)
    p.add_argument("--precision", choices=("no", "fp16", "bf16", "fp64"), default=d.precision,
                   help="mixed precision on GPU (fp16/bf16); fp64 for exactness checks")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--export-format", choices=("safetensors", "ckpt"), default=d.export_format)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # heavy imports (torch, diffusers) when the command runs: the CLI itself stays instant (tests/test_cli.py)
    from ..assembly import build_components
    from ..training.data import TrainingDataError
    from ..training.trainer import Trainer

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        config = TrainConfig(
            data=args.data, output=args.output, stage=args.stage, window=args.window, warmup=args.warmup,
            height=height, width=width, chunk_stride=args.chunk_stride, batch_size=args.batch_size,
            grad_accumulation=args.grad_accumulation, max_steps=args.max_steps, learning_rate=args.lr,
            max_grad_norm=args.max_grad_norm, precision=args.precision, seed=args.seed,
            checkpoint_every=args.checkpoint_every, num_workers=args.num_workers, export_format=args.export_format,
        )
        profile = load_profile(args.profile)
        components = build_components(profile)
    except (ProfileError, ValueError, WeightsError) as exc:
        logger.error("%s", exc)
        return 2
    try:
        result = Trainer(config, components, args.captions, args.motion_init, args.init).run(args.resume)
    except (TrainingDataError, WeightsError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2
    if result.exported is not None:
        first, last = (result.losses[0], result.losses[-1]) if result.losses else (float("nan"), float("nan"))
        print(f"step {result.step}: loss {first:.4f} -> {last:.4f}, {result.seconds_per_step:.3f} s/step; "
              f"weights: {result.exported}")
    return 0
