"""Show profiles: one TOML file per show, validated at the edge.

A profile names the models, the engine settings, the styles, the hotkeys, the source and the
sink (see ``profiles/example_show.toml`` for every field with comments). Layout::

    name, default_style
    [models]      weights shared by every style (ModelsSection)
    [engine]      resolution, denoising steps (t_index_list), window / warmup, device, backend
    [hotkeys]     next_style, previous_style, passthrough (toggle), rewarm  (ACTIONS)
    [control]     host, port of the local control port (dock page, commands)
    [[styles]]    name, prompt, negative_prompt, prompt_template, base / style_checkpoint / loras
                  (override [models] for this style), strength OR t_index_list, clip_skip, seed,
                  noise_mode, hotkey
    [source] / [sink]   plugin + settings (checked against the plugin's declared Settings at load)
    [obs]         OBS scene -> style over obs-websocket (config/obs.py)

Strength: a style may give ``strength`` in (0, 1] instead of ``t_index_list``. It keeps the
engine's step count n = len(engine.t_index_list) and denoises k = round(50 * strength) of the
50-step LCM schedule (t_index i is timestep 999 - 20 i): t_index_list = [50 - k + (i * k) // n for
i in range(n)]. Strength 0.4 with 2 steps is the reference's [30, 40]; strength 1.0 starts from
pure noise (index 0). k must be >= n. Giving both strength and t_index_list is an error.

clip_skip (engine default, a style may override it) picks the CLIP text layer counted from the end,
as AUTOMATIC1111 and civitai's "Clip skip" do: 1 = the last layer, 2 = the penultimate, 3 = the
third from last (then CLIP's final layer norm). The Live2Diff authors' YAML configs count the
layers *skipped* instead (their ``hidden_states[-(clip_skip + 1)]``): their ``clip_skip: 2`` is our
3; ``live2diff-broadcast import-config`` converts it (engine/text.py).

Hotkeys are keyboard-library strings ("ctrl+alt+1"); they are compared after the library's own
parsing, so "Ctrl+1" and "ctrl+1" are the same key and may be bound once only.

Environment variables override fields: ``LIVE2DIFF_ENGINE__DEVICE=cpu`` sets ``engine.device``.
Every section rejects unknown keys and suggests the nearest valid one; every error names the
file, the field path (``styles[2].hotkey``), the value and what is allowed.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..engine.config import DEFAULT_NUM_SCHEDULE_STEPS, CausalWindow, StreamConfig
from ..weights.requirements import requirement
from ..weights.source import parse_source
from .errors import ENV_PREFIX, did_you_mean, format_errors, report
from .hotkeys import HOTKEY_ACTIONS, Hotkey, HotkeyBinding, HotkeySignature, hotkey_signature
from .obs import ObsSection, obs_problems

if TYPE_CHECKING:
    from ..plugin_api import PluginRegistry

logger = logging.getLogger(__name__)


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the field and what is allowed."""


# --- denoising steps ----------------------------------------------------------------------------


def _check_t_index_list(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("must name at least one denoising step, e.g. [30, 40]")
    if value != sorted(set(value)):
        raise ValueError(f"must be strictly increasing, got {value}")
    if value[0] < 0 or value[-1] >= DEFAULT_NUM_SCHEDULE_STEPS:
        raise ValueError(f"entries must lie in [0, {DEFAULT_NUM_SCHEDULE_STEPS}) of the LCM schedule, got {value}")
    return value


TIndexList = Annotated[list[int], AfterValidator(_check_t_index_list)]


def strength_to_t_index_list(strength: float, steps: int) -> list[int]:
    """The t_index_list for img2img ``strength`` in (0, 1] with ``steps`` denoising steps (module docstring)."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    k = int(strength * DEFAULT_NUM_SCHEDULE_STEPS + 0.5)  # schedule steps denoised; round half up
    if k < steps:
        raise ValueError(
            f"strength {strength} denoises {k} of the {DEFAULT_NUM_SCHEDULE_STEPS} schedule steps, fewer than the "
            f"{steps} denoising steps of engine.t_index_list; use strength >= {steps / DEFAULT_NUM_SCHEDULE_STEPS:g}"
        )
    first = DEFAULT_NUM_SCHEDULE_STEPS - k
    return [first + (i * k) // steps for i in range(steps)]


# --- sections ---------------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSection(_Section):
    """One style LoRA (kohya LoRA/LoCon, LyCORIS LoHa/LoKr or diffusers/PEFT: docs/loras.md), merged as W + weight x ΔW."""

    path: str = Field(min_length=1)  # local file or Hub "owner/repo/file.safetensors"
    weight: float = Field(default=1.0, allow_inf_nan=False)
    name: str | None = Field(default=None, min_length=1)  # its live fader's name (`lora NAME W`); default: the file stem

    @property
    def fader_name(self) -> str:
        return self.name or PurePosixPath(self.path.replace("\\", "/")).stem


def fader_index(names: list[str], name: str) -> int | None:
    """Which of the LoRA faders ``names`` a command's ``name`` means: its name, else its position
    (0, 1, ...); None when neither."""
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    return None


def _unique_fader_names(loras: list[LoraSection] | None) -> list[LoraSection] | None:
    names = [lora.fader_name for lora in loras or []]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two LoRAs answer to the fader name(s) {twice}; give one a name = \"...\"")
    return loras


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
    _loras_unique = field_validator("loras")(_unique_fader_names)
    allow_unsafe_pickle: bool = False  # True: fully unpickle .ckpt/.pt files torch's safe loader refuses (runs their code)
    auto_download: bool = True  # False: never download; missing files are an error listing them
    # Spatial SD UNet weights found inside live2diff.ckpt: "apply" (the authors' loader: over the base
    # UNet, a style checkpoint then replaces them) or "ignore" them (the base / style UNet as it is).
    live2diff_spatial: Literal["ignore", "apply"] = "apply"


class EngineSection(_Section):
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    width: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    height: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    # Denoising steps over the 50-step LCM schedule (index i = timestep 999 - 20 i); its length is the
    # number of steps per frame (and the frames of output latency + 1). Styles may override it.
    # defaults come from the engine's own config: window, warmup and steps live in one place
    t_index_list: TIndexList = Field(default_factory=lambda: list(StreamConfig().t_index_list))
    window: int = Field(default=CausalWindow().window, ge=2)
    warmup: int = Field(default=CausalWindow().warmup, ge=1)
    # CLIP text layer from the end (A1111 / civitai "Clip skip"): 1 = last, 2 = penultimate, 3 = third from
    # last. The authors' configs say clip_skip: 2 meaning our 3 (module docstring). Styles may override it.
    clip_skip: int = Field(default=2, ge=1)
    # Depth prior preprocessing (engine/depth.py); the defaults are the authors'. "letterbox": pad to a
    # square instead of squashing (no distortion of 16:9 frames); "per_frame": warmup frames normalised
    # one by one instead of jointly (a sink's depth then does not depend on the other sinks).
    depth_resize: Literal["squash", "letterbox"] = "squash"
    depth_normalise: Literal["warmup_joint", "per_frame"] = "warmup_joint"
    # UNet backend. auto: "compiled" on NVIDIA GPUs, "pytorch" (eager) elsewhere. onnxruntime / tensorrt
    # export static-shape graphs (and build engines) into engine_dir once; any backend that cannot run
    # falls back to eager PyTorch with an error in the log and in telemetry, never silently.
    backend: Literal["auto", "pytorch", "compiled", "onnxruntime", "tensorrt"] = "auto"
    depth_backend: Literal["auto", "pytorch", "onnxruntime"] = "auto"  # auto: onnxruntime with onnxruntime/tensorrt
    vae_backend: Literal["auto", "pytorch", "onnxruntime"] = "auto"  # TAESD; same rule
    engine_dir: str | None = None  # ONNX graphs and TensorRT engines (default ~/.cache/live2diff_broadcast/engines)
    torch_compile: bool = True  # compiled backend: torch.compile the stream call
    cuda_graph: bool = True  # compiled backend: capture the stream call in a CUDA graph
    trt_refit: bool = True  # build refittable engines: a weights change refits instead of rebuilding
    onnx_opset: int = Field(default=17, ge=17, le=20)

    @model_validator(mode="after")
    def _window_holds_warmup(self) -> EngineSection:
        if self.window <= self.warmup:
            raise ValueError(f"window ({self.window}) must be greater than warmup ({self.warmup})")
        return self


class HotkeysSection(_Section):
    """Hotkeys for actions (a style's own hotkey selects that style); unset = no hotkey."""

    next_style: Hotkey | None = None  # the next style in the profile's order (wraps around)
    previous_style: Hotkey | None = None
    passthrough: Hotkey | None = None  # toggle: show the source as is instead of the AI output
    rewarm: Hotkey | None = None  # re-warm the current style on the recent frames (after a scene cut)


class ControlSection(_Section):
    """The local control port (dock page, /status, POST commands): this machine only unless host says otherwise."""

    host: str = Field(default="127.0.0.1", min_length=1)  # "0.0.0.0" opens it to the network (token still needed)
    port: int = Field(default=7878, ge=0, le=65535)  # 0: any free port (logged)


class StyleSection(_Section):
    name: str = Field(min_length=1)
    prompt: str
    # Kept for classifier-free guidance; the LCM engine runs at guidance 1, which IGNORES it.
    negative_prompt: str = ""
    prompt_template: str = "{}"  # "{}" is replaced by the prompt, e.g. "cartoon style, {}" (trigger words)
    # Models for this style; unset = [models]' own. style_checkpoint "" or "none": no checkpoint;
    # loras = []: no LoRAs, even where [models] names some.
    base: str | None = None
    style_checkpoint: str | None = None
    loras: list[LoraSection] | None = None
    _loras_unique = field_validator("loras")(_unique_fader_names)
    # How far from the input: strength in (0, 1] OR an explicit t_index_list (never both); unset = engine's.
    strength: float | None = Field(default=None, gt=0, le=1)
    t_index_list: TIndexList | None = None
    clip_skip: int | None = Field(default=None, ge=1)  # CLIP layer from the end for this style; unset = engine's
    seed: int = 42
    noise_mode: Literal["per_frame", "fixed"] = "per_frame"
    hotkey: Hotkey | None = None  # selects this style
    # Switching TO this style: 0 = hold-then-cut; N > 0 = crossfade over N input frames when the style on air
    # runs on the same models with the same step count (otherwise a cut). After it, "rewarm" re-warms the
    # sinks in this style (ends exactly as a cut would), "refresh" keeps them and lets the window refresh.
    crossfade_frames: int = Field(default=0, ge=0, le=10_000)
    crossfade_settle: Literal["rewarm", "refresh"] = "rewarm"

    @field_validator("prompt_template")
    @classmethod
    def _template_has_slot(cls, v: str) -> str:
        if v.count("{}") != 1:
            raise ValueError(f"must contain '{{}}' once, where the prompt goes, got {v!r}")
        try:
            v.format("")
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"write literal braces as '{{{{' and '}}}}', got {v!r}") from None
        return v

    @field_validator("base")
    @classmethod
    def _base_not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty model source; leave base out to use [models].base")
        return v

    @model_validator(mode="after")
    def _strength_or_t_index_list(self) -> StyleSection:
        if self.strength is not None and self.t_index_list is not None:
            raise ValueError(
                f"strength ({self.strength}) and t_index_list ({self.t_index_list}) are alternatives; give one"
            )
        return self


class PluginSection(_Section):
    plugin: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class Profile(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    name: str = "default"
    models: ModelsSection = Field(default_factory=ModelsSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    styles: list[StyleSection] = Field(
        default_factory=lambda: [StyleSection(name="default", prompt="a cartoon style portrait")], min_length=1
    )
    default_style: str | None = None
    hotkeys: HotkeysSection = Field(default_factory=HotkeysSection)
    control: ControlSection = Field(default_factory=ControlSection)
    source: PluginSection = Field(default_factory=lambda: PluginSection(plugin="test_pattern"))
    sink: PluginSection = Field(default_factory=lambda: PluginSection(plugin="file", settings={"path": "live2diff_out.mp4"}))
    obs: ObsSection = Field(default_factory=ObsSection)  # follow OBS's program scene (config/obs.py)

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
    def _consistent(self) -> Profile:
        problems = self._style_problems() + self._hotkey_problems() + self._model_source_problems()
        problems += obs_problems(self.obs, [s.name for s in self.styles])
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _style_problems(self) -> list[str]:
        problems: list[str] = []
        first: dict[str, int] = {}
        for i, style in enumerate(self.styles):
            if style.name in first:
                problems.append(f"styles[{i}].name: {style.name!r} is already the name of styles[{first[style.name]}]")
            first.setdefault(style.name, i)
            if style.strength is not None:
                try:
                    strength_to_t_index_list(style.strength, len(self.engine.t_index_list))
                except ValueError as exc:
                    problems.append(f"styles[{i}].strength: {exc}")
        if self.default_style is not None and self.default_style not in first:
            problems.append(
                f"default_style: {self.default_style!r} is not a style{did_you_mean(self.default_style, first)} "
                f"(styles: {', '.join(first)})"
            )
        return problems

    def _hotkey_problems(self) -> list[str]:
        problems: list[str] = []
        seen: dict[HotkeySignature, HotkeyBinding] = {}
        for binding in self.hotkey_bindings():
            signature = hotkey_signature(binding.hotkey)
            other = seen.setdefault(signature, binding)
            if other is not binding:
                problems.append(
                    f"{binding.field}: {binding.hotkey!r} is already bound by {other.field} ({other.hotkey!r}); "
                    "each hotkey may do one thing"
                )
        return problems

    def _model_source_problems(self) -> list[str]:
        problems = []
        for where, component, spec, kind in self._model_specs():
            try:
                parse_source(spec)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            try:
                requirement(component, spec, kind)
            except ValueError:
                problems.append(
                    f"{where}: {spec!r} names a Hugging Face repo but no file in it; expected "
                    f"'owner/name/file.safetensors' or a local path"
                )
        return problems

    def _model_specs(self) -> list[tuple[str, str, str, str | None]]:
        """(field path, component, spec, kind) of every model source in [models] and the styles."""
        m = self.models
        specs: list[tuple[str, str, str, str | None]] = [
            ("models.base", "base", m.base, None),
            ("models.vae", "vae", m.vae, None),
            ("models.live2diff", "live2diff", m.live2diff, None),
            ("models.depth", "depth", m.depth, None),
        ]
        if not _means_none(m.lcm_lora):
            specs.append(("models.lcm_lora", "lcm_lora", m.lcm_lora, None))
        if m.style_checkpoint:
            specs.append(("models.style_checkpoint", "style", m.style_checkpoint, None))
        specs += [(f"models.loras[{j}].path", f"lora:{j}", lora.path, "lora") for j, lora in enumerate(m.loras)]
        for i, style in enumerate(self.styles):
            if style.base is not None:
                specs.append((f"styles[{i}].base", "base", style.base, None))
            if style.style_checkpoint is not None and not _means_none(style.style_checkpoint):
                specs.append((f"styles[{i}].style_checkpoint", "style", style.style_checkpoint, None))
            for j, lora in enumerate(style.loras or []):
                specs.append((f"styles[{i}].loras[{j}].path", f"lora:{j}", lora.path, "lora"))
        return specs

    # --- what the rest of the program reads ----------------------------------------------------

    def style(self, name: str | None = None) -> StyleSection:
        wanted = name or self.default_style or self.styles[0].name
        for style in self.styles:
            if style.name == wanted:
                return style
        raise KeyError(f"no style named {wanted!r}; styles: {[s.name for s in self.styles]}")

    def t_index_list(self, style: StyleSection | None = None) -> tuple[int, ...]:
        """The style's denoising steps: its t_index_list, else its strength mapped, else the engine's."""
        style = style or self.style()
        if style.t_index_list is not None:
            return tuple(style.t_index_list)
        if style.strength is not None:
            return tuple(strength_to_t_index_list(style.strength, len(self.engine.t_index_list)))
        return tuple(self.engine.t_index_list)

    def clip_skip(self, style: StyleSection | None = None) -> int:
        """The style's CLIP layer from the end: its own clip_skip, else the engine's."""
        style = style or self.style()
        return style.clip_skip if style.clip_skip is not None else self.engine.clip_skip

    def stream_config(self, style: StyleSection | None = None) -> StreamConfig:
        style = style or self.style()
        e = self.engine
        return StreamConfig(
            height=e.height,
            width=e.width,
            t_index_list=self.t_index_list(style),
            causal=CausalWindow(window=e.window, warmup=e.warmup),
            seed=style.seed,
            noise_mode=style.noise_mode,
            clip_skip=self.clip_skip(style),
            prompt_template=style.prompt_template,
            depth_resize=e.depth_resize,
            depth_normalise=e.depth_normalise,
        )

    def models_for(self, style: StyleSection | None = None) -> ModelsSection:
        """[models] with the style's base / style_checkpoint / loras overrides applied (for load_style)."""
        style = style or self.style()
        update: dict[str, Any] = {}
        if style.base is not None:
            update["base"] = style.base
        if style.style_checkpoint is not None:
            update["style_checkpoint"] = None if _means_none(style.style_checkpoint) else style.style_checkpoint
        if style.loras is not None:
            update["loras"] = [lora.model_copy() for lora in style.loras]
        return self.models.model_copy(update=update)

    def hotkey_bindings(self) -> list[HotkeyBinding]:
        """Every hotkey set in the profile: the styles' (action "style") then the actions'."""
        bindings = [
            HotkeyBinding(s.hotkey, "style", s.name, f"styles[{i}].hotkey")
            for i, s in enumerate(self.styles)
            if s.hotkey is not None
        ]
        for action in HOTKEY_ACTIONS:
            hotkey = getattr(self.hotkeys, action)
            if hotkey is not None:
                bindings.append(HotkeyBinding(hotkey, action, None, f"hotkeys.{action}"))
        return bindings


def _means_none(spec: str) -> bool:
    return spec.strip().lower() in ("", "none")


# --- loading and error reporting --------------------------------------------------------------------


def load_profile(path: str | Path | None, registry: PluginRegistry | None = None, check_plugins: bool = True) -> Profile:
    """Read and validate a profile TOML (None: the built-in defaults).

    With ``check_plugins`` the source and sink settings are validated against their plugins'
    declared Settings (``registry``, else ``discover_plugins()``). Raises ProfileError.
    """
    if path is None:
        return Profile()
    path = Path(path)
    return parse_profile(read_profile_bytes(path), path, registry, check_plugins)


def parse_profile(
    raw: bytes, path: str | Path, registry: PluginRegistry | None = None, check_plugins: bool = True
) -> Profile:
    """Validate a profile file's bytes (``path`` only names it in errors); as ``load_profile``."""
    path = Path(path)
    data = _parse_toml(raw, path)
    try:
        profile = Profile(**data)
    except ValidationError as exc:
        problems = format_errors(exc.errors(), Profile, ())
        if check_plugins:  # the plugin sections that did parse are checked too: one report, every problem
            problems += plugin_problems(_raw_plugin_sections(data), registry)
        raise ProfileError(report(path, problems)) from None
    if check_plugins:
        problems = plugin_problems({"source": profile.source, "sink": profile.sink}, registry)
        if problems:
            raise ProfileError(report(path, problems))
    for i, style in enumerate(profile.styles):
        if style.negative_prompt:
            logger.debug("%s: styles[%d].negative_prompt is kept for guidance > 1; the LCM engine (guidance 1) "
                         "ignores it", path, i)
    return profile


def _raw_plugin_sections(data: dict[str, Any]) -> dict[str, PluginSection]:
    sections = {}
    for kind in ("source", "sink"):
        try:
            sections[kind] = PluginSection.model_validate(data[kind])
        except (KeyError, ValidationError):
            continue  # absent (the default is valid) or already reported by the schema
    return sections


def read_profile_bytes(path: Path) -> bytes:
    """The file's bytes, or a ProfileError that says why not."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: is a directory, expected a TOML profile file") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        if b"\x00" in raw:
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1, "NUL byte")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not a text file (expected a UTF-8 TOML profile)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    if not data:
        raise ProfileError(
            f"{path}: empty profile (no settings); expected at least [[styles]] with name and prompt, "
            "see profiles/example_show.toml"
        )
    return data


def plugin_problems(sections: Mapping[str, PluginSection], registry: PluginRegistry | None = None) -> list[str]:
    """For {"source": ..., "sink": ...}: the plugins not installed, or their settings invalid, one line each."""
    from ..plugin_api import PluginError, discover_plugins  # plugin discovery imports the plugins

    registry = registry or discover_plugins()
    problems = []
    for kind, section in sections.items():
        installed = sorted(registry.sources if kind == "source" else registry.sinks)
        try:
            cls = registry.source(section.plugin) if kind == "source" else registry.sink(section.plugin)
        except PluginError as exc:
            problems.append(f"{kind}.plugin: {exc}{did_you_mean(section.plugin, installed)}")
            continue
        try:
            cls.Settings.model_validate(section.settings)
        except ValidationError as exc:
            problems += format_errors(exc.errors(), cls.Settings, (kind, "settings"), f"plugin {section.plugin!r}: ")
    return problems


