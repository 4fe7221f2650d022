"""Checking a converted state dict against the model it is meant for: every key accounted for."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .errors import KeyMismatchError, preview

Shapes = Mapping[str, torch.Size | tuple[int, ...]]


def shapes_of(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in state.items()}


def check_keys(got: Shapes, expected: Shapes, what: str, path: object) -> None:
    """Raise one KeyMismatchError listing missing keys, unexpected keys and shape mismatches."""
    missing = set(expected) - set(got)
    unexpected = set(got) - set(expected)
    wrong = sorted(
        f"{k}: expected {tuple(expected[k])}, got {tuple(got[k])}"
        for k in set(got) & set(expected)
        if tuple(got[k]) != tuple(expected[k])
    )
    if not (missing or unexpected or wrong):
        return
    lines = [f"{path}: does not match the {what}:"]
    if missing:
        lines.append(f"  missing {len(missing)} keys: {preview(missing)}")
    if unexpected:
        lines.append(f"  unexpected {len(unexpected)} keys: {preview(unexpected)}")
    if wrong:
        lines.append(f"  {len(wrong)} shape mismatches: {wrong[:8]}{' ...' if len(wrong) > 8 else ''}")
    raise KeyMismatchError("\n".join(lines))


def normalize_clip_keys(state: Mapping[str, torch.Tensor], expected: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """CLIP keys as this transformers version names them.

    SD1.5's files (and LDM ``cond_stage_model.transformer.*``) say ``text_model.encoder...``; newer
    transformers models say ``encoder...``: the prefix is added or removed to match ``expected``.
    Older transformers also saved ``position_ids`` buffers that newer CLIP models do not keep.
    """
    prefix = "text_model."
    want_prefix = any(k.startswith(prefix) for k in expected)
    renamed = {}
    for key, value in state.items():
        if want_prefix and not key.startswith(prefix):
            key = prefix + key
        elif not want_prefix:
            key = key.removeprefix(prefix)
        renamed[key] = value
    return {k: v for k, v in renamed.items() if k in expected or not k.endswith("position_ids")}
