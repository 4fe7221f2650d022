"""Which CLIP layer a ``clip_skip`` means (``text.py``'s docstring has the convention), without torch:
``check`` and ``import-config`` describe and validate it without loading a model library."""

from __future__ import annotations

TINY_TEXT_LAYERS = 3  # the tiny presets' CLIP encoder layers (clip_skip 1..3)


def from_authors_clip_skip(skip: int) -> int:
    """The Live2Diff configs' ``clip_skip`` (layers skipped after the last) -> ours (layer from the end)."""
    return skip + 1


def text_layer(clip_skip: int, layers: int) -> int:
    """The 1-based encoder layer ``clip_skip`` conditions on, for an encoder of ``layers`` layers."""
    if not 1 <= clip_skip <= layers:
        raise ValueError(
            f"clip_skip {clip_skip} is outside this text encoder's {layers} layers: expected 1 (the last layer) "
            f"to {layers} (the first); 2 = the penultimate"
        )
    return layers - clip_skip + 1


def describe_text_layer(clip_skip: int, layers: int | None) -> str:
    """'CLIP layer 10 of 12 (clip_skip 3, third from last)' or without the count when unknown."""
    from_end = {1: "the last", 2: "the penultimate"}.get(clip_skip, f"the {_ordinal(clip_skip)} from last")
    if layers is None:
        return f"{from_end} CLIP layer (clip_skip {clip_skip})"
    return f"CLIP layer {text_layer(clip_skip, layers)} of {layers}: {from_end} (clip_skip {clip_skip})"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
