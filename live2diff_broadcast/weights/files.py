"""Reading state dicts safely: safetensors first; pickles only through ``weights_only`` unpickling.

A ``.ckpt`` / ``.pt`` / ``.bin`` file is a Python pickle. A full unpickle can run arbitrary code, so
``torch.load(weights_only=True)`` is the only way we open one unless the user sets
``models.allow_unsafe_pickle = true`` (CLI: ``--allow-unsafe-pickle``) for files they trust.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import CorruptCheckpointError, MissingWeightsError, UnsafeCheckpointError

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
UNSAFE_SETTING = "models.allow_unsafe_pickle = true (CLI: --allow-unsafe-pickle)"

StateDict = dict[str, torch.Tensor]


def is_safetensors(path: Path) -> bool:
    """By content, not name: a safetensors file starts with an 8-byte little-endian header length + '{'."""
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def read_state_dict(path: str | Path, allow_unsafe_pickle: bool = False) -> StateDict:
    """Every tensor of a checkpoint file, on the CPU.

    Raises:
        MissingWeightsError: no such file.
        CorruptCheckpointError: truncated or damaged file; nothing was half-read into a model.
        UnsafeCheckpointError: a pickle that ``weights_only`` unpickling refuses, with the flag to override.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: no such file")
    if path.suffix.lower() in SAFETENSORS_SUFFIXES or is_safetensors(path):
        return _read_safetensors(path)
    if path.suffix.lower() in PICKLE_SUFFIXES or zipfile.is_zipfile(path):
        return flatten_tensors(_read_pickle(path, allow_unsafe_pickle), path)
    raise CorruptCheckpointError(
        f"{path}: unknown checkpoint format (expected .safetensors, or a torch pickle .ckpt/.pt/.pth/.bin)"
    )


def read_safetensors_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptCheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def _read_safetensors(path: Path) -> StateDict:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(
            f"{path}: not a readable safetensors file, truncated or damaged? ({exc}). "
            "Delete it and download it again."
        ) from None


def _read_pickle(path: Path, allow_unsafe_pickle: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        refused = exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(
            f"{path}: not a readable torch checkpoint, truncated or damaged? ({type(exc).__name__}: {exc}). "
            "Delete it and download it again."
        ) from None
    if not allow_unsafe_pickle:
        raise UnsafeCheckpointError(
            f"{path}: this pickle holds more than tensors, so opening it would run Python code stored in "
            f"the file, which can do anything your user account can (refused: {str(refused).splitlines()[0]}). "
            f"Prefer a .safetensors version of it. If you trust where it came from, set {UNSAFE_SETTING}, "
            "or convert it once with `live2diff-broadcast convert --allow-unsafe-pickle`."
        ) from None
    logger.warning("%s: full (unsafe) unpickle, allowed by models.allow_unsafe_pickle", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any failure of an arbitrary pickle is a corrupt file to us
        raise CorruptCheckpointError(f"{path}: unpickling failed ({type(exc).__name__}: {exc})") from None


def flatten_tensors(obj: Any, path: Path) -> StateDict:
    """A loaded pickle -> its tensors: unwraps a top-level ``state_dict`` entry when present."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CorruptCheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    tensors: StateDict = {}
    skipped = []
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            tensors[str(key)] = value
        else:
            skipped.append(str(key))
    if skipped:
        logger.info("%s: ignoring %d non-tensor entries: %s", path, len(skipped), skipped[:8])
    if not tensors:
        raise CorruptCheckpointError(f"{path}: holds no tensors")
    return tensors


def write_safetensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write atomically: a crash mid-write never leaves a truncated file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path
