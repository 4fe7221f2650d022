"""Show profiles: one TOML file per show, validated at the edge.

A profile names the models, the engine settings, the styles, the source and the sink. Every
section rejects unknown keys. Environment variables override fields:
``LIVE2DIFF_ENGINE__DEVICE=cpu`` sets ``engine.device``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .engine.config import CausalWindow, StreamConfig


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSection(_Section):
    """One style LoRA (kohya or diffusers/PEFT format), merged with ``weight`` x alpha/rank."""

    path: str  # local file or Hub "owner/repo/file.safetensors"
    weight: float = 1.0


class ModelsSection(_Section):
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
    allow_unsafe_pickle: bool = False  # True: fully unpickle .ckpt/.pt files torch's safe loader refuses (runs their code)
    auto_download: bool = True  # False: never download; missing files are an error listing them
    # Spatial SD weights found inside live2diff.ckpt: "ignore" (base/style UNet wins) or "apply" them.
    live2diff_spatial: Literal["ignore", "apply"] = "ignore"


class EngineSection(_Section):
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    width: int = Field(512, ge=64, le=2048, multiple_of=8)
    height: int = Field(512, ge=64, le=2048, multiple_of=8)
    t_index_list: list[int] = Field(default_factory=lambda: [30, 40], min_length=1)
    window: int = Field(16, ge=2)
    warmup: int = Field(8, ge=1)
    clip_skip: int = Field(2, ge=1)
    backend: Literal["pytorch"] = "pytorch"

    @model_validator(mode="after")
    def _window_holds_warmup(self) -> EngineSection:
        if self.window <= self.warmup:
            raise ValueError(f"window ({self.window}) must be greater than warmup ({self.warmup})")
        return self


class StyleSection(_Section):
    name: str
    prompt: str
    prompt_template: str = "{}"
    seed: int = 42
    noise_mode: Literal["per_frame", "fixed"] = "per_frame"
    t_index_list: list[int] | None = None  # overrides engine.t_index_list for this style

    @field_validator("prompt_template")
    @classmethod
    def _template_has_slot(cls, v: str) -> str:
        if "{}" not in v:
            raise ValueError(f"prompt_template must contain '{{}}' where the prompt goes, got {v!r}")
        return v


class PluginSection(_Section):
    plugin: str
    settings: dict[str, Any] = Field(default_factory=dict)


class Profile(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVE2DIFF_", env_nested_delimiter="__", extra="forbid")

    name: str = "default"
    models: ModelsSection = Field(default_factory=ModelsSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    styles: list[StyleSection] = Field(
        default_factory=lambda: [StyleSection(name="default", prompt="a cartoon style portrait")], min_length=1
    )
    default_style: str | None = None
    source: PluginSection = Field(default_factory=lambda: PluginSection(plugin="test_pattern"))
    sink: PluginSection = Field(default_factory=lambda: PluginSection(plugin="file", settings={"path": "live2diff_out.mp4"}))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # environment overrides the file

    @model_validator(mode="after")
    def _styles_consistent(self) -> Profile:
        names = [s.name for s in self.styles]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"style names must be unique, repeated: {dupes}")
        if self.default_style is not None and self.default_style not in names:
            raise ValueError(f"default_style {self.default_style!r} is not one of the styles {names}")
        return self

    def style(self, name: str | None = None) -> StyleSection:
        wanted = name or self.default_style or self.styles[0].name
        for style in self.styles:
            if style.name == wanted:
                return style
        raise KeyError(f"no style named {wanted!r}; styles: {[s.name for s in self.styles]}")

    def stream_config(self, style: StyleSection | None = None) -> StreamConfig:
        style = style or self.style()
        e = self.engine
        return StreamConfig(
            height=e.height,
            width=e.width,
            t_index_list=tuple(style.t_index_list or e.t_index_list),
            causal=CausalWindow(window=e.window, warmup=e.warmup),
            seed=style.seed,
            noise_mode=style.noise_mode,
            clip_skip=e.clip_skip,
            prompt_template=style.prompt_template,
        )


def load_profile(path: str | Path | None) -> Profile:
    """Read and validate a profile TOML (None: the built-in defaults)."""
    if path is None:
        return Profile()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not a text file (expected a TOML profile)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    try:
        return Profile(**data)
    except ValidationError as exc:
        lines = [f"{path}: invalid profile:"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ProfileError("\n".join(lines)) from None
