"""Typed failures of the acceleration backends; each message says what to do about it."""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A requested backend cannot run here (missing package, no GPU, unsupported dtype)."""


class EngineBuildError(RuntimeError):
    """Building or loading an accelerated engine failed (parse error, out of memory, ...)."""
