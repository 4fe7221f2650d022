"""What each style of a profile runs, for ``check``: its denoising steps, the CLIP text layer its
``clip_skip`` picks (counted against the base's text encoder when it is on disk), and the depth
prior's preprocessing. A ``clip_skip`` beyond the encoder's layers is a problem naming the field."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..config import Profile, StyleSection
from ..engine.text_layers import TINY_TEXT_LAYERS, describe_text_layer, text_layer
from ..weights.requirements import requirement
from ..weights.store import Located, ModelStore

DEPTH_RESIZE = {
    "squash": "squashed to the depth model's square input (bilinear, the authors')",
    "letterbox": "letterboxed to a square (bicubic, no distortion)",
}
DEPTH_NORMALISE = {
    "warmup_joint": "warmup frames normalised jointly (the authors')",
    "per_frame": "every frame normalised on its own",
}


@dataclass(frozen=True)
class StyleRun:
    steps: tuple[int, ...]
    text: str  # e.g. "CLIP layer 10 of 12: the 3rd from last (clip_skip 3)"
    depth: str
    problem: str | None = None  # a setting these models cannot run, naming its field

    def lines(self) -> list[str]:
        n = len(self.steps)
        return [
            f"steps {list(self.steps)} ({n} per frame, {n - 1} frame(s) of latency)",
            f"text: {self.text}",
            f"depth: {self.depth}",
        ]


def style_run(profile: Profile, style: StyleSection, store: ModelStore | None) -> StyleRun:
    """``store`` None: the text encoder's layer count is not looked up (unless the preset is tiny)."""
    e = profile.engine
    depth = f"{DEPTH_RESIZE[e.depth_resize]}, {DEPTH_NORMALISE[e.depth_normalise]}"
    clip_skip = profile.clip_skip(style)
    layers = text_layers(profile, style, store)
    problem = None
    if layers is not None:
        try:
            text_layer(clip_skip, layers)
        except ValueError as exc:
            where = f"styles[{profile.styles.index(style)}].clip_skip" if style.clip_skip is not None else "engine.clip_skip"
            problem = f"{where}: {exc}"
            return StyleRun(profile.t_index_list(style), f"clip_skip {clip_skip}: INVALID", depth, problem)
    return StyleRun(profile.t_index_list(style), describe_text_layer(clip_skip, layers), depth, problem)


def text_layers(profile: Profile, style: StyleSection, store: ModelStore | None) -> int | None:
    """The layer count of the CLIP encoder ``style`` runs: the tiny preset's, or its base's
    text_encoder/config.json when present; None when unknown."""
    if profile.models.preset == "tiny":
        return TINY_TEXT_LAYERS
    if store is None:
        return None
    found = store.locate(requirement("base", profile.models_for(style).base))
    if not isinstance(found, Located):
        return None
    try:
        layers = json.loads(found.file("text_encoder/config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return layers if isinstance(layers, int) and layers > 0 else None
