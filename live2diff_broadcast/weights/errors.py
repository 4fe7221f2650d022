"""Typed errors of the weights package. Every message names the file, the key and what was expected."""

from __future__ import annotations


class WeightsError(Exception):
    """Base class: a checkpoint could not be found, read, trusted or matched to the model."""


class MissingWeightsError(WeightsError):
    """One or more files are not on disk (and could not, or may not, be downloaded)."""


class CorruptCheckpointError(WeightsError):
    """A file exists but cannot be read as the checkpoint format its name promises (truncated, damaged)."""


class UnsafeCheckpointError(WeightsError):
    """A pickle needs a full unpickle (which can run code) and the user has not allowed it."""


class IncompatibleCheckpointError(WeightsError):
    """A readable checkpoint for another model (SDXL, SD2, AnimateDiff v2/v3, another base for a LoRA)."""


class KeyMismatchError(IncompatibleCheckpointError):
    """A state dict whose keys or shapes do not account exactly for the model's parameters."""


def preview(keys: list[str] | set[str], limit: int = 12) -> str:
    """A sorted, bounded listing of keys for an error message."""
    ordered = sorted(keys)
    shown = ", ".join(ordered[:limit])
    more = f" ... (+{len(ordered) - limit} more)" if len(ordered) > limit else ""
    return f"[{shown}{more}]"
