"""Transitions between styles on the same models: a timed crossfade or a fader held at a position.

``Transitions`` sits beside a ``Live2DiffStream`` (the ``FrameTranslator`` owns both) and sets the
stream's blend point before each frame:

- ``crossfade(b, frames, settle)``: from the style on air to ``b`` over ``frames`` input frames
  (one blend point per frame, the last one exactly ``b``). At the end the stream settles on ``b``:
  ``settle="rewarm"`` re-warms the sinks in ``b`` (the same call a cut makes, so from then on the
  output equals a cut-then-settled ``b`` bit for bit), ``settle="refresh"`` keeps the sinks and
  lets the rolling window refresh (no re-warm pass; the 8 sink frames keep the old style's pull).
- ``hold(a, b, t)``: a fader: the stream runs at position ``t`` until the next call; no settle.

Ends (prompt embeddings + noise source) are encoded once and kept in a small cache keyed by
(prompt, config), so a fader moving at 60 messages a second re-encodes nothing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Literal

import torch

from .blend import BlendEnd, Crossfade, blend_point, check_blendable
from .config import StreamConfig
from .noise import NoiseSource
from .stream import Live2DiffStream
from .text import PromptEncoder

logger = logging.getLogger(__name__)

Settle = Literal["rewarm", "refresh"]
SETTLES: tuple[Settle, ...] = ("rewarm", "refresh")
_ENDS_KEPT = 4


class Transitions:
    def __init__(self) -> None:
        self.fade: Crossfade | None = None
        self.settle: Settle = "rewarm"
        self.position: float | None = None  # a held fader position (None: no fader)
        self._ends: OrderedDict[tuple[str, StreamConfig], BlendEnd] = OrderedDict()

    def end(self, stream: Live2DiffStream, config: StreamConfig, prompt: str) -> BlendEnd:
        """The blend end of style (config, prompt) on ``stream``'s models (cached)."""
        key = (prompt, config)
        end = self._ends.get(key)
        if end is None:
            c = stream.components
            with torch.no_grad():
                embeds = PromptEncoder(c.tokenizer, c.text_encoder, config.clip_skip, config.prompt_template)(prompt)
            shape = (4, config.height // 8, config.width // 8)
            noise = NoiseSource(config.seed, config.noise_mode, shape, stream.device, stream.dtype)
            end = BlendEnd(config, prompt, embeds.to(stream.device, stream.dtype), noise)
            self._ends[key] = end
            while len(self._ends) > _ENDS_KEPT:
                self._ends.popitem(last=False)
        self._ends.move_to_end(key)
        return end

    def forget_ends(self) -> None:
        """The models changed (another set, a LoRA fader): cached embeddings are stale."""
        self._ends.clear()

    def start_crossfade(self, a: BlendEnd, b: BlendEnd, frames: int, settle: Settle) -> None:
        if settle not in SETTLES:
            raise ValueError(f"crossfade settle must be one of {SETTLES}, got {settle!r}")
        self.fade = Crossfade(a, b, frames)
        self.settle, self.position = settle, None
        logger.info("engine: crossfade %r -> %r over %d frames (settle: %s)", a.prompt, b.prompt, frames, settle)

    def hold(self, stream: Live2DiffStream, a: BlendEnd, b: BlendEnd, t: float) -> None:
        """Park the stream at position ``t`` between ``a`` and ``b`` (cancels a running crossfade)."""
        check_blendable(a.config, b.config)
        stream.set_blend(blend_point(a, b, t))
        self.fade, self.position = None, t

    def before_frame(self, stream: Live2DiffStream) -> None:
        """Move a running crossfade one frame on (called right before each push)."""
        if self.fade is not None:
            stream.set_blend(self.fade.advance())

    def finished(self) -> BlendEnd | None:
        """After a push: the end to settle on when the crossfade just reached it (then forgotten)."""
        if self.fade is None or not self.fade.done:
            return None
        b, self.fade = self.fade.b, None
        return b

    def cancel(self) -> None:
        self.fade, self.position = None, None
