"""The Live2Diff authors' YAML configs (open-mmlab/Live2Diff ``configs/*.yaml``, ``demo/demo_cfg*.yaml``),
read the way their code reads them and checked key by key before ``authors_import.py`` maps them.

Their ``live2diff/utils/config.py`` ``load_config``: ``config.pop("base")`` then
``OmegaConf.merge(OmegaConf.load(base_config), config)``: the style file over its base, dicts merged
key by key, anything else (lists included) replaced. Relative paths (``base`` and every model path)
are relative to the directory their scripts run in (``test.py`` from the repository root, the demo
from ``demo/``): ``root`` here.

Every key their code reads is known (``KNOWN``); anything else is an error naming the file and the
key, with the nearest known key. A YAML that does not parse, or is not a mapping, is an error too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import did_you_mean

# The keys their code reads (test.py, utils/wrapper.py, animatediff/pipeline/pipeline_animatediff_depth.py,
# animatediff/converter/convert.py, the UNet's from_pretrained_2d), as a tree: None = a leaf value,
# a dict = a mapping with these keys, a list of one dict = a list of such mappings.
KNOWN: dict[str, Any] = {
    "base": None,
    "pretrained_model_path": None,
    "motion_module_path": None,
    "depth_model_path": None,
    "prompt": None,
    "prompt_template": None,
    "num_inference_steps": None,
    "t_index_list": None,
    "strength": None,
    "third_party_dict": {
        "dreambooth": None,
        "lora_list": [{"lora": None, "lora_alpha": None}],
        "clip_skip": None,
        "vae": None,
        "text_embedding_dict": None,
    },
    "unet_additional_kwargs": {
        "cond_mapping": None,
        "use_inflated_groupnorm": None,
        "use_motion_module": None,
        "motion_module_resolutions": None,
        "unet_use_cross_frame_attention": None,
        "unet_use_temporal_attention": None,
        "motion_module_type": None,
        "motion_module_kwargs": {
            "num_attention_heads": None,
            "num_transformer_block": None,
            "attention_block_types": None,
            "temporal_position_encoding": None,
            "temporal_position_encoding_max_len": None,
            "temporal_attention_dim_div": None,
            "zero_initialize": None,
            "attention_class_name": None,
            "attention_kwargs": {"window_size": None, "sink_size": None},
        },
    },
    "noise_scheduler_kwargs": {
        "num_train_timesteps": None,
        "beta_start": None,
        "beta_end": None,
        "beta_schedule": None,
        "steps_offset": None,
        "clip_sample": None,
    },
}


class AuthorsConfigError(ValueError):
    """A Live2Diff YAML config that cannot be imported; the message names the file and the key."""


@dataclass(frozen=True)
class AuthorsConfig:
    """One config as their ``load_config`` returns it (``data``: base merged under the style file)."""

    path: Path  # the style (or all-in-one demo) file
    base: Path | None  # the base it was merged over
    root: Path  # where relative paths point from
    data: dict[str, Any]
    own: dict[str, Any]  # the style file's own keys (to say which file a key came from)

    def where(self, key: str) -> Path:
        """The file that set ``key`` (a dotted path): its base when only the base has it, else the style file."""
        if self.base is not None and _lookup(self.own, key) is _ABSENT and _lookup(self.data, key) is not _ABSENT:
            return self.base
        return self.path

    def error(self, key: str, message: str) -> AuthorsConfigError:
        return AuthorsConfigError(f"{self.where(key)}: {key}: {message}")

    def get(self, key: str, default: Any = None) -> Any:
        value = _lookup(self.data, key)
        return default if value is _ABSENT else value

    def resolve(self, key: str, value: str) -> Path:
        """A path their scripts would open: ``~`` expanded, relative ones from ``root``."""
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a file path, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.root / path)


def read_authors_config(path: Path, base: Path | None = None, root: Path | None = None) -> AuthorsConfig:
    """Read ``path`` and its base (``base`` given: that file; else the config's own ``base`` key,
    resolved from ``root``), check every key, merge as their ``load_config`` does."""
    root = Path.cwd() if root is None else root
    own = _load_yaml(path)
    _check_keys(own, KNOWN, path, "")
    base_key = own.pop("base", None)
    if base is None and base_key is not None:
        if not isinstance(base_key, str):
            raise AuthorsConfigError(f"{path}: base: expected the path of a base config, got {base_key!r}")
        base = Path(base_key).expanduser()
        base = base if base.is_absolute() else root / base
        if not base.is_file():
            raise AuthorsConfigError(
                f"{path}: base: {base_key!r} is not a file under {root} (their scripts resolve it from the directory "
                "they run in); pass --root to the Live2Diff checkout, or --base FILE"
            )
    data: dict[str, Any] = {}
    if base is not None:
        base_data = _load_yaml(base)
        _check_keys(base_data, KNOWN, base, "")
        base_data.pop("base", None)  # their load_config follows one level only
        data = base_data
    return AuthorsConfig(path, base, root, _merge(data, own), own)


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # PyYAML: only this command reads YAML

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthorsConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise AuthorsConfigError(f"{path}: is a directory, expected a Live2Diff YAML config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthorsConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AuthorsConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AuthorsConfigError(f"{path}: expected a YAML mapping (key: value lines), got {type(data).__name__}")
    return data


def _check_keys(data: Mapping[str, Any], known: Mapping[str, Any], path: Path, prefix: str) -> None:
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise AuthorsConfigError(
                f"{path}: {where}: unknown key{did_you_mean(str(key), list(known))}; "
                f"known here: {', '.join(known)}"
            )
        shape = known[key]
        if isinstance(shape, dict) and value is not None:
            if not isinstance(value, Mapping):
                raise AuthorsConfigError(f"{path}: {where}: expected a mapping of {', '.join(shape)}, got {value!r}")
            _check_keys(value, shape, path, where + ".")
        elif isinstance(shape, list) and value is not None:
            if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
                raise AuthorsConfigError(f"{path}: {where}: expected a list of mappings of {', '.join(shape[0])}")
            for i, item in enumerate(value):
                _check_keys(item, shape[0], path, f"{where}[{i}].")


_ABSENT = object()


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """OmegaConf.merge for plain data: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
