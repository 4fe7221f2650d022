"""The official ``live2diff.ckpt`` (Leoxing/Live2Diff): AnimateDiff-v1 motion modules + depth adapter.

Conversion, in order:

1. unwrap ``state_dict`` (done by ``files.read_state_dict``) and strip a ``module.`` prefix;
2. drop keys containing ``grid`` (training-time buffers, not weights);
3. ``flow_conv_in.*`` -> the DepthAdapter (``conv_in`` / ``blocks.N`` / ``conv_out``);
4. ``*.motion_modules.*`` -> diffusers MotionAdapter names: drop ``.temporal_transformer``,
   ``attention_blocks.{0,1}`` -> ``attn{1,2}``, ``norms.{0,1}`` -> ``norm{1,2}``, ``ff_norm`` -> ``norm3``.
   ``pos_encoder.pe`` buffers (length 24 = AnimateDiff v1; 32 = v2/v3, refused) are *used*, as the
   authors' loader does: ``unet.load_state_dict(state_dict, strict=False)``
   (live2diff/animatediff/pipeline/pipeline_animatediff_depth.py, ``build_pipeline``) loads every
   buffer the file has, ``pe`` included. A table that differs from the sinusoid the model would
   compute is logged as a warning. diffusers holds one table per motion block, shared by attn1
   and attn2 (AnimateDiff one per attention block): a file whose two tables of one block differ
   is refused, since this engine cannot hold both. Without tables (a file converted before they
   were kept) the model's own sinusoid is used;
5. anything else that is a key of the SD1.5 UNet is a *spatial* weight, kept apart (``spatial``)
   for the loader: by default it applies them as the authors' loader does (over the base UNet,
   before a DreamBooth checkpoint replaces them: ``models.live2diff_spatial``); any other key is
   an error.

Every motion and depth key of the model must be present, with the right shape, or the load fails
with a list of what is missing / unexpected. ``convert`` stores the result as safetensors
(``motion_adapter.*``, ``motion_pe.*``, ``depth_adapter.*``, ``spatial.*``) with ``FORMAT`` in its metadata.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from diffusers import MotionAdapter
from diffusers.models.embeddings import SinusoidalPositionalEmbedding

from .errors import IncompatibleCheckpointError, KeyMismatchError, preview
from .files import StateDict, read_safetensors_metadata, read_state_dict, write_safetensors
from .keys import check_keys, shapes_of

logger = logging.getLogger(__name__)

FORMAT = "live2diff-broadcast/live2diff-v1"
MOTION_MAX_SEQ_LENGTH = 24
_PREFIXES = {"motion_adapter.": "motion", "motion_pe.": "pe", "depth_adapter.": "depth", "spatial.": "spatial"}
_PE_KEY = re.compile(r"^(?P<block>.+\.transformer_blocks\.\d+)\.attention_blocks\.(?P<attn>\d+)\.pos_encoder\.pe$")
_ANIMATEDIFF_RENAMES = (
    (".temporal_transformer.", "."),
    (".attention_blocks.0.", ".attn1."),
    (".attention_blocks.1.", ".attn2."),
    (".norms.0.", ".norm1."),
    (".norms.1.", ".norm2."),
    (".ff_norm.", ".norm3."),
)


@dataclass
class Live2DiffWeights:
    """Converted weights: diffusers MotionAdapter parameters, the positional tables (``pe``, diffusers
    buffer names ``*.transformer_blocks.N.pos_embed.pe``; empty: the model's own sinusoid),
    DepthAdapter keys, spatial UNet keys."""

    motion: StateDict
    depth: StateDict
    spatial: StateDict = field(default_factory=dict)
    pe_length: int = MOTION_MAX_SEQ_LENGTH
    pe: StateDict = field(default_factory=dict)

    def tensors(self) -> StateDict:
        out: StateDict = {}
        parts = (("motion_adapter.", self.motion), ("motion_pe.", self.pe), ("depth_adapter.", self.depth),
                 ("spatial.", self.spatial))
        for prefix, part in parts:
            out.update({prefix + k: v for k, v in part.items()})
        return out


def motion_adapter_config(unet_config: Mapping[str, Any], num_attention_heads: int = 8) -> dict[str, Any]:
    """The AnimateDiff-v1 MotionAdapter that fits a UNet config (heads do not change any shape)."""
    return dict(
        block_out_channels=tuple(unet_config["block_out_channels"]),
        motion_layers_per_block=int(unet_config["layers_per_block"]),
        motion_num_attention_heads=num_attention_heads,
        motion_norm_num_groups=int(unet_config["norm_num_groups"]),
        motion_max_seq_length=MOTION_MAX_SEQ_LENGTH,
        use_motion_mid_block=False,
    )


def expected_motion_shapes(adapter_config: Mapping[str, Any]) -> dict[str, torch.Size]:
    """MotionAdapter parameter shapes (meta tensors: no memory), without the ``pe`` buffers."""
    with init_empty_weights():
        adapter = MotionAdapter(**adapter_config)
    return {k: p.shape for k, p in adapter.named_parameters()}


def animatediff_to_diffusers(key: str) -> str:
    for old, new in _ANIMATEDIFF_RENAMES:
        key = key.replace(old, new)
    return key


def convert_live2diff_state_dict(
    raw: Mapping[str, torch.Tensor],
    path: str | Path,
    motion_shapes: Mapping[str, torch.Size],
    spatial_keys: Mapping[str, torch.Size] | None = None,
) -> Live2DiffWeights:
    """The official checkpoint's tensors -> Live2DiffWeights; raises listing every unaccounted key."""
    # 1.-2. prefixes and grid buffers
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    grid = [k for k in state if "grid" in k]
    for k in grid:
        del state[k]
    if grid:
        logger.debug("%s: dropped %d 'grid' keys", path, len(grid))
    mid = [k for k in state if k.startswith("mid_block.motion_modules.")]
    if mid:
        raise IncompatibleCheckpointError(
            f"{path}: has mid-block motion modules ({mid[0]} ...): an AnimateDiff v2/v3 motion module. "
            "Live2Diff needs its own checkpoint (AnimateDiff-v1 layout: down/up blocks only), "
            "Leoxing/Live2Diff/live2diff.ckpt"
        )
    # 3.-5. sort every key into depth / motion / spatial / unknown
    depth, motion, spatial, unknown = {}, {}, {}, []
    tables: dict[str, dict[str, torch.Tensor]] = {}  # diffusers pos_embed key -> {AnimateDiff key: table}
    for key, tensor in state.items():
        if key.startswith("flow_conv_in."):
            depth[key.removeprefix("flow_conv_in.")] = tensor
        elif ".motion_modules." in key:
            if key.endswith(".pe") and ".pos_encoder." in key:
                _check_pe(key, tensor, path, motion_shapes)
                tables.setdefault(_pe_target(key, path), {})[key] = tensor
                continue
            motion[animatediff_to_diffusers(key)] = tensor
        elif spatial_keys is not None and key in spatial_keys:
            spatial[key] = tensor
        else:
            unknown.append(key)
    if not motion:
        raise IncompatibleCheckpointError(
            f"{path}: no motion-module keys (*.motion_modules.*): not a Live2Diff checkpoint "
            f"(first keys: {preview(list(state)[:8])})"
        )
    if unknown:
        raise KeyMismatchError(
            f"{path}: {len(unknown)} keys are neither motion modules, the depth adapter (flow_conv_in.*) "
            f"nor SD1.5 UNet weights: {preview(unknown)}"
        )
    check_keys(shapes_of(motion), motion_shapes, "AnimateDiff-v1 motion modules (diffusers MotionAdapter)", path)
    check_depth_adapter(depth, path)
    if spatial:
        logger.warning("%s: also carries %d spatial SD1.5 UNet weights (see models.live2diff_spatial)", path, len(spatial))
    pe = positional_tables(tables, path)
    length = max((int(t.shape[1]) for t in pe.values()), default=MOTION_MAX_SEQ_LENGTH)
    return Live2DiffWeights(motion, depth, spatial, pe_length=length, pe=pe)


def _pe_target(key: str, path: object) -> str:
    """AnimateDiff ``...transformer_blocks.0.attention_blocks.i.pos_encoder.pe`` -> diffusers ``...pos_embed.pe``."""
    match = _PE_KEY.match(key.replace(".temporal_transformer.", "."))
    if match is None:
        raise KeyMismatchError(f"{path}: {key}: a positional table outside a transformer block's attention")
    return f"{match['block']}.pos_embed.pe"


def positional_tables(tables: Mapping[str, Mapping[str, torch.Tensor]], path: object) -> StateDict:
    """One table per motion block (the block's attention tables must agree); warns, once, when the
    checkpoint's tables are not the sinusoid the model would compute."""
    pe: StateDict = {}
    differ: list[tuple[str, float]] = []
    for target, found in tables.items():
        first_key, first = next(iter(found.items()))
        for key, table in found.items():
            if not torch.equal(table, first):
                raise IncompatibleCheckpointError(
                    f"{path}: {key} and {first_key} differ: this engine holds one positional table per motion "
                    "block, shared by its two temporal attentions (diffusers' MotionAdapter layout), so it cannot "
                    "run a checkpoint whose attentions use different tables"
                )
        pe[target] = first
        distance = sinusoid_distance(first)
        if distance > 4 * torch.finfo(first.dtype).eps:  # a few units in the last place of the file's dtype
            differ.append((target, distance))
    if differ:
        worst = max(d for _, d in differ)
        logger.warning(
            "%s: %d of %d positional tables (pos_encoder.pe) differ from the sinusoid (by up to %.3g, first %s); "
            "using the checkpoint's, as the authors' loader does", path, len(differ), len(pe), worst, differ[0][0],
        )
    return pe


def sinusoid_distance(table: torch.Tensor) -> float:
    """Max |table - sinusoid| for a (1, L, C) positional table, the sinusoid rounded to the table's dtype."""
    _, length, width = table.shape
    expected = SinusoidalPositionalEmbedding(int(width), int(length)).pe.to(table.dtype)
    return float((table.float() - expected.float()).abs().max())


def _check_pe(key: str, pe: torch.Tensor, path: object, motion_shapes: Mapping[str, torch.Size]) -> int:
    """A ``pos_encoder.pe`` buffer must be (1, 24, C) with C = its module's width."""
    if pe.ndim != 3 or pe.shape[0] != 1:
        raise IncompatibleCheckpointError(f"{path}: {key} has shape {tuple(pe.shape)}, expected (1, 24, C)")
    length = int(pe.shape[1])
    if length != MOTION_MAX_SEQ_LENGTH:
        hint = " (AnimateDiff v2/v3 use 32)" if length == 32 else ""
        raise IncompatibleCheckpointError(
            f"{path}: {key} has positional-encoding length {length}, expected {MOTION_MAX_SEQ_LENGTH} "
            f"(AnimateDiff v1, as Live2Diff was trained){hint}"
        )
    module = key.split(".transformer_blocks.")[0].replace(".temporal_transformer", "")
    width = motion_shapes.get(f"{module}.proj_in.weight")
    if width is not None and int(pe.shape[2]) != int(width[0]):
        raise IncompatibleCheckpointError(f"{path}: {key} has width {pe.shape[2]}, expected {width[0]}")
    return length


def check_depth_adapter(depth: Mapping[str, torch.Tensor], path: object) -> None:
    """conv_in, blocks.0..N-1, conv_out, each with weight + bias, channels chained."""
    if not depth:
        raise KeyMismatchError(f"{path}: no depth adapter keys (flow_conv_in.*): not a Live2Diff checkpoint")
    expected = _depth_adapter_shapes(depth, path)
    check_keys(shapes_of(depth), expected, "Live2Diff depth adapter (flow_conv_in)", path)


def depth_adapter_channels(depth: Mapping[str, torch.Tensor], path: object) -> tuple[int, ...]:
    """The hidden channel list read off the weights: conv_in's output, then each block's output."""
    if "conv_in.weight" not in depth:
        raise KeyMismatchError(f"{path}: depth adapter has no flow_conv_in.conv_in.weight")
    channels = [int(depth["conv_in.weight"].shape[0])]
    blocks = sorted(int(m.group(1)) for k in depth if (m := re.match(r"blocks\.(\d+)\.weight$", k)))
    if blocks != list(range(len(blocks))):
        raise KeyMismatchError(f"{path}: depth adapter blocks are not numbered 0..N-1: {blocks}")
    channels += [int(depth[f"blocks.{i}.weight"].shape[0]) for i in blocks]
    return tuple(channels)


def _depth_adapter_shapes(depth: Mapping[str, torch.Tensor], path: object) -> dict[str, tuple[int, ...]]:
    channels = depth_adapter_channels(depth, path)
    if "conv_out.weight" not in depth:
        raise KeyMismatchError(f"{path}: depth adapter has no flow_conv_in.conv_out.weight")
    in_channels = int(depth["conv_in.weight"].shape[1])
    out_channels = int(depth["conv_out.weight"].shape[0])
    shapes: dict[str, tuple[int, ...]] = {
        "conv_in.weight": (channels[0], in_channels, 3, 3),
        "conv_in.bias": (channels[0],),
        "conv_out.weight": (out_channels, channels[-1], 3, 3),
        "conv_out.bias": (out_channels,),
    }
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        shapes[f"blocks.{i}.weight"] = (c_out, c_in, 3, 3)
        shapes[f"blocks.{i}.bias"] = (c_out,)
    return shapes


def load_live2diff_weights(
    path: str | Path,
    motion_shapes: Mapping[str, torch.Size],
    spatial_keys: Mapping[str, torch.Size] | None = None,
    allow_unsafe_pickle: bool = False,
) -> Live2DiffWeights:
    """Load the official checkpoint (any format) or one written by ``save_converted``."""
    path = Path(path)
    raw = read_state_dict(path, allow_unsafe_pickle=allow_unsafe_pickle)
    if path.suffix == ".safetensors" and read_safetensors_metadata(path).get("format") == FORMAT:
        return _split_converted(raw, path, motion_shapes)
    return convert_live2diff_state_dict(raw, path, motion_shapes, spatial_keys)


def _split_converted(raw: StateDict, path: Path, motion_shapes: Mapping[str, torch.Size]) -> Live2DiffWeights:
    parts: dict[str, StateDict] = {"motion": {}, "pe": {}, "depth": {}, "spatial": {}}
    stray = []
    for key, tensor in raw.items():
        prefix = next((p for p in _PREFIXES if key.startswith(p)), None)
        if prefix is None:
            stray.append(key)
        else:
            parts[_PREFIXES[prefix]][key.removeprefix(prefix)] = tensor
    if stray:
        raise KeyMismatchError(f"{path}: unexpected keys in a converted Live2Diff file: {preview(stray)}")
    check_keys(shapes_of(parts["motion"]), motion_shapes, "AnimateDiff-v1 motion modules (diffusers MotionAdapter)", path)
    check_depth_adapter(parts["depth"], path)
    if not parts["pe"]:
        logger.info("%s: no positional tables (converted before they were kept): the model's sinusoid is used; "
                    "convert the original checkpoint again to run its own tables", path)
    length = max((int(t.shape[1]) for t in parts["pe"].values()), default=MOTION_MAX_SEQ_LENGTH)
    return Live2DiffWeights(parts["motion"], parts["depth"], parts["spatial"], pe_length=length, pe=parts["pe"])


def save_converted(weights: Live2DiffWeights, path: str | Path, source: str = "") -> Path:
    meta = {"format": FORMAT, "motion_max_seq_length": str(weights.pe_length), "source": source}
    return write_safetensors(weights.tensors(), path, meta)
