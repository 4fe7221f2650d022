"""Drive a real ``live2diff-broadcast run`` from outside, as a user's machine would: a process
group started with setsid, its log, its control port, its processes' RSS, its output file.

Used by ``scripts/chaos.py`` and by the fast chaos tests (``tests/runtime/test_chaos.py``).
Linux only (reads /proc and /dev/shm).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def write_profile(path: Path, out: Path, *, source: str | None = None, fps: float = 30.0,
                  styles: tuple[str, ...] = ("cartoon", "sketch"), size: int = 64) -> Path:
    """A small show: test pattern (or ``source``, a TOML [source] table) -> tiny models -> ``out``."""
    source = source or f'[source]\nplugin = "test_pattern"\nsettings = {{ width = 96, height = 64, fps = {fps} }}'
    style_tables = "\n".join(f'[[styles]]\nname = "{s}"\nprompt = "a {s} style portrait"\n' for s in styles)
    path.write_text(
        f'name = "chaos"\n[engine]\ndevice = "cpu"\nwidth = {size}\nheight = {size}\n'
        f"{source}\n[sink]\nplugin = \"file\"\nsettings = {{ path = \"{out}\" }}\n{style_tables}",
        encoding="utf-8",
    )
    return path


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB, None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state != "Z"  # a zombie has exited


def group_pids(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return sorted(pids)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def shm_names(pid: int | None = None) -> list[str]:
    """Our rings in /dev/shm (of one owner pid, or all), plus any multiprocessing semaphores."""
    names = os.listdir("/dev/shm")
    prefix = "l2d-" if pid is None else f"l2d-{pid}-"
    return sorted(n for n in names if n.startswith(prefix))


def semaphores() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("sem.mp-")}


def mapped_shm(pids: list[int]) -> set[str]:
    """/dev/shm names the processes ``pids`` have mapped (rings, POSIX semaphores): what they would leak."""
    names: set[str] = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in maps.splitlines():
            path = line.split(maxsplit=5)[-1] if len(line.split()) >= 6 else ""
            if path.startswith("/dev/shm/"):
                names.add(path.removeprefix("/dev/shm/").removesuffix(" (deleted)"))
    return names


@dataclass
class Decoded:
    frames: int
    pts: list[int]  # in units of 1/fps (the file sink puts each frame on the nominal grid)
    error: str | None  # why decoding stopped early (a truncated last fragment after a SIGKILL)

    @property
    def increasing(self) -> bool:
        return all(b > a for a, b in zip(self.pts, self.pts[1:], strict=False))

    @property
    def max_gap(self) -> int:
        """The longest step between two consecutive frames, in slots (1: none missing)."""
        return max((b - a for a, b in zip(self.pts, self.pts[1:], strict=False)), default=0)

    @property
    def missing_slots(self) -> int:
        """Grid slots between the first and last frame that hold no frame."""
        return 0 if not self.pts else self.pts[-1] - self.pts[0] + 1 - len(self.pts)


def decode(path: Path, fps: float = 30.0) -> Decoded:
    """Every frame a player can decode from ``path`` (PyAV), with its slot on the 1/``fps`` grid."""
    import av

    pts: list[int] = []
    error = None
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                pts.append(round(float(frame.pts * frame.time_base) * fps))  # the muxer's own time base
    except Exception as exc:  # noqa: BLE001 - reported: a truncated tail after a kill
        error = f"{type(exc).__name__}: {exc}"
    return Decoded(len(pts), pts, error)


class ShowProcess:
    """``live2diff-broadcast run`` in its own session (setsid), log captured line by line."""

    def __init__(self, profile: Path, duration: float, log_path: Path, *extra: str, passthrough_model: bool = False) -> None:
        cmd = [sys.executable, "-m", "live2diff_broadcast.cli", "run", "--profile", str(profile),
               "--duration", str(duration), "--no-hotkeys", "--no-terminal-keys", "--control-port", "0",
               "--status-interval", "5", *extra]
        if passthrough_model:
            cmd.append("--passthrough-model")
        self.log_path = log_path
        self._log = log_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port: int | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._log.write(line)
            self._log.flush()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120.0, after: int = 0) -> re.Match[str]:
        """The first log line matching ``pattern`` (from line ``after`` on); raises on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            lines = self.lines
            for line in lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(lines)
            if self.proc.poll() is not None and not self._reader.is_alive() and seen == len(self.lines):
                raise RuntimeError(f"show exited ({self.proc.returncode}) before {pattern!r}:\n{self.text[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} within {timeout:.0f} s:\n{self.text[-3000:]}")
            time.sleep(0.05)

    def engine_pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"engine process started \(pid (\d+)", self.text)]

    def wait_control(self, timeout: float = 60.0) -> int:
        self.port = int(self.wait_for(r"control server listening on [\d.]+:(\d+)", timeout).group(1))
        return self.port

    def command(self, line: str, timeout: float = 5.0) -> dict[str, Any]:
        assert self.port is not None, "wait_control() first"
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return dict(json.loads(data))

    def status(self) -> dict[str, Any]:
        return dict(self.command("status")["status"])

    def wait_status(self, what: str, condition: Any, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if condition(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}: {status}")
            time.sleep(0.1)

    def processes(self) -> dict[str, int]:
        """{"main": pid, "engine": pid, "tracker": pid} of what runs now."""
        found = {"main": self.pid}
        for child in children(self.pid):
            line = cmdline(child)
            if "resource_tracker" in line:
                found["tracker"] = child
            elif "multiprocessing" in line or "spawn" in line:
                found["engine"] = child
        return found

    def rss(self) -> dict[str, float]:
        return {name: mb for name, pid in self.processes().items() if (mb := rss_mb(pid)) is not None}

    def kill_group(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (Ctrl+C) and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            code = self.proc.wait(30)
        self._reader.join(10)
        self._log.close()
        return code
