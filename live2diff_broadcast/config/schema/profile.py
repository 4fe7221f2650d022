"""The Profile root: every section, the checks that span sections, and what the rest of the program reads."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ...engine.config import CausalWindow, StreamConfig
from ...weights.requirements import requirement
from ...weights.source import parse_source
from ..errors import ENV_PREFIX, did_you_mean
from ..hotkeys import HOTKEY_ACTIONS, HotkeyBinding, HotkeySignature, hotkey_signature
from ..obs import ObsSection, obs_problems
from .control import ControlSection, HotkeysSection
from .engine import TINY_SIZE, EngineSection
from .models import ModelsSection, means_none
from .output import OutputSection
from .plugins import SinkSection, SourceSection
from .steps import strength_to_t_index_list
from .styles import StyleSection
from .watchdog import WatchdogSection

DEFAULT_RECORDING = "live2diff_out.mp4"  # the file sink's path when a profile names no sink


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
    source: SourceSection = Field(default_factory=lambda: SourceSection(plugin="test_pattern"))
    # Where the output goes: one [sink] table, or a [[sinks]] list to feed several at once (not both); neither:
    # the file sink writing live2diff_out.mp4. Read them through ``sink_sections()``.
    sink: SinkSection | None = None
    sinks: list[SinkSection] | None = None
    obs: ObsSection = Field(default_factory=ObsSection)  # follow OBS's program scene (config/obs.py)
    output: OutputSection = Field(default_factory=OutputSection)  # the constant-rate output (runtime/output_stage.py)
    watchdog: WatchdogSection = Field(default_factory=WatchdogSection)  # when a hung engine is replaced

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
        problems += self._tiny_problems() + obs_problems(self.obs, [s.name for s in self.styles])
        problems += self._sink_problems()
        if problems:
            raise ValueError("\n".join(problems))
        self._size_for_preset()
        if self.sink is None and self.sinks is None:
            self.sink = SinkSection(plugin="file", settings={"path": DEFAULT_RECORDING})
        return self

    def _sink_problems(self) -> list[str]:
        if self.sinks is None:
            return []
        if self.sink is not None:
            return ["sink, sinks: a profile has either one [sink] table or a [[sinks]] list, not both; "
                    "move the [sink] table into the list as one more [[sinks]] entry"]
        if not self.sinks:
            return ["sinks: an empty list; expected at least one [[sinks]] table with a plugin "
                    "(or leave sinks out: [sink], else the file sink)"]
        problems: list[str] = []
        first: dict[str, int] = {}
        outputs: dict[str, int] = {}
        for i, section in enumerate(self.sinks):
            output = repr((section.plugin, sorted(section.settings.items())))
            if output in outputs:  # two file sinks on one path would fight over it (the second one writes .part2)
                problems.append(f"sinks[{i}]: the same plugin and settings as sinks[{outputs[output]}]; two sinks "
                                "would write the same output (a file, an NDI name): change its settings or remove it")
            outputs.setdefault(output, i)
            if section.name is None:
                continue
            if section.name in first:
                problems.append(f"sinks[{i}].name: {section.name!r} is already the name of sinks[{first[section.name]}]; "
                                "each sink needs its own name (logs and the status tell them apart by it)")
            first.setdefault(section.name, i)
        return problems

    def _size_for_preset(self) -> None:
        """An engine size left unset follows the preset: the tiny one runs at several fps on a 2-core CPU."""
        engine = self.engine
        if self.models.preset == "tiny" and not {"width", "height"} & engine.model_fields_set:
            width, height = TINY_SIZE
            self.engine = engine.model_copy(update={"width": width, "height": height})

    def _tiny_problems(self) -> list[str]:
        """Per-style weights the tiny preset would ignore (it builds random models and loads no file)."""
        if self.models.preset != "tiny":
            return []
        fields = ["models.style_checkpoint"] if self.models.style_checkpoint else []
        fields += ["models.loras"] if self.models.loras else []
        for i, style in enumerate(self.styles):
            fields += [f"styles[{i}].base"] if style.base is not None else []
            fields += [f"styles[{i}].style_checkpoint"] if style.style_checkpoint and not means_none(style.style_checkpoint) else []
            fields += [f"styles[{i}].loras"] if style.loras else []
        return [f"{field}: the tiny preset builds random-weight models and loads no model file, so this would be "
                "ignored; remove it, or set models.preset = \"live2diff\" to load real weights" for field in fields]

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
        if not means_none(m.lcm_lora):
            specs.append(("models.lcm_lora", "lcm_lora", m.lcm_lora, None))
        if m.style_checkpoint:
            specs.append(("models.style_checkpoint", "style", m.style_checkpoint, None))
        specs += [(f"models.loras[{j}].path", f"lora:{j}", lora.path, "lora") for j, lora in enumerate(m.loras)]
        for i, style in enumerate(self.styles):
            if style.base is not None:
                specs.append((f"styles[{i}].base", "base", style.base, None))
            if style.style_checkpoint is not None and not means_none(style.style_checkpoint):
                specs.append((f"styles[{i}].style_checkpoint", "style", style.style_checkpoint, None))
            for j, lora in enumerate(style.loras or []):
                specs.append((f"styles[{i}].loras[{j}].path", f"lora:{j}", lora.path, "lora"))
        return specs

    # --- what the rest of the program reads ----------------------------------------------------

    def sink_sections(self) -> list[tuple[str, SinkSection]]:
        """Every output, with its field path: [("sink", ...)] for the one [sink] table (or the default file
        sink), [("sinks[0]", ...), ("sinks[1]", ...)] for a [[sinks]] list."""
        if self.sinks is not None:
            return [(f"sinks[{i}]", section) for i, section in enumerate(self.sinks)]
        assert self.sink is not None  # filled in by _consistent when neither is given
        return [("sink", self.sink)]

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
            guidance=style.guidance,
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
            update["style_checkpoint"] = None if means_none(style.style_checkpoint) else style.style_checkpoint
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
