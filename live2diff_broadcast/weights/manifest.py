"""Which files each component of a profile's [models] needs (``requirements.py`` has the rules)."""

from __future__ import annotations

from .model_sources import ModelSources
from .requirements import Requirement, requirement


def profile_requirements(models: ModelSources) -> list[Requirement]:
    """Every component the 'live2diff' preset loads for these settings, in load order."""
    reqs = [requirement("base", models.base)]
    if lcm_lora_enabled(models):
        reqs.append(requirement("lcm_lora", models.lcm_lora))
    reqs += [
        requirement("vae", models.vae),
        requirement("live2diff", models.live2diff),
        requirement("depth", models.depth),
    ]
    if models.style_checkpoint:
        reqs.append(requirement("style", models.style_checkpoint))
    for i, lora in enumerate(models.loras):
        reqs.append(requirement(f"lora:{i}", lora.path, kind="lora"))
    return reqs


def lcm_lora_enabled(models: ModelSources) -> bool:
    """``lcm_lora = ""`` (or "none") for a base that already has LCM distilled in."""
    return models.lcm_lora.strip().lower() not in ("", "none")
