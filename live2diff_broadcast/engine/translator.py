"""The engine's frame-level face: RGB uint8 frames in, translated RGB uint8 frames out.

Input frames are brought to the model's size under the resolution policy of ``media/resize.py``;
outputs are at the model's resolution and sinks scale them to their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
import torch

from ..media.resize import ResizeMode, fit_frame
from .backend_report import BackendReport
from .components import Live2DiffComponents
from .config import StreamConfig
from .stream import Live2DiffStream
from .transitions import Settle, Transitions

logger = logging.getLogger(__name__)

_FIXED_WEIGHT_BACKENDS = ("onnxruntime", "tensorrt")  # engines built with their weights baked in

ModelKind = Literal["diffusion", "passthrough"]  # "passthrough": IdentityTranslator (transport benchmarks, tests)


class Translator(Protocol):
    """What the engine process drives: frames in, ``(input index, frame)`` out, style changes between frames."""

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]: ...
    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]: ...
    def set_style(self, config: StreamConfig, prompt: str, components: Any = None) -> list[tuple[int, np.ndarray]]: ...
    def rewarm(self) -> list[tuple[int, np.ndarray]]: ...
    def crossfade(self, config: StreamConfig, prompt: str, frames: int, settle: Settle = "rewarm") -> None: ...
    def blend(self, a: tuple[StreamConfig, str], b: tuple[StreamConfig, str], t: float) -> None: ...
    def set_lora(self, name: str, weight: float) -> None: ...
    @property
    def lora_weights(self) -> dict[str, float]: ...  # the LoRA faders of the models on air
    def reset(self) -> None: ...
    def flush(self) -> list[tuple[int, np.ndarray]]: ...
    @property
    def last_emitted(self) -> int: ...
    @property
    def components(self) -> Any: ...
    @property
    def active_backend(self) -> str: ...  # telemetry: the UNet backend actually running
    @property
    def backend_fallback_reason(self) -> str | None: ...  # why not the requested one (None: it is)
    def on_progress(self, callback: Callable[[str], None]) -> None: ...  # after every stage of the frame path


class IdentityTranslator:
    """A stand-in model: every input comes straight back (no warmup), cropped to ``size``."""

    def __init__(self, height: int, width: int) -> None:
        self.size = (height, width)
        self.count = 0

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        index, self.count = self.count, self.count + 1
        if frame.shape[:2] != self.size:
            frame = fit_frame(frame, *self.size)
        return [(index, frame)]

    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]:
        return []

    def set_style(self, config: StreamConfig, prompt: str, components: Any = None) -> list[tuple[int, np.ndarray]]:
        return []

    def rewarm(self) -> list[tuple[int, np.ndarray]]:
        return []

    def crossfade(self, config: StreamConfig, prompt: str, frames: int, settle: Settle = "rewarm") -> None:
        pass

    def blend(self, a: tuple[StreamConfig, str], b: tuple[StreamConfig, str], t: float) -> None:
        pass

    def set_lora(self, name: str, weight: float) -> None:
        raise KeyError(f"the passthrough engine has no LoRAs (asked for {name!r})")

    @property
    def lora_weights(self) -> dict[str, float]:
        return {}

    @property
    def last_emitted(self) -> int:
        return self.count - 1

    @property
    def components(self) -> Any:
        return None

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return []

    def reset(self) -> None:
        pass

    @property
    def active_backend(self) -> str:
        return "passthrough"

    @property
    def backend_fallback_reason(self) -> str | None:
        return None

    def on_progress(self, callback: Callable[[str], None]) -> None:
        pass  # no stages: every frame comes straight back


class FrameTranslator:
    """Owns one Live2DiffStream; speaks numpy frames."""

    def __init__(self, stream: Live2DiffStream, resize: ResizeMode = "crop", backend: BackendReport | None = None) -> None:
        self.stream, self.resize = stream, resize
        self.backend = backend or BackendReport(requested="pytorch")
        self.transitions = Transitions()
        self._held: tuple[tuple[StreamConfig, str], tuple[StreamConfig, str], float] | None = None
        self._on_progress: Callable[[str], None] | None = None

    def on_progress(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(stage)`` after every stage of the frame path (depth, encode, unet, decode), in
        frames, warmups and re-warms alike, on this stream and every stream a style switch moves to: the
        engine process's progress for its watchdog."""
        self._on_progress = callback
        self.stream.timer.on_stage = callback

    @property
    def active_backend(self) -> str:
        """The UNet backend actually running (telemetry): pytorch, compiled, onnxruntime or tensorrt."""
        return self.backend.active

    @property
    def backend_fallback_reason(self) -> str | None:
        """Why the requested backend is not running (None when it is)."""
        return self.backend.fallback_reason

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the model, and so of every output frame."""
        return self.stream.config.height, self.stream.config.width

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """RGB uint8 (H, W, 3) -> [(input frame index, RGB uint8 (height, width, 3)), ...]."""
        height, width = self.size
        fitted = fit_frame(frame, height, width, self.resize)
        image = torch.from_numpy(fitted).permute(2, 0, 1).float().div_(255)  # (3, H, W)
        self._apply_lora_faders()
        self.transitions.before_frame(self.stream)
        outputs = [(out.frame, _to_uint8(out.image)) for out in self.stream.push(image)]
        end = self.transitions.finished()
        if end is not None:  # the crossfade reached B on this frame: settle on it
            if self.transitions.settle == "rewarm":
                outputs += self.set_style(end.config, end.prompt)
            else:
                self.stream.adopt(end)
            logger.info("engine: crossfade done, on %r (%s)", end.prompt, self.transitions.settle)
        return outputs

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Outputs of the frames still in the pipeline (end of input)."""
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.flush()]

    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]:
        """Switch the prompt and re-warm the sinks; returns frames the re-warm completed."""
        self.transitions.cancel()
        self.stream.set_prompt(prompt)
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.rewarm()]

    def reset(self) -> None:
        self.stream.reset()

    # --- live style switching (engine/style_switch.py drives these) ------------------------------

    @property
    def last_emitted(self) -> int:
        """Input index of the last output returned (-1: none yet); outputs only ever go up from it."""
        return self.stream.last_emitted

    @property
    def components(self) -> Live2DiffComponents:
        return self.stream.components

    def set_style(
        self, config: StreamConfig, prompt: str, components: Live2DiffComponents | None = None
    ) -> list[tuple[int, np.ndarray]]:
        """Switch style with no gap; returns the frames the re-warm completed (the ones that were in flight).

        Same components: the stream's settings change in place (``reconfigure``: seed, noise mode,
        template, steps / strength). Other components (another base / checkpoint / LoRA set, already
        loaded): a new stream on them takes over the old one's position and recent frames. Either
        way the prompt is encoded and the sinks of every step's cache are re-warmed on the last
        ``warmup`` input frames, so the old style's K/V no longer pull the output back.
        """
        if components is not None and components is not self.stream.components:
            if self.backend.active != "pytorch":  # engines are built for the profile's own weights
                self.backend.fall_back(f"style with other models ({self.backend.active} engines hold the profile's "
                                       "own weights)", "its UNet runs eagerly")
                self.backend.active = "pytorch"
            self.stream = self.stream.continue_on(components, config)
            self.stream.timer.on_stage = self._on_progress
            self.transitions.forget_ends()
        else:
            self.stream.reconfigure(config)
        self.transitions.cancel()
        self.stream.set_prompt(prompt)
        return self.rewarm()

    def crossfade(self, config: StreamConfig, prompt: str, frames: int, settle: Settle = "rewarm") -> None:
        """Glide from the style on air to (config, prompt) over the next ``frames`` input frames, then
        settle on it (``engine/transitions.py``); ValueError when the two cannot blend (another step
        count or resolution): the caller cuts instead."""
        a = self.transitions.end(self.stream, self.stream.config, self.stream.prompt)
        b = self.transitions.end(self.stream, config, prompt)
        if self.transitions.position is not None or self.transitions.fade is not None:
            logger.warning("engine: crossfade starts from the settled style %r, not from the fader/crossfade "
                           "position it interrupts", self.stream.prompt)
        self.transitions.start_crossfade(a, b, frames, settle)

    def blend(self, a: tuple[StreamConfig, str], b: tuple[StreamConfig, str], t: float) -> None:
        """Hold the stream at position ``t`` between styles ``a`` and ``b`` ((config, prompt) pairs on the
        models on air) until the next call; no re-warm (a fader moves continuously)."""
        end_a = self.transitions.end(self.stream, *a)
        end_b = self.transitions.end(self.stream, *b)
        self.transitions.hold(self.stream, end_a, end_b, t)
        self._held = (a, b, t)

    def set_lora(self, name: str, weight: float) -> None:
        """Move the live fader of style LoRA ``name`` (its name or position) to ``weight`` in [0, 1]; it
        takes effect on the next frame (weights/lora_faders.py), no reload and no re-warm: the window
        refreshes as frames go by, and ``rewarm`` refreshes the sinks too. KeyError (no such LoRA) or
        ValueError (bad weight, or a backend whose engines hold fixed weights): the show goes on."""
        faders = self.stream.components.loras
        if faders is None:
            raise KeyError(f"no LoRA fader named {name!r}: the models on air load no style LoRAs "
                           "(add them under [models] loras or the style's loras)")
        if self.backend.active in _FIXED_WEIGHT_BACKENDS:
            raise ValueError(f"LoRA faders need the pytorch or compiled backend: the {self.backend.active} engines "
                             "hold the weights they were built with (a changed loras[].weight in the profile is "
                             "refitted into a cached TensorRT engine at the next start, not rebuilt)")
        faders.move(name, weight)

    @property
    def lora_weights(self) -> dict[str, float]:
        """{name: weight} of the style LoRAs' faders on the models on air (moves not yet applied included)."""
        faders = self.stream.components.loras
        return {} if faders is None else faders.weights

    def _apply_lora_faders(self) -> None:
        """Faders moved since the last frame: recompute the weights once; new prompt embeddings when the
        text encoder changed (the held blend, if any, is re-placed with them)."""
        faders = self.stream.components.loras
        if faders is None or not faders.pending:
            return
        if "text_encoder" not in faders.apply():
            return
        self.transitions.forget_ends()
        if self.stream.text_embeds is not None:
            self.stream.set_prompt(self.stream.prompt)
        if self._held is not None and self.transitions.position is not None:
            self.blend(*self._held)

    def rewarm(self) -> list[tuple[int, np.ndarray]]:
        """Re-run warmup on the recent frames (same style, LoRA faders as set); returns the frames it completed."""
        self._apply_lora_faders()
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.rewarm()]


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
