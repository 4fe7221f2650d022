"""One of the Live2Diff authors' style configs -> a show profile with one ``[[styles]]`` entry that
runs their computation (``live2diff-broadcast import-config``; the configs are read by ``authors_yaml.py``).

Every key is accounted for, in ``Imported.notes`` (one line per key: what it became, or why it
needs nothing): mapped to a field, checked against what this engine builds (architecture, noise
schedule: a different value is an error, since it would not be their computation), or unmapped
with the reason. Files the config names must exist (relative paths from ``root``, as their scripts
open them); the text layer must exist in the base's CLIP encoder.

The mapping, with what their code does (open-mmlab/Live2Diff):

* ``pretrained_model_path`` / ``motion_module_path`` / ``depth_model_path`` -> ``[models]`` base /
  live2diff / depth. LCM-LoRA and TAESD: their wrapper's ``latent-consistency/lcm-lora-sdv1-5`` and
  ``madebyollin/taesd``, our defaults.
* ``prompt_template`` and ``prompt``: their test.py encodes ``prompt_template.format(prompt)``. A
  ``prompt`` holding ``{}`` with no ``prompt_template`` (configs/toonyou.yaml) is taken as the template.
* ``third_party_dict.dreambooth`` -> the style's ``style_checkpoint`` (none: ``"none"``, the SD1.5 UNet);
  ``lora_list`` -> ``loras`` with ``lora_alpha`` as the weight and ``file_alpha = "ignore"`` (their
  ``convert_lora_model_level`` adds ``lora_alpha * up @ down``, skipping the file's alpha keys); ``clip_skip`` c -> ``clip_skip`` c + 1
  (their ``hidden_states[-(c + 1)]``, engine/text.py), c = 1 when absent (their wrapper's default).
* ``num_inference_steps`` + ``t_index_list``, or + ``strength``, -> the style's ``t_index_list`` on our
  50-step schedule: their steps are ``LCMScheduler.set_timesteps(num_inference_steps)`` timesteps,
  indexed by t_index_list, or the last ``int(num_inference_steps * strength)`` of them with strength
  (their ``get_timesteps``, which wins over t_index_list); each timestep t is our index (999 - t) / 20.
* ``attention_kwargs.window_size`` / ``sink_size`` -> ``[engine]`` window / warmup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.config import DEFAULT_NUM_SCHEDULE_STEPS
from ..engine.text_layers import from_authors_clip_skip
from .authors_yaml import AuthorsConfig, AuthorsConfigError, read_authors_config

DEFAULT_PROMPT = "a person talking to the camera"

# What this engine builds, in their unet_additional_kwargs terms (configs/base_config.yaml).
ARCHITECTURE: dict[str, Any] = {
    "unet_additional_kwargs.cond_mapping": True,  # the depth adapter (flow_conv_in)
    "unet_additional_kwargs.use_inflated_groupnorm": True,  # GroupNorm per frame
    "unet_additional_kwargs.use_motion_module": True,
    "unet_additional_kwargs.motion_module_resolutions": [1, 2, 4, 8],  # every down / up block
    "unet_additional_kwargs.unet_use_cross_frame_attention": False,
    "unet_additional_kwargs.unet_use_temporal_attention": False,
    "unet_additional_kwargs.motion_module_type": "Streaming",
    "unet_additional_kwargs.motion_module_kwargs.num_attention_heads": 8,
    "unet_additional_kwargs.motion_module_kwargs.num_transformer_block": 1,
    "unet_additional_kwargs.motion_module_kwargs.attention_block_types": ["Temporal_Self", "Temporal_Self"],
    "unet_additional_kwargs.motion_module_kwargs.temporal_position_encoding": True,
    "unet_additional_kwargs.motion_module_kwargs.temporal_position_encoding_max_len": 24,
    "unet_additional_kwargs.motion_module_kwargs.temporal_attention_dim_div": 1,
    "unet_additional_kwargs.motion_module_kwargs.attention_class_name": "stream",
}
# Keys that change nothing at inference, with why.
INERT = {
    "unet_additional_kwargs.motion_module_kwargs.zero_initialize": "initialisation of proj_out for training; "
    "the checkpoint's weights replace it",
    "third_party_dict.vae": "their stream replaces the pipeline's VAE with TAESD (use_tiny_vae, test.py's and "
    "the demo's default), as this engine does",
}


@dataclass
class Imported:
    """The profile fields one config gives, and a line per key saying what became of it."""

    source: AuthorsConfig
    models: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    style: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def toml(self, style_only: bool = False) -> str:
        """A complete profile (``[models]``, ``[engine]``, one ``[[styles]]``), or the style entry alone."""
        head = [f"# imported by live2diff-broadcast import-config from {self.source.path}"]
        if self.source.base is not None:
            head.append(f"# (merged over its base {self.source.base})")
        head += [f"#   {line}" for line in self.notes]
        body: list[str] = []
        if style_only:
            body.append("# the [models] / [engine] fields this style expects:")
            body += [f"#   models.{k} = {_toml_value(v)}" for k, v in self.models.items() if k != "preset"]
            body += [f"#   engine.{k} = {_toml_value(v)}" for k, v in self.engine.items()]
        else:
            body += ["[models]", *(f"{k} = {_toml_value(v)}" for k, v in self.models.items()), ""]
            body += ["[engine]", *(f"{k} = {_toml_value(v)}" for k, v in self.engine.items()), ""]
        body += ["[[styles]]", *(f"{k} = {_toml_value(v)}" for k, v in self.style.items())]
        return "\n".join(head + [""] + body) + "\n"


def import_authors_config(
    path: Path, base: Path | None = None, root: Path | None = None, name: str | None = None, prompt: str | None = None,
) -> Imported:
    """Read and map one config (module docstring); raises AuthorsConfigError naming the file and key."""
    cfg = read_authors_config(path, base, root)
    out = Imported(cfg)
    out.style["name"] = name or path.stem
    _models(cfg, out)
    _engine(cfg, out)
    _prompt(cfg, out, prompt)
    _third_party(cfg, out)
    _steps(cfg, out)
    _checked(cfg, out)
    return out


def _models(cfg: AuthorsConfig, out: Imported) -> None:
    out.models["preset"] = "live2diff"
    for key, target, kind in (
        ("pretrained_model_path", "base", "dir"),
        ("motion_module_path", "live2diff", "file"),
        ("depth_model_path", "depth", "file"),
    ):
        value = cfg.get(key)
        if value is None:
            raise cfg.error(key, "missing; their pipeline needs it (configs/base_config.yaml sets it)")
        out.models[target] = str(_existing(cfg, key, value, kind))
        out.notes.append(f"{key} -> models.{target}")
    out.models["live2diff_spatial"] = "apply"
    out.notes.append("motion_module_path's positional tables and any spatial UNet weights: used, as their "
                     "strict=False load does (models.live2diff_spatial 'apply')")
    out.notes.append("LCM-LoRA latent-consistency/lcm-lora-sdv1-5 and TAESD madebyollin/taesd: their wrapper's, "
                     "the [models] defaults")


def _engine(cfg: AuthorsConfig, out: Imported) -> None:
    prefix = "unet_additional_kwargs.motion_module_kwargs.attention_kwargs"
    window, sink = cfg.get(f"{prefix}.window_size", 16), cfg.get(f"{prefix}.sink_size", 8)
    for key, value in ((f"{prefix}.window_size", window), (f"{prefix}.sink_size", sink)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise cfg.error(key, f"expected a positive whole number of frames, got {value!r}")
    if window <= sink:
        raise cfg.error(f"{prefix}.window_size", f"{window} must be greater than sink_size ({sink})")
    out.engine.update(window=window, warmup=sink, depth_resize="squash", depth_normalise="warmup_joint")
    out.notes.append(f"{prefix}.window_size / sink_size -> engine.window / warmup")
    out.notes.append("depth_model_path's preprocessing (their encode_depth) -> engine.depth_resize 'squash', "
                     "depth_normalise 'warmup_joint'")


def _prompt(cfg: AuthorsConfig, out: Imported, prompt: str | None) -> None:
    template, text = cfg.get("prompt_template"), cfg.get("prompt")
    for key, value in (("prompt_template", template), ("prompt", text)):
        if value is not None and not isinstance(value, str):
            raise cfg.error(key, f"expected text, got {value!r}")
    if template is None and text is not None and text.count("{}") == 1:
        template, text = text, None
        out.notes.append("prompt holds '{}' and there is no prompt_template: taken as the template")
    if prompt is not None:
        out.style["prompt"] = prompt
        out.notes.append("prompt: from --prompt" + (" (over the config's)" if text is not None else ""))
    elif text is not None:
        out.style["prompt"] = text
        out.notes.append("prompt -> styles.prompt")
    else:
        out.style["prompt"] = DEFAULT_PROMPT
        out.notes.append(f"prompt: not in the config (their test.py takes --prompt): {DEFAULT_PROMPT!r}; edit it")
    if template is not None:
        if template.count("{}") != 1:
            raise cfg.error("prompt_template", f"must contain '{{}}' once (their test.py asserts it), got {template!r}")
        out.style["prompt_template"] = template  # str.format, as their test.py applies it
        out.notes.append("prompt_template -> styles.prompt_template")


def _third_party(cfg: AuthorsConfig, out: Imported) -> None:
    key = "third_party_dict.dreambooth"
    dreambooth = cfg.get(key)
    out.style["style_checkpoint"] = "none" if dreambooth is None else str(_existing(cfg, key, dreambooth, "file"))
    out.notes.append(f"{key} -> styles.style_checkpoint" + (" ('none': the base UNet)" if dreambooth is None else ""))
    loras = cfg.get("third_party_dict.lora_list") or []
    out.style["loras"] = []
    for i, item in enumerate(loras):
        where = f"third_party_dict.lora_list[{i}]"
        if "lora" not in item or "lora_alpha" not in item:
            raise cfg.error("third_party_dict.lora_list", f"[{i}] needs lora and lora_alpha (their loader reads both)")
        alpha = item["lora_alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise cfg.error("third_party_dict.lora_list", f"[{i}].lora_alpha: expected a number, got {alpha!r}")
        path = _existing(cfg, "third_party_dict.lora_list", item["lora"], "file", shown=f"{where}.lora")
        out.style["loras"].append({"path": str(path), "weight": float(alpha), "file_alpha": "ignore"})
    if loras:
        out.notes.append("third_party_dict.lora_list[].lora / lora_alpha -> styles.loras[].path / weight, file_alpha "
                         "'ignore' (their merge adds lora_alpha * up @ down and skips the file's own alpha)")
    embeddings = cfg.get("third_party_dict.text_embedding_dict")
    if embeddings:
        raise cfg.error("third_party_dict.text_embedding_dict", "textual-inversion embeddings are not supported by "
                        "this engine; remove the key to import the style without them")
    skip = cfg.get("third_party_dict.clip_skip", 1)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise cfg.error("third_party_dict.clip_skip", f"expected a whole number >= 0 of skipped layers, got {skip!r}")
    layers = _text_layers(cfg, out.models["base"])
    if skip >= layers:
        raise cfg.error(
            "third_party_dict.clip_skip",
            f"{skip} is outside the text encoder's {layers} layers: their hidden_states[-(clip_skip + 1)] needs "
            f"clip_skip in 0..{layers - 1} ({Path(out.models['base']) / 'text_encoder' / 'config.json'})",
        )
    out.style["clip_skip"] = from_authors_clip_skip(skip)
    source = "third_party_dict.clip_skip" if cfg.get("third_party_dict.clip_skip") is not None else "clip_skip (absent: their default 1)"
    out.notes.append(f"{source} {skip} -> styles.clip_skip {skip + 1} (their hidden_states[-({skip} + 1)], "
                     f"CLIP layer {layers - skip} of {layers})")


def _steps(cfg: AuthorsConfig, out: Imported) -> None:
    steps, t_index, strength = cfg.get("num_inference_steps"), cfg.get("t_index_list"), cfg.get("strength")
    if steps is None:
        raise cfg.error("num_inference_steps", "missing; their scheduler needs it (50 in the t_index_list configs)")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= DEFAULT_NUM_SCHEDULE_STEPS:
        raise cfg.error("num_inference_steps", f"expected 1..{DEFAULT_NUM_SCHEDULE_STEPS} (the LCM schedule's original "
                        f"steps), got {steps!r}")
    timesteps = _lcm_timesteps(steps)
    if strength is not None:
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 < strength <= 1:
            raise cfg.error("strength", f"expected a number in (0, 1], got {strength!r}")
        start = max(steps - min(int(steps * strength), steps), 0)  # their get_timesteps
        chosen = timesteps[start:]
        if not chosen:
            raise cfg.error("strength", f"{strength} with num_inference_steps {steps} leaves no denoising step")
        how = f"strength {strength} of num_inference_steps {steps}"
        if t_index is not None:
            out.notes.append("t_index_list: unused, strength is set (their pipeline then derives the steps from it)")
    elif t_index is not None:
        if not isinstance(t_index, list) or not t_index or not all(isinstance(i, int) and not isinstance(i, bool) for i in t_index):
            raise cfg.error("t_index_list", f"expected a list of step indices, got {t_index!r}")
        bad = [i for i in t_index if not 0 <= i < len(timesteps)]
        if bad:
            raise cfg.error("t_index_list", f"{bad} outside the {len(timesteps)} steps of num_inference_steps {steps}")
        chosen = [timesteps[i] for i in t_index]
        how = f"t_index_list {t_index} of num_inference_steps {steps}"
    else:
        raise cfg.error("t_index_list", "missing, and no strength either: their pipeline needs one of them")
    ours = [_our_index(cfg, t) for t in chosen]
    if ours != sorted(set(ours)):
        raise cfg.error("t_index_list", f"the steps must go from noisy to clean without repeats, got timesteps {chosen}")
    out.style["t_index_list"] = ours
    out.notes.append(f"{how} -> styles.t_index_list {ours} (timesteps {chosen})")


def _checked(cfg: AuthorsConfig, out: Imported) -> None:
    from ..engine.scheduler import LIVE2DIFF_SCHEDULER_CONFIG

    for key, want in ARCHITECTURE.items():
        got = cfg.get(key, want)
        if got != want:
            raise cfg.error(key, f"{got!r}, but this engine builds {want!r} (Live2Diff's architecture; the "
                            "checkpoint would not fit another)")
    for key, why in INERT.items():
        if cfg.get(key) is not None:
            out.notes.append(f"{key}: unmapped, {why}")
    for name, got in (cfg.get("noise_scheduler_kwargs") or {}).items():
        want = LIVE2DIFF_SCHEDULER_CONFIG[name]
        if got != want:
            raise cfg.error(f"noise_scheduler_kwargs.{name}", f"{got!r}, but this engine's LCM schedule uses {want!r}: "
                            "the steps would stand for other noise levels")
    out.notes.append("unet_additional_kwargs, noise_scheduler_kwargs: checked, the engine's own architecture and schedule")


def _lcm_timesteps(steps: int) -> list[int]:
    """Their ``self.scheduler.set_timesteps(num_inference_steps)`` on the LCM schedule (diffusers' LCMScheduler)."""
    from ..engine.scheduler import live2diff_scheduler

    scheduler = live2diff_scheduler()
    scheduler.set_timesteps(steps)
    return [int(t) for t in scheduler.timesteps]


def _our_index(cfg: AuthorsConfig, timestep: int) -> int:
    index, rest = divmod(999 - timestep, 1000 // DEFAULT_NUM_SCHEDULE_STEPS)
    if rest or not 0 <= index < DEFAULT_NUM_SCHEDULE_STEPS:
        raise cfg.error("num_inference_steps", f"timestep {timestep} is not on the 50-step schedule this engine runs")
    return index


def _existing(cfg: AuthorsConfig, key: str, value: Any, kind: str, shown: str | None = None) -> Path:
    path = cfg.resolve(key, value)
    ok = path.is_dir() if kind == "dir" else path.is_file()
    if not ok:
        what = "folder" if kind == "dir" else "file"
        raise AuthorsConfigError(
            f"{cfg.where(key)}: {shown or key}: {value!r}: no such {what} ({path}); relative paths are resolved from "
            f"{cfg.root}, as their scripts do from where they run: pass --root to the Live2Diff checkout"
        )
    return path.resolve()


def _text_layers(cfg: AuthorsConfig, base: str) -> int:
    config = Path(base) / "text_encoder" / "config.json"
    try:
        layers = json.loads(config.read_text(encoding="utf-8"))["num_hidden_layers"]
    except (OSError, ValueError, KeyError) as exc:
        raise cfg.error("pretrained_model_path", f"cannot read the text encoder's layer count from {config}: {exc}") from None
    if not isinstance(layers, int) or layers < 1:
        raise cfg.error("pretrained_model_path", f"{config}: num_hidden_layers {layers!r} is not a layer count")
    return layers


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")
