"""The engine's frame-level face: RGB uint8 frames in, translated RGB uint8 frames out.

Input frames are brought to the model's size under the resolution policy of ``media/resize.py``;
outputs are at the model's resolution and sinks scale them to their own.
"""

from __future__ import annotations

import logging
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


class FrameTranslator:
    """Owns one Live2DiffStream; speaks numpy frames."""

    def __init__(self, stream: Live2DiffStream, resize: ResizeMode = "crop", backend: BackendReport | None = None) -> None:
        self.stream, self.resize = stream, resize
        self.backend = backend or BackendReport(requested="pytorch")
        self.transitions = Transitions()

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

    def set_lora(self, name: str, weight: float) -> None:
        """A live LoRA weight. Style LoRAs are merged into the weights at load in this build, so there is no
        fader to move yet: KeyError saying so (the show goes on)."""
        raise KeyError(f"no LoRA fader named {name!r}: style LoRAs are merged at load in this build "
                       "(live LoRA faders are not available yet); change the profile's loras[].weight instead")

    def rewarm(self) -> list[tuple[int, np.ndarray]]:
        """Re-run warmup on the recent frames (same style); returns the frames it completed."""
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.rewarm()]


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
