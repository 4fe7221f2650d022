"""The engine's frame-level face: RGB uint8 frames in, translated RGB uint8 frames out.

Input frames are brought to the model's size under the resolution policy of ``resize.py``;
outputs are at the model's resolution and sinks scale them to their own.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..accel.backend import BackendReport, apply_backend
from ..config import Profile, StyleSection
from ..resize import ResizeMode, fit_frame
from .components import Live2DiffComponents, tiny_components
from .config import StreamConfig
from .stream import Live2DiffStream

logger = logging.getLogger(__name__)

def resolve_device(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """'auto' picks CUDA when present (fp16), else the CPU (fp32), and says so."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            logger.warning("no CUDA GPU found: the engine runs on the CPU (slow; fine for tests and tiny models)")
    dev = torch.device(device)
    if dtype == "auto":
        return dev, torch.float16 if dev.type == "cuda" else torch.float32
    return dev, getattr(torch, dtype)


def build_components(profile: Profile, style: StyleSection | None = None) -> Live2DiffComponents:
    """The model parts a profile names for ``style`` (its own checkpoint / LoRAs over [models]).
    ``tiny``: random weights, no download, meaningless output."""
    if profile.models.preset == "tiny":
        logger.warning(
            "models.preset = 'tiny': RANDOM-WEIGHT miniature models, no download. "
            "The output is MEANINGLESS noise patterns; set models.preset = 'live2diff' for real restyling."
        )
        return tiny_components()
    from ..weights.loader import LoadOptions, load_components  # heavy; only the real preset needs it

    hint = "live2diff-broadcast models --download --profile <this profile>"
    return load_components(profile.models_for(style), options=LoadOptions(download_hint=hint))


class FrameTranslator:
    """Owns one Live2DiffStream; speaks numpy frames."""

    def __init__(self, stream: Live2DiffStream, resize: ResizeMode = "crop", backend: BackendReport | None = None) -> None:
        self.stream, self.resize = stream, resize
        self.backend = backend or BackendReport(requested="pytorch")

    @property
    def active_backend(self) -> str:
        """The UNet backend actually running (telemetry): pytorch, compiled, onnxruntime or tensorrt."""
        return self.backend.active

    @property
    def backend_fallback_reason(self) -> str | None:
        """Why the requested backend is not running (None when it is)."""
        return self.backend.fallback_reason

    @classmethod
    def from_profile(cls, profile: Profile, style: StyleSection | None = None) -> FrameTranslator:
        style = style or profile.style()
        device, dtype = resolve_device(profile.engine.device, profile.engine.dtype)
        components = build_components(profile, style).to(device, dtype)
        stream = Live2DiffStream(components, profile.stream_config(style), device=device, dtype=dtype)
        stream.set_prompt(style.prompt)
        return cls(stream, backend=apply_backend(stream, profile.engine))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the model, and so of every output frame."""
        return self.stream.config.height, self.stream.config.width

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """RGB uint8 (H, W, 3) -> [(input frame index, RGB uint8 (height, width, 3)), ...]."""
        height, width = self.size
        fitted = fit_frame(frame, height, width, self.resize)
        image = torch.from_numpy(fitted).permute(2, 0, 1).float().div_(255)  # (3, H, W)
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.push(image)]

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Outputs of the frames still in the pipeline (end of input)."""
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.flush()]

    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]:
        """Switch the prompt and re-warm the sinks; returns frames the re-warm completed."""
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
        else:
            self.stream.reconfigure(config)
        self.stream.set_prompt(prompt)
        return self.rewarm()

    def rewarm(self) -> list[tuple[int, np.ndarray]]:
        """Re-run warmup on the recent frames (same style); returns the frames it completed."""
        return [(out.frame, _to_uint8(out.image)) for out in self.stream.rewarm()]


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
