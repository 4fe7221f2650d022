"""The control port's per-run token: made at start, kept in a user-only file the ``control`` client reads.

Where: ``$XDG_RUNTIME_DIR/live2diff/control-PORT.token`` when XDG_RUNTIME_DIR is set (Linux
desktops: a tmpfs only this user can enter, emptied at logout), else
``~/.cache/live2diff/control-PORT.token``. The folder is created 0700 and the file 0600, written
through ``os.open`` with mode 0600 so it is never readable by others, not even for a moment. The
server removes the file when it stops. Clients: ``LIVE2DIFF_CONTROL_TOKEN`` (environment) wins,
else the file for the port.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)

TOKEN_ENV = "LIVE2DIFF_CONTROL_TOKEN"


def new_token() -> str:
    """256 random bits as hex: no leading '-' (a token_urlsafe one could start with '-', which the
    command line then reads as an option: `control --token -x...` failed one run in 64)."""
    return secrets.token_hex(32)


def token_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "live2diff"
    return Path.home() / ".cache" / "live2diff"


def token_path(port: int) -> Path:
    return token_dir() / f"control-{port}.token"


def write_token(token: str, port: int) -> Path:
    """Write ``token`` for ``port`` (folder 0700, file 0600); returns the path."""
    path = token_path(port)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "fchmod"):
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an older file with wider rights is narrowed too
        os.write(fd, token.encode("ascii") + b"\n")
    finally:
        os.close(fd)
    return path


def remove_token(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove the control token file %s: %s", path, exc)


def read_token(port: int) -> str | None:
    """The token for ``port``: $LIVE2DIFF_CONTROL_TOKEN, else the token file; None when neither exists."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env
    try:
        return token_path(port).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison (no timing hints about the token)."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))
