"""Which files one model source needs, wherever it comes from (a local path, a repo, a repo file).

Pure rules, no profile types: the profile schema validates its model fields with them, and
``manifest.py`` applies them to a whole [models] section.
"""

from __future__ import annotations

from dataclasses import dataclass

from .source import Source, parse_source

# Each inner tuple lists alternatives for one needed file; the first one present wins.
FileNeeds = tuple[tuple[str, ...], ...]

SD15_FILES: FileNeeds = (
    ("unet/config.json",),
    ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin"),
    ("text_encoder/config.json",),
    ("text_encoder/model.safetensors", "text_encoder/pytorch_model.bin"),
    ("tokenizer/vocab.json", "tokenizer/tokenizer.json"),  # the SD1.5 repo has vocab + merges
    ("tokenizer/merges.txt", "tokenizer/tokenizer.json"),  # a tokenizer saved by transformers 5: tokenizer.json
    ("tokenizer/tokenizer_config.json",),
)
TAESD_FILES: FileNeeds = (
    ("config.json",),
    ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
)
DPT_FILES: FileNeeds = (("config.json",), ("model.safetensors", "pytorch_model.bin"))
LCM_LORA_FILES: FileNeeds = (("pytorch_lora_weights.safetensors",),)

# What a bare repo id (no file named) means for each component.
REPO_DEFAULTS: dict[str, FileNeeds] = {
    "base": SD15_FILES,
    "vae": TAESD_FILES,
    "depth": DPT_FILES,
    "lcm_lora": LCM_LORA_FILES,
    "live2diff": (("live2diff.ckpt",),),
}


@dataclass(frozen=True)
class Requirement:
    """One component: its source and, for a directory or a bare repo, the files it must hold."""

    component: str  # "base", "lcm_lora", "vae", "live2diff", "depth", "style", "lora:<i>"
    source: Source
    needs: FileNeeds  # empty: the source is one file (a local file, or a repo file named in the spec)

    @property
    def single_file(self) -> bool:
        return not self.needs


def requirement(component: str, spec: str, kind: str | None = None) -> Requirement:
    """The requirement for ``spec``; ``kind`` picks the default file list (defaults to ``component``)."""
    source = parse_source(spec)
    defaults = REPO_DEFAULTS.get(kind or component, ())
    if source.local is not None:
        needs = defaults if source.local.is_dir() or (not source.local.suffix and defaults) else ()
    else:
        needs = () if source.filename else defaults
        if not needs and not source.filename:
            raise ValueError(f"models.{component} = {spec!r}: name a file in the repo, e.g. {spec}/model.safetensors")
    return Requirement(component, source, needs)
