"""A real OBS Studio 29+, headless: Xvfb + OBS in a temporary HOME with obs-websocket on a free port.

The recipe (shared/facts/machines.md): global.ini skips the first-run wizard and turns the
websocket server on (OBS 29 reads it there; no flag does); Mesa's llvmpipe gives OBS its
OpenGL; SIGINT stops OBS cleanly. Every start has a timeout, and every process started is
stopped again, whatever the test did.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GLOBAL_INI = """[General]
FirstRun=true

[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort={port}
AlertsEnabled=false
AuthRequired={auth}
ServerPassword={password}
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_programs() -> list[str]:
    return [p for p in ("obs", "Xvfb") if shutil.which(p) is None]


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"OBS exited with {proc.returncode} before its websocket opened; log:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"OBS's websocket did not open on port {port} within {timeout:g} s; log:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def xvfb(tmp: Path, timeout: float = 15.0) -> Iterator[str]:
    """A private X display; yields its DISPLAY string."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=open(tmp / "xvfb.log", "wb"),  # noqa: SIM115
    )
    os.close(write_fd)
    try:
        deadline = time.monotonic() + timeout
        number = b""
        while not number.endswith(b"\n"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Xvfb did not start: {_tail(tmp / 'xvfb.log')}")
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError(f"Xvfb closed its display pipe: {_tail(tmp / 'xvfb.log')}")
            number += chunk
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_fd)
        _stop(proc, signal.SIGTERM, 5)


@contextmanager
def obs_studio(tmp: Path, display: str, port: int, password: str = "", timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """OBS with its websocket on ``port`` (auth on when ``password``); yields the process once it listens."""
    home = tmp / "home"
    config = home / ".config" / "obs-studio"
    config.mkdir(parents=True, exist_ok=True)
    (config / "global.ini").write_text(
        GLOBAL_INI.format(port=port, auth="true" if password else "false", password=password))
    env = {**os.environ, "HOME": str(home), "DISPLAY": display, "LIBGL_ALWAYS_SOFTWARE": "1",
           "XDG_CONFIG_HOME": str(home / ".config")}
    log = tmp / "obs.log"
    proc = subprocess.Popen(
        ["obs", "--multi", "--disable-shutdown-check", "--minimize-to-tray"],
        env=env, cwd=tmp, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    try:
        _wait_port(port, proc, timeout, log)
        yield proc
    finally:
        _stop(proc, signal.SIGINT, 8)  # SIGINT: OBS saves and quits; killed if it hangs
