"""What the loader reads of a profile's [models]: structural types, so weights/ imports nothing above it.

``config.ModelsSection`` and its ``LoraSection`` satisfy these Protocols (mypy checks it wherever
``assembly`` or a command hands one to the loader); tests may pass any object with these fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class LoraSource(Protocol):
    """One style LoRA: its file, its load weight and the name its live fader answers to."""

    @property
    def path(self) -> str: ...  # local file or Hub "owner/repo/file.safetensors"

    @property
    def weight(self) -> float: ...

    @property
    def fader_name(self) -> str: ...

    @property
    def file_alpha(self) -> str: ...  # "apply" the file's alpha / rank scale, or "ignore" it (the authors' merge)


class ModelSources(Protocol):
    """Where each component's weights come from (local paths or Hub sources), and how to load them."""

    @property
    def base(self) -> str: ...

    @property
    def live2diff(self) -> str: ...

    @property
    def lcm_lora(self) -> str: ...  # "" or "none": the base has LCM distilled in

    @property
    def vae(self) -> str: ...

    @property
    def depth(self) -> str: ...

    @property
    def style_checkpoint(self) -> str | None: ...

    @property
    def loras(self) -> Sequence[LoraSource]: ...

    @property
    def allow_unsafe_pickle(self) -> bool: ...

    @property
    def auto_download(self) -> bool: ...

    @property
    def live2diff_spatial(self) -> str: ...  # "ignore" | "apply" the spatial weights inside live2diff.ckpt
