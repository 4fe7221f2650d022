"""Model assembly: from a show profile to a running translator, above engine/, weights/ and accel/.

The engine package knows tensors and streams, not profiles; weights/ knows files; accel/ knows
backends. This module is where a profile's choices meet all three:

1. ``resolve_device``: 'auto' picks CUDA (fp16) or the CPU (fp32), and says so;
2. ``build_components``: the models a style runs on (random tiny ones, or loaded weights);
3. ``translator_from_profile``: components -> ``Live2DiffStream`` -> backend -> ``FrameTranslator``;
4. ``build_translator`` / ``build_switcher``: what the engine process runs (or the identity stand-in).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from .accel.backend import apply_backend
from .config import ModelsSection, Profile, StyleSection
from .engine.components import Live2DiffComponents, tiny_components
from .engine.stream import Live2DiffStream
from .engine.style_switch import StyleSwitcher
from .engine.translator import FrameTranslator, IdentityTranslator, ModelKind, Translator

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = "live2diff-broadcast models --download --profile <this profile>"


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
    from .weights.loader import LoadOptions, load_components  # heavy; only the real preset needs it

    return load_components(profile.models_for(style), options=LoadOptions(download_hint=DOWNLOAD_HINT))


def translator_from_profile(profile: Profile, style: StyleSection | None = None) -> FrameTranslator:
    """The live streaming path for ``style`` (default: the first): models on their device, prompt set,
    the profile's backend applied (with a loud fallback)."""
    style = style or profile.style()
    device, dtype = resolve_device(profile.engine.device, profile.engine.dtype)
    components = build_components(profile, style).to(device, dtype)
    stream = Live2DiffStream(components, profile.stream_config(style), device=device, dtype=dtype)
    stream.set_prompt(style.prompt)
    return FrameTranslator(stream, backend=apply_backend(stream, profile.engine))


def build_translator(profile: Profile, style: str | None, model: ModelKind) -> Translator:
    """What the engine process runs: the diffusion translator in ``style``'s own models, or the identity."""
    if model == "passthrough":
        logger.warning("engine model = 'passthrough': frames are NOT restyled (identity stand-in)")
        return IdentityTranslator(profile.engine.height, profile.engine.width)
    chosen = profile.style(style)
    if profile.models.preset != "tiny":  # the style's own base / checkpoint / LoRAs from the start
        profile = profile.model_copy(update={"models": profile.models_for(chosen)})
    return translator_from_profile(profile, chosen)


def build_switcher(translator: Translator, initial_models: dict[str, Any], model: ModelKind, cache_size: int) -> StyleSwitcher:
    """The StyleSwitcher for ``translator``; its loader builds another style's models."""
    if model == "passthrough":
        return StyleSwitcher(translator, _no_models, initial_models, cache_size=0)  # same weights: switches need no load
    return StyleSwitcher(translator, load_style_models, initial_models, cache_size=cache_size)


def _no_models(models: dict[str, Any], current: Any) -> Any:
    raise RuntimeError("the passthrough engine has no models to load")


def load_style_models(models: dict[str, Any], current: Any) -> Any:
    """Another style's UNet + text encoder (checkpoint / LoRAs), sharing ``current``'s other parts; on its device."""
    from .weights.loader import LoadOptions, load_style

    section = ModelsSection(**models)
    if section.preset == "tiny":
        raise ValueError("per-style models need models.preset = 'live2diff' (the tiny preset has no weight files)")
    parameter = next(current.unet.parameters())
    loaded = load_style(current, section, options=LoadOptions(download_hint=DOWNLOAD_HINT))
    return loaded.to(parameter.device, parameter.dtype)
