"""Attack a running show's control surfaces (issue 18) and count what a viewer sees meanwhile.

    python scripts/attack_show.py [--passthrough-model] [--seconds 20] [--keep]

Starts a real ``live2diff-broadcast run`` (tiny random-weight models 64x64, test pattern 30 fps,
fragmented MP4, control port and OSC on loopback; a third style whose prompt is ~1 MB), waits until
it is live, then, all at once for the attack window:

- holds 600 idle TCP connections to the control port (re-opening those the server closes);
- sends the OSC packets of issue 18 (the 24-byte bundle with element size -4, 2,000 bundles
  time-stamped in the future, non-UTF-8 strings, bundles nested 64 deep, 9 KB datagrams) and a
  5,000-packet flood in about 2 s that ends in one style command;
- sends deep JSON with the token, binary / deep / long first WebSocket frames, a 60 KB request
  head and a head sent a byte at a time;
- asks ``/status`` and switches styles through the ``control`` client's own code throughout;

and prints what each attack got back, the /status answer times, the frames the sink wrote during
the attack against the 1/fps grid (and the grid slots left empty in the recording), the main
process's threads and CPU, and the lines the show logged. The same functions drive
``tests/commands/test_run_under_attack.py``. Linux (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_show import ShowProcess, decode  # noqa: E402

FPS = 30.0
IDLE_SOCKETS = 600
MINUS_FOUR = b"#bundle\0" + b"\0" * 8 + struct.pack(">i", -4) + b"abcd"
NTP_UNIX_OFFSET = 2_208_988_800


def write_profile(path: Path, out: Path) -> Path:
    """Tiny models, test pattern 30 fps -> ``out``; styles cartoon, sketch and 'long' (a ~1 MB prompt)."""
    long_prompt = "a watercolour portrait of a cat " * 30_000  # ~960 KB, under the 1 MiB profile limit
    path.write_text(
        f'name = "attack"\n[engine]\ndevice = "cpu"\nwidth = 64\nheight = 64\n'
        f'[source]\nplugin = "test_pattern"\nsettings = {{ width = 96, height = 64, fps = {FPS} }}\n'
        f'[sink]\nplugin = "file"\nsettings = {{ path = "{out}" }}\n'
        '[[styles]]\nname = "cartoon"\nprompt = "a cartoon style portrait"\n'
        '[[styles]]\nname = "sketch"\nprompt = "a pencil sketch portrait"\n'
        f'[[styles]]\nname = "long"\nprompt = "{long_prompt}"\n',
        encoding="utf-8",
    )
    return path


# --- OSC ---------------------------------------------------------------------------------------------


def osc_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return raw + b"\0" * (4 - len(raw) % 4)


def osc_message(address: str, *args: str | int | float) -> bytes:
    tags, data = ",", b""
    for arg in args:
        if isinstance(arg, str):
            tags, data = tags + "s", data + osc_string(arg)
        elif isinstance(arg, int):
            tags, data = tags + "i", data + struct.pack(">i", arg)
        else:
            tags, data = tags + "f", data + struct.pack(">f", arg)
    return osc_string(address) + osc_string(tags) + data


def osc_bundle(*elements: bytes, at: float | None = None) -> bytes:
    """A bundle for ``at`` (Unix seconds; None: "immediately")."""
    tag = struct.pack(">II", 0, 1) if at is None else struct.pack(">II", int(at) + NTP_UNIX_OFFSET, 0)
    return b"#bundle\0" + tag + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def hostile_osc() -> dict[str, bytes]:
    """One packet of each kind issue 18 found."""
    nested = osc_message("/live2diff/style", "cartoon")
    for _ in range(64):
        nested = osc_bundle(nested)
    return {
        "malformed": MINUS_FOUR,
        "not_utf8": osc_string("/live2diff/style") + osc_string(",s") + osc_string(b"\xff\xfe\xfd"),
        "nested": nested,
        "oversized": osc_message("/live2diff/style", "x" * 9000),
    }


def osc_attack(port: int, final_style: str, styles: tuple[str, ...] = ("cartoon", "sketch")) -> dict[str, int]:
    """Each hostile kind 200 times, 2,000 future-dated bundles, then a 5,000-packet flood in ~2 s that ends in
    ``/live2diff/style final_style``. Returns the packets sent per kind."""
    sent: dict[str, int] = {}
    rng = random.Random(18)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        target = ("127.0.0.1", port)
        for kind, packet in hostile_osc().items():
            for _ in range(200):
                sock.sendto(packet, target)
            sent[kind] = 200
        for i in range(2000):
            sock.sendto(osc_bundle(osc_message("/live2diff/style", "cartoon"), at=time.time() + 5 + i % 60), target)
        sent["future"] = 2000
        started = time.monotonic()
        garbage = [MINUS_FOUR, b"\xff" * 40]
        for i in range(5000):
            pick = rng.random()
            packet = (osc_message("/live2diff/style", rng.choice(styles)) if pick < 0.6 else
                      osc_message("/live2diff/passthrough", 0) if pick < 0.8 else rng.choice(garbage))
            sock.sendto(packet, target)
            if i % 250 == 249:
                time.sleep(max(0.0, started + (i + 1) / 2500 - time.monotonic()))
        sock.sendto(osc_message("/live2diff/style", final_style), target)
        sent["flood"] = 5001
    return sent


# --- HTTP / WebSocket --------------------------------------------------------------------------------


def raw_exchange(port: int, data: bytes, timeout: float = 15.0) -> bytes:
    """Send ``data`` on a fresh connection; what came back until the server closed it (or ``timeout``)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                got += chunk
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
    return got


def status_code(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/1.1") and parts[1].isdigit() else None


def ws_close_code(port: int, *frames: str | bytes) -> int | None:
    """The close code the server sends after ``frames`` (None: dropped without a close frame)."""
    import websockets

    async def go() -> int | None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", proxy=None, open_timeout=15) as ws:
            for frame in frames:
                await ws.send(frame)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            except websockets.exceptions.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None
            except TimeoutError:
                return -1  # still open

    return asyncio.run(go())


def http_attacks(port: int, token: str) -> dict[str, Any]:
    """Every HTTP / WebSocket case of issue 18 once; what came back."""
    host = b"Host: 127.0.0.1:%d\r\n" % port
    auth = b"Authorization: Bearer %s\r\n" % token.encode()
    deep = b"[" * 8000 + b"]" * 8000
    page = raw_exchange(port, b"GET / HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    slow_started = time.monotonic()
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    slow_closed = False
    try:
        for byte in b"GET /status HTTP/1.1\r\n" + host + b"X-Slow: " + b"a" * 200:
            slow.sendall(bytes([byte]))
            time.sleep(0.2)
    except OSError:
        slow_closed = True
    finally:
        slow.close()
    return {
        "page_has_token": token.encode() in page,
        "deep_json": status_code(raw_exchange(port, b"POST /command HTTP/1.1\r\n" + host + auth +
                                              b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                                              b"Connection: close\r\n\r\n" % len(deep) + deep)),
        "head_60k": status_code(raw_exchange(port, b"GET /status HTTP/1.1\r\n" + host + b"X-Pad: " + b"a" * 60_000 +
                                             b"\r\n\r\n")),
        "ws_binary_first": ws_close_code(port, b"\x00\x01\x02"),
        "ws_deep_first": ws_close_code(port, "[" * 900),
        "ws_long_first": ws_close_code(port, json.dumps({"token": "x" * 5000})),
        "slow_head_closed_s": round(time.monotonic() - slow_started, 1) if slow_closed else None,
    }


# --- idle sockets ------------------------------------------------------------------------------------


@dataclass
class IdleFlood:
    """Holds ``count`` idle connections to ``port`` until stopped, re-opening those the server closes, at most
    ``reopen_per_s`` a second after the first ``count`` (``inf``: as fast as they close, a pure CPU churn)."""

    port: int
    count: int = IDLE_SOCKETS
    reopen_per_s: float = 100.0
    opened: int = 0
    closed_by_server: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> IdleFlood:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        import selectors

        selector = selectors.DefaultSelector()
        held: set[socket.socket] = set()
        budget, last = float(self.count), time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                budget, last = min(budget + (now - last) * self.reopen_per_s, float(self.count)), now
                while len(held) < self.count and budget >= 1 and not self._stop.is_set():
                    budget -= 1
                    try:
                        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    except OSError:
                        break
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ)
                    held.add(sock)
                    self.opened += 1
                for key, _ in selector.select(timeout=0.2):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.closed_by_server += 1
                        selector.unregister(sock)
                        held.discard(sock)
                        sock.close()
        finally:
            for sock in held:
                sock.close()
            selector.close()


# --- the show ----------------------------------------------------------------------------------------


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def osc_port(show: ShowProcess) -> int:
    return int(show.wait_for(r"OSC control on udp://127\.0\.0\.1:(\d+)", 120).group(1))


@dataclass
class Attack:
    """What one attack window on a live show measured."""

    seconds: float = 0.0
    baseline_frames_out: int = 0  # frames the sink wrote in a window as long, just before, without an attack
    frames_out: int = 0  # frames the sink wrote during the window (from /status)
    status_answers: int = 0
    status_max_s: float = 0.0
    threads_before: int = 0
    threads_max: int = 0
    main_cpu_s: float = 0.0
    log_lines: int = 0
    osc: dict[str, int] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    idle_opened: int = 0
    idle_closed_by_server: int = 0
    final_style: str = ""


def attack(show: ShowProcess, seconds: float, final_style: str = "sketch", reopen_per_s: float = 100.0,
           baseline: bool = False) -> Attack:
    """Run every attack at once on the live ``show`` for at least ``seconds`` (after a quiet window as long when
    ``baseline``); the show must keep answering."""
    from live2diff_broadcast.control.token import read_token

    assert show.port is not None
    port, udp = show.port, osc_port(show)
    token = read_token(port)
    assert token is not None, "no token file for the show's port (same XDG_RUNTIME_DIR?)"
    result = Attack(threads_before=threads(show.pid), final_style=final_style)
    if baseline:
        before = show.status()["frames_out"]
        time.sleep(seconds)
        result.baseline_frames_out = show.status()["frames_out"] - before
    lines_before, cpu_before = len(show.lines), cpu_s(show.pid)
    frames_before = show.status()["frames_out"]
    started = time.monotonic()
    idle = IdleFlood(port, reopen_per_s=reopen_per_s).start()
    workers: dict[str, Any] = {}
    jobs = [threading.Thread(target=lambda: workers.__setitem__("osc", osc_attack(udp, final_style)), daemon=True),
            threading.Thread(target=lambda: workers.__setitem__("http", http_attacks(port, token)), daemon=True)]
    for job in jobs:
        job.start()
    while any(job.is_alive() for job in jobs) or time.monotonic() - started < seconds:
        asked = time.monotonic()
        show.status()
        result.status_max_s = max(result.status_max_s, time.monotonic() - asked)
        result.status_answers += 1
        result.threads_max = max(result.threads_max, threads(show.pid))
        time.sleep(0.2)
    for job in jobs:
        job.join(60)
    result.seconds = time.monotonic() - started
    result.frames_out = show.status()["frames_out"] - frames_before
    idle.stop()
    result.idle_opened, result.idle_closed_by_server = idle.opened, idle.closed_by_server
    result.osc, result.http = workers.get("osc", {}), workers.get("http", {})
    result.main_cpu_s = cpu_s(show.pid) - cpu_before
    result.log_lines = len(show.lines) - lines_before
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passthrough-model", action="store_true", help="identity engine instead of tiny diffusion")
    parser.add_argument("--seconds", type=float, default=20.0, help="attack window (at least; the attacks run to the end)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (log, recording)")
    parser.add_argument("--reopen-per-s", type=float, default=100.0, help="idle sockets re-opened per second once "
                        "the server closes them (inf: as fast as they close)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="l2d-attack-"))
    os.environ["XDG_RUNTIME_DIR"] = str(work)
    out = work / "out.mp4"
    show = ShowProcess(write_profile(work / "show.toml", out), 600, work / "show.log", "--osc", "--osc-port", "0",
                       passthrough_model=args.passthrough_model)
    try:
        show.wait_control()
        show.wait_for(r"engine: live", 300)
        result = attack(show, args.seconds, reopen_per_s=args.reopen_per_s, baseline=True)
        switched = show.command("style long")
        show.wait_status("style 'long' on air", lambda s: s["style"] == "long", 300)
        status = show.status()
    finally:
        code = show.stop()
    decoded = decode(out, FPS)
    print(f"exit code {code}; engine restarts {status['engine_restarts']}; style 'long' (~1 MB prompt) requested: "
          f"{switched.get('ok')}, on air {status['last_switch_ms']:.0f} ms after the request")
    print(json.dumps(result.__dict__, indent=2, default=str))
    expected = result.seconds * FPS
    print(f"| quiet window before | {args.seconds:.1f} s | frames written {result.baseline_frames_out} / "
          f"{args.seconds * FPS:.0f} slots |")
    print(f"| attack window | {result.seconds:.1f} s | frames written {result.frames_out} / {expected:.0f} slots "
          f"| /status answered {result.status_answers}x, slowest {result.status_max_s * 1000:.0f} ms "
          f"| threads {result.threads_before} -> max {result.threads_max} | main CPU {result.main_cpu_s:.1f} s "
          f"| log lines {result.log_lines} |")
    print(f"recording: {decoded.frames} frames, {decoded.missing_slots} empty grid slots, longest step "
          f"{decoded.max_gap} slots, pts increasing {decoded.increasing}")
    print("prompt warning:", next((line.strip() for line in show.lines if "prompt is longer" in line), "(none)"))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
