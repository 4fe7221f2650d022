"""[models]: where the weights come from, and the style LoRAs with their live fader names."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator

from .base import Section


class LoraSection(Section):
    """One style LoRA (kohya LoRA/LoCon, LyCORIS LoHa/LoKr or diffusers/PEFT: docs/loras.md), merged as W + weight x ΔW."""

    path: str = Field(min_length=1)  # local file or Hub "owner/repo/file.safetensors"
    weight: float = Field(default=1.0, allow_inf_nan=False)
    name: str | None = Field(default=None, min_length=1)  # its live fader's name (`lora NAME W`); default: the file stem
    # "apply": the file's alpha / rank scale per layer (kohya's rule); "ignore": W + weight x up @ down, as the
    # Live2Diff authors' loader merges (import-config sets it for their styles; docs/authors.md)
    file_alpha: Literal["apply", "ignore"] = "apply"

    @property
    def fader_name(self) -> str:
        return self.name or PurePosixPath(self.path.replace("\\", "/")).stem


def unique_fader_names(loras: list[LoraSection] | None) -> list[LoraSection] | None:
    names = [lora.fader_name for lora in loras or []]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two LoRAs answer to the fader name(s) {twice}; give one a name = \"...\"")
    return loras


class ModelsSection(Section):
    """Where the weights come from: local paths or Hugging Face repo ids ("tiny" = random, offline).

    A Hub source is ``owner/name`` (the repo's standard files) or ``owner/name/file`` (one file).
    """

    preset: Literal["tiny", "live2diff"] = "tiny"
    base: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    live2diff: str = "Leoxing/Live2Diff/live2diff.ckpt"
    lcm_lora: str = "latent-consistency/lcm-lora-sdv1-5"
    vae: str = "madebyollin/taesd"
    depth: str = "Intel/dpt-hybrid-midas"  # HF DPT folder/repo, or MiDaS' original dpt_hybrid_384.pt
    style_checkpoint: str | None = None  # DreamBooth / civitai single-file SD1.5 checkpoint (LDM layout)
    loras: list[LoraSection] = Field(default_factory=list)
    _loras_unique = field_validator("loras")(unique_fader_names)
    allow_unsafe_pickle: bool = False  # True: fully unpickle .ckpt/.pt files torch's safe loader refuses (runs their code)
    auto_download: bool = True  # False: never download; missing files are an error listing them
    # Spatial SD UNet weights found inside live2diff.ckpt: "apply" (the authors' loader: over the base
    # UNet, a style checkpoint then replaces them) or "ignore" them (the base / style UNet as it is).
    live2diff_spatial: Literal["ignore", "apply"] = "apply"


def means_none(spec: str) -> bool:
    """A model source that says "no model": "" or "none" (any case)."""
    return spec.strip().lower() in ("", "none")
