"""The control port's token: made at start (or kept in a file you name), handed out only to whoever can read it.

The model is Jupyter's and VS Code's servers': whoever holds the token drives the show, and the
token reaches only (a) programs of the user who started ``run`` (they read the user-only token
file) and (b) whoever that user hands the dock URL to. The server never serves the token to a
request: the dock page carries none and asks for it.

* **Token file** ``$XDG_RUNTIME_DIR/live2diff/control-PORT.token`` (Linux desktops: a tmpfs only
  this user can enter, emptied at logout), else ``~/.cache/live2diff/control-PORT.token``. The
  folder is created 0700 and the file 0600 through ``os.open`` (never readable by others, not
  even for a moment); the server removes it when it stops. It holds one HTTP header line,
  ``Authorization: Bearer TOKEN``, so ``curl -H @FILE`` sends it without the token ever being in a
  command line (where ``ps`` shows it to every user). Clients: ``LIVE2DIFF_CONTROL_TOKEN``
  (environment) wins, else the file for the port.
* **Dock URL** ``http://127.0.0.1:PORT/#token=TOKEN``, printed once by ``run``. The token rides in
  the fragment, which a browser never sends to any server (no request line, no proxy or server
  log, no Referer); the page moves it to sessionStorage and strips it from the address bar. An OBS
  Custom Browser Dock is set up by pasting that one URL.
* **A token that outlives the run** (so the OBS dock's URL keeps working): ``control.token_file``
  names a file that keeps it, like VS Code's ``--connection-token-file``; ``run`` creates it
  (0600, a fresh token) when missing and refuses one that others can read. Delete it to rotate.
  Without it a new token is made every run, as Jupyter does.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import stat
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

TOKEN_ENV = "LIVE2DIFF_CONTROL_TOKEN"
HEADER = "Authorization: Bearer "
_TOKEN = re.compile(r"[0-9A-Za-z_\-.~+/=]{16,512}")  # what a token may look like (ours: 64 hex)
MAX_TOKEN_FILE = 4096


class TokenFileError(OSError):
    """``control.token_file`` cannot be used; the message names the file and the fix."""


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
    """Write ``token`` for ``port`` as a header line (folder 0700, file 0600); returns the path."""
    path = token_path(port)
    _write_private(path, f"{HEADER}{token}\n")
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
        return parse_token(token_path(port).read_text(encoding="ascii")) or None
    except (OSError, UnicodeDecodeError):
        return None


def parse_token(text: str) -> str:
    """The token in a token file: a header line ``Authorization: Bearer T`` or the bare token."""
    text = text.strip()
    return text[len(HEADER):].strip() if text.lower().startswith(HEADER.lower()) else text


def dock_url(base: str, token: str) -> str:
    """The URL to paste into a browser or an OBS Custom Browser Dock: ``base#token=T`` (never sent to a server)."""
    return f"{base}#token={token}"


def load_or_create(path: Path) -> str:
    """The token kept in ``path`` (``control.token_file``); a fresh one is written (0600) if it is missing.

    Refused with TokenFileError naming the file: not a regular file, not ours, readable or
    writable by group or others (as ssh refuses such a key), too large, or not a token.
    """
    path = path.expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        token = new_token()
        _write_private(path, token + "\n", exclusive=True)
        logger.info("control token kept in %s (new; delete the file to make a new token)", path)
        return token
    except OSError as exc:
        raise TokenFileError(f"control.token_file {path}: cannot open ({exc.strerror or exc}); expected a regular "
                             "file only you can read") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenFileError(f"control.token_file {path}: not a regular file; expected a file holding the token")
        if sys.platform != "win32":
            if info.st_uid != os.geteuid():
                raise TokenFileError(f"control.token_file {path}: owned by uid {info.st_uid}, not by you "
                                     f"(uid {os.geteuid()}); anyone who can write it chooses your token")
            if info.st_mode & 0o077:
                raise TokenFileError(f"control.token_file {path}: mode {stat.S_IMODE(info.st_mode):04o} lets other "
                                     f"users read or write it; run: chmod 600 {path}")
        raw = os.read(fd, MAX_TOKEN_FILE + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_TOKEN_FILE:
        raise TokenFileError(f"control.token_file {path}: over {MAX_TOKEN_FILE} bytes; expected one token")
    token = parse_token(raw.decode("ascii", "replace"))
    if not _TOKEN.fullmatch(token):
        raise TokenFileError(f"control.token_file {path}: does not hold a token (16 to 512 characters of "
                             "letters, digits and -._~+/=); delete it and `run` writes a new one")
    return token


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison (no timing hints about the token)."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))


def _write_private(path: Path, text: str, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` readable by this user only (folder 0700 when we create it, file 0600)."""
    created = not path.parent.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "fchmod") and (created or path.parent == token_dir()):
        os.chmod(path.parent, 0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an older file with wider rights is narrowed too
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)
