"""``convert``: turn checkpoints into fast, safe files once (``.safetensors`` / a transformers folder).

* ``convert live2diff live2diff.ckpt live2diff.safetensors``: the official checkpoint, checked key by key
  and renamed to diffusers MotionAdapter + depth adapter names (its positional tables and any spatial
  UNet weights kept); later loads skip the conversion.
* ``convert midas dpt_hybrid_384.pt OUT_DIR``: MiDaS' original DPT-Hybrid to a transformers folder.
* ``convert pickle IN.ckpt OUT.safetensors``: any tensor pickle (a style checkpoint, a LoRA) re-saved.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..weights.errors import WeightsError

logger = logging.getLogger(__name__)

# Stable Diffusion 1.5's UNet config, for converting without the base model on disk.
SD15_UNET_CONFIG = {
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "norm_num_groups": 32,
    "cross_attention_dim": 768, "attention_head_dim": 8, "sample_size": 64,
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint once into a fast, safe format")
    kinds = p.add_subparsers(dest="kind", required=True)
    l2d = kinds.add_parser("live2diff", help="official live2diff.ckpt -> checked, renamed .safetensors")
    l2d.add_argument("--unet-config", type=Path, default=None, help="base unet/config.json (default: SD1.5's)")
    midas = kinds.add_parser("midas", help="original MiDaS dpt_hybrid_384.pt -> transformers DPT folder")
    pick = kinds.add_parser("pickle", help="any tensor pickle (.ckpt/.pt/.bin) -> .safetensors")
    for k in (l2d, midas, pick):
        k.add_argument("input", type=Path)
        k.add_argument("output", type=Path)
        k.add_argument("--allow-unsafe-pickle", action="store_true",
                       help="fully unpickle a file torch's safe loader refuses (RUNS CODE FROM THE FILE: trusted files only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # heavy imports (torch) when the command runs: the CLI itself stays instant (tests/test_cli.py)
    from ..weights.denoiser import expected_unet_shapes
    from ..weights.files import read_state_dict, write_safetensors
    from ..weights.live2diff_ckpt import (
        expected_motion_shapes,
        load_live2diff_weights,
        motion_adapter_config,
        save_converted,
    )
    from ..weights.loader import read_json
    from ..weights.midas import dpt_from_state_dict

    try:
        if args.kind == "live2diff":
            config = read_json(args.unet_config) if args.unet_config else SD15_UNET_CONFIG
            shapes = expected_motion_shapes(motion_adapter_config(config))
            weights = load_live2diff_weights(args.input, shapes, expected_unet_shapes(config), args.allow_unsafe_pickle)
            save_converted(weights, args.output, source=args.input.name)
        elif args.kind == "midas":
            model = dpt_from_state_dict(read_state_dict(args.input, args.allow_unsafe_pickle), args.input)
            model.save_pretrained(str(args.output))
        else:
            state = read_state_dict(args.input, args.allow_unsafe_pickle)
            write_safetensors(state, args.output, {"source": args.input.name})
    except WeightsError as exc:
        logger.error("%s", exc)
        return 2
    print(f"wrote {args.output}")
    return 0
