"""Chaos suite: the faults a streamer meets, injected into real ``live2diff-broadcast run`` processes.

    python scripts/chaos.py [--duration 20] [--cases engine_kill,engine_hang,...] [--passthrough-model] [--markdown]
    python scripts/chaos.py --soak MINUTES [--soak-bound-mb 64]

Each case starts its own show (test pattern 30 fps, or a file, -> tiny random models 64x64, or the
identity engine with --passthrough-model, -> fragmented MP4), injects its fault from outside
(signals, files, sockets, a full filesystem) and measures, from the recording and the control port:

- frames: frames a player decodes from the recording vs the sink's open time x fps;
- missing: slots of the 1/fps grid between the first and last frame that hold no frame (every
  written frame sits on its own slot of the output grid, so a slot the show failed to fill shows
  up here); longest gap: the longest step between two frames in the file (1/30 s when none is
  missing). A case whose recording is split over several files (a full disk: nothing can be
  written during the outage) counts the slots missing inside each file;
- live / held / passthrough: frames by kind, and the longest hold (the last engine frame repeated
  while the engine re-warms or is slower than the output), from the control port's status;
- pts: strictly increasing in the file, and no "does not increase" error in the log;
- recovery: seconds from the fault (or its end) to the show being back (engine live again, sink
  reopened, source reconnected...), measured on the control port's status;
- RSS of the main process before and after (MB).

The verdict: PASS when the show exits cleanly, pts increase, no slot is missing and the longest
gap is at most ``--max-gap`` (default one slot), plus the case's own check (the stopped engine
was killed, ...). ``--markdown`` prints only the record for docs/reliability.md (machine, load,
command, date and the table; progress goes to stderr).

``--soak`` switches style every 5 s for MINUTES and samples every process's RSS every 5 s; it
fails when any process grows by more than ``--soak-bound-mb`` between the first sample after one
minute (warm) and the last. Linux only; the disk-full case needs root (a small tmpfs mount).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_show import ShowProcess, alive, decode, write_profile  # noqa: E402

FPS = 30.0
PASSTHROUGH_MODEL = False  # --passthrough-model: identity engine (same processes, no diffusion)
MAX_GAP_S = 1.5 / FPS  # --max-gap: the longest step between two recorded frames a PASS allows


@dataclass
class Result:
    case: str
    frames: int = 0
    expected: int = 0
    missing: int = 0
    max_gap_s: float = 0.0
    increasing: bool = True
    recovery_s: list[float] = field(default_factory=list)
    rss_before: float = 0.0
    rss_after: float = 0.0
    kinds: str = "-"  # live / held / passthrough (+ no-signal) frames, from the status
    longest_hold_s: float = 0.0
    ok: bool = True
    note: str = ""

    @property
    def passed(self) -> bool:
        """The verdict: the case's own checks, no missing slot, no gap longer than MAX_GAP_S."""
        return self.ok and self.missing == 0 and self.max_gap_s <= MAX_GAP_S + 1e-9

    def row(self) -> str:
        rec = ", ".join(f"{r:.1f}" for r in self.recovery_s) or "-"
        return (f"| {self.case} | {self.frames} / {self.expected} | {self.missing} | {self.max_gap_s:.2f} | "
                f"{self.kinds} | {self.longest_hold_s:.2f} | {'yes' if self.increasing else 'NO'} | {rec} | "
                f"{self.rss_before:.0f} -> {self.rss_after:.0f} | {'PASS' if self.passed else 'FAIL'} | {self.note} |")


HEADER = ("| case | frames / duration x fps | missing | longest gap (s) | live / held / passthrough | longest hold (s) "
          "| pts increasing | recovery (s) | main RSS MB | result | note |\n|---|---|---|---|---|---|---|---|---|---|---|")


class Case:
    def __init__(self, name: str, work: Path, duration: float, profile_kw: dict[str, object] | None = None,
                 out_dir: Path | None = None) -> None:
        self.name, self.work, self.duration = name, work / name, duration
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = (out_dir or self.work) / "out.mp4"
        self.profile = write_profile(self.work / "show.toml", self.out, **(profile_kw or {}))  # type: ignore[arg-type]
        self.result = Result(name)

    def start(self, finite: bool = False) -> ShowProcess:
        """Start the show and wait until the engine is live; the case's ``duration`` counts from then,
        and the show is stopped (SIGINT) when it has passed (a ``finite`` one ends by itself)."""
        self.show = ShowProcess(self.profile, 3600, self.work / "show.log", passthrough_model=PASSTHROUGH_MODEL)
        self.show.wait_for(r"broadcast started", 180)
        self.sink_open = time.monotonic()
        self.show.wait_control()
        if not finite:
            self.show.wait_status("engine live", lambda s: s["engine_state"] == "live", 300)
        self.started = time.monotonic()
        self.result.rss_before = self.show.rss().get("main", 0.0)
        return self.show

    def count_kinds(self, status: dict[str, object]) -> None:
        """Frames by kind and the longest hold, as the show counted them."""
        r = self.result
        kinds = [int(status.get(k, 0)) for k in ("live_frames", "held_frames", "passthrough_frames", "no_signal_frames")]  # type: ignore[call-overload]
        r.kinds = " / ".join(map(str, kinds[:3])) + (f" (+{kinds[3]} no signal)" if kinds[3] else "")
        r.longest_hold_s = float(status.get("longest_hold_ms", 0.0)) / 1000  # type: ignore[arg-type]
        if status.get("slots_skipped"):
            r.note += f" {status['slots_skipped']} slots skipped (sink loop frozen)"

    def recover(self, what: str, condition: Callable[[dict[str, object]], bool], since: float, timeout: float = 120) -> None:
        self.show.wait_status(what, condition, timeout)
        self.result.recovery_s.append(time.monotonic() - since)

    def finish(self, ended_by_itself: bool = False) -> Result:
        r = self.result
        if not ended_by_itself:
            time.sleep(max(0.0, self.started + self.duration - time.monotonic()))
            r.rss_after = self.show.rss().get("main", 0.0)
            self.count_kinds(self.show.status())
            code = self.show.stop(120)
        else:
            code = self.show.wait(self.duration)
        ran = time.monotonic() - self.sink_open  # the sink writes from its opening to the stop
        decoded = decode(self.out) if self.out.exists() else None
        if decoded is not None:
            r.frames, r.missing, r.increasing = decoded.frames, decoded.missing_slots, decoded.increasing
            r.max_gap_s = decoded.max_gap / FPS
        r.expected = round(ran * FPS)
        if "does not increase" in self.show.text:
            r.increasing = False
        r.ok = r.ok and code == 0 and r.increasing and decoded is not None
        if code != 0:
            r.note += f" exit {code}"
        return r


def _engine_pid(show: ShowProcess) -> int:
    pid = show.status()["engine_pid"]
    assert isinstance(pid, int), "no engine running"
    return pid


def case_engine_kill(work: Path, duration: float) -> Result:
    """SIGKILL of the engine, twice, mid-show: passthrough covers, the keeper restarts it."""
    c = Case("engine_kill_x2", work, duration)
    show = c.start()
    for i in range(2):
        time.sleep(3)
        restarts = show.status()["engine_restarts"]
        t = time.monotonic()
        os.kill(_engine_pid(show), signal.SIGKILL)
        c.recover(f"restart {i + 1}", lambda s, n=restarts: s["engine_restarts"] > n and s["engine_state"] == "live", t)
    return c.finish()


def case_engine_hang(work: Path, duration: float) -> Result:
    """SIGSTOP of the engine: the heartbeat stops, the keeper kills it (3 s timeout) and restarts it."""
    c = Case("engine_hang_sigstop", work, duration)
    show = c.start()
    time.sleep(2)
    pid = _engine_pid(show)
    t = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    c.recover("hang detected and engine live again", lambda s: s["engine_hangs"] >= 1 and s["engine_state"] == "live", t)
    c.result.note = "stopped engine killed" if not alive(pid) else "STOPPED ENGINE SURVIVED"
    c.result.ok = not alive(pid)
    return c.finish()


def case_style_load_crash(work: Path, duration: float) -> Result:
    """OOM-like: the engine SIGKILLed (what the OOM killer sends) right after a style switch was sent."""
    c = Case("oom_kill_during_style_load", work, duration)
    show = c.start()
    time.sleep(2)
    restarts = show.status()["engine_restarts"]
    pid = _engine_pid(show)
    t = time.monotonic()
    threading.Thread(target=show.command, args=("style sketch",), daemon=True).start()
    time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    c.recover("engine back in the new style",
              lambda s: s["engine_restarts"] > restarts and s["engine_state"] == "live" and s["style_target"] == "sketch", t)
    return c.finish()


def case_file_end(work: Path, duration: float) -> Result:
    """A finite file source ends: the engine is drained and the show stops by itself."""
    src = work / "file_end_src.mp4"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=30", "-t", "30",
                    "-pix_fmt", "yuv420p", str(src)], check=True)
    c = Case("source_file_end", work, 300, {"source": f'[source]\nplugin = "file"\nsettings = {{ path = "{src}" }}'})
    c.start(finite=True)
    r = c.finish(ended_by_itself=True)
    r.expected = 900  # the file's own frames
    r.note = "show ended with the file" + r.note
    return r


def case_ndi_source_lost(work: Path, duration: float) -> Result:
    """The NDI sender dies (a camera unplugged, a sender PC rebooted) for 5 s, then comes back."""
    name = f"L2D Chaos {os.getpid()}"
    sender_cmd = [sys.executable, str(Path(__file__).resolve().parent / "chaos_ndi_sender.py"), name]
    sender = subprocess.Popen(sender_cmd)
    source = (f'[source]\nplugin = "ndi"\nsettings = {{ source = "{name}", extra_ips = "127.0.0.1", '
              f"connect_timeout_s = 5 }}")
    try:
        c = Case("ndi_sender_lost_and_back", work, duration, {"source": source})
        show = c.start()
        time.sleep(2)
        sender.kill()
        sender.wait(10)
        t = time.monotonic()
        show.wait_status("source lost", lambda s: s["state"] == "no_signal", 30)
        c.result.note = f"NO SIGNAL after {time.monotonic() - t:.1f} s; "
        time.sleep(5)
        reconnects = show.status()["source_reconnects"]
        sender = subprocess.Popen(sender_cmd)
        t = time.monotonic()
        c.recover("source back and engine live", lambda s: s["state"] == "live" and s["input_fps"] > 10, t, 90)
        c.result.note += f"{show.status()['source_reconnects'] - reconnects} reconnect tries after the restart"
        return c.finish()
    finally:
        sender.kill()
        sender.wait(10)


def case_sink_disk_full(work: Path, duration: float) -> Result:
    """The recording's filesystem fills up (tmpfs of 4 MB), then space is freed: the sink reopens."""
    mount = work / "disk_full_fs"
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        c = Case("disk_full_then_freed", work, duration, out_dir=mount)
        show = c.start()
        time.sleep(2)
        filler = mount / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], stderr=subprocess.DEVNULL, check=False)
        mark = len(show.lines)
        show.wait_for(r"sink FileSink dropped|failed to write", 60, after=mark)
        time.sleep(3)
        reopens = show.status()["sink_reopens"]
        filler.unlink()
        t = time.monotonic()
        c.recover("sink reopened", lambda s: s["sink_reopens"] > reopens, t)
        r = c.finish()
        parts = sorted(p.name for p in mount.glob("out*.mp4"))
        played = [decode(mount / p) for p in parts]
        r.frames = sum(d.frames for d in played)
        r.missing = sum(d.missing_slots for d in played)  # inside each file; the outage itself cannot be written
        r.max_gap_s = max((d.max_gap for d in played), default=0) / FPS
        r.increasing = all(d.increasing for d in played)
        r.note = f"files {parts} (frames during the outage are lost: nowhere to write)"
        return r
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def case_control_garbage(work: Path, duration: float) -> Result:
    """200 concurrent connections, invalid UTF-8, a 10 MB line, unknown commands: the show goes on."""
    c = Case("control_flood_and_garbage", work, duration)
    show = c.start()
    assert show.port is not None
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", show.port), timeout=10)
        socks.append(s)
    for i, s in enumerate(socks):
        payload = [b"\xff\xfe\xfd garbage \xc3\x28\n", b"frobnicate everything\n", b"GET /\xff HTTP/1.1\r\n\r\n"][i % 3]
        try:
            s.sendall(payload)
        except OSError:
            pass
    big = socket.create_connection(("127.0.0.1", show.port), timeout=30)
    try:
        big.sendall(b"x" * (10 * 1024 * 1024) + b"\n")
    except OSError:
        pass
    t = time.monotonic()
    status = show.status()
    c.result.recovery_s.append(time.monotonic() - t)
    for s in [*socks, big]:
        s.close()
    c.result.note = f"status answered during the flood (state {status['state']})"
    return c.finish()


def case_profile_garbage(work: Path, duration: float) -> Result:
    """The profile is overwritten with garbage during hot reload, then fixed."""
    c = Case("profile_garbage_then_fixed", work, duration)
    show = c.start()
    good = c.profile.read_text(encoding="utf-8")
    mark = len(show.lines)
    c.profile.write_bytes(b"\xff\x00[[[ not toml = \n" * 100)
    show.wait_for(r"profile edit rejected", 30, after=mark)
    time.sleep(2)
    t = time.monotonic()
    c.profile.write_text(good.replace("a sketch style portrait", "a pencil sketch"), encoding="utf-8")
    show.wait_for(r"reloaded", 30, after=mark)
    c.result.recovery_s.append(time.monotonic() - t)
    c.result.note = "garbage rejected, fixed profile applied"
    return c.finish()


CASES: dict[str, Callable[[Path, float], Result]] = {
    "engine_kill": case_engine_kill,
    "engine_hang": case_engine_hang,
    "style_load_crash": case_style_load_crash,
    "file_end": case_file_end,
    "ndi_source_lost": case_ndi_source_lost,
    "disk_full": case_sink_disk_full,
    "control_garbage": case_control_garbage,
    "profile_garbage": case_profile_garbage,
}


def soak(work: Path, minutes: float, bound_mb: float) -> bool:
    c = Case("soak", work, minutes * 60)
    show = c.start()
    styles = ["cartoon", "sketch"]
    samples: list[tuple[float, dict[str, float]]] = []
    end = time.monotonic() + minutes * 60
    i = 0
    while time.monotonic() < end:
        show.command(f"style {styles[i % 2]}")
        i += 1
        samples.append((time.monotonic() - c.started, show.rss()))
        time.sleep(5)
    status = show.status()
    show.stop()
    warm = next((s for t, s in samples if t >= 60), samples[0][1])
    last = samples[-1][1]
    print(f"soak: {minutes:g} min, {i} style switches ({status['switches']} reached the sink), "
          f"{status['engine_restarts']} engine restarts")
    print("| process | RSS warm (MB) | RSS end (MB) | growth (MB) | max (MB) |\n|---|---|---|---|---|")
    ok = True
    for name in sorted(last):
        peak = max(s.get(name, 0.0) for _, s in samples)
        growth = last[name] - warm.get(name, last[name])
        ok = ok and growth <= bound_mb
        print(f"| {name} | {warm.get(name, 0):.0f} | {last[name]:.0f} | {growth:+.0f} | {peak:.0f} |")
    print(f"soak {'PASS' if ok else 'FAIL'}: bound {bound_mb:g} MB growth per process after the first minute")
    return ok


def main() -> int:
    global PASSTHROUGH_MODEL, MAX_GAP_S
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each show runs")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--soak", type=float, default=None, metavar="MINUTES")
    parser.add_argument("--soak-bound-mb", type=float, default=64.0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, recordings)")
    parser.add_argument("--passthrough-model", action="store_true",
                        help="identity engine instead of the tiny diffusion models (same processes)")
    parser.add_argument("--max-gap", type=float, default=MAX_GAP_S,
                        help=f"longest step between recorded frames a PASS allows, s (default {MAX_GAP_S:.3f}: one slot)")
    parser.add_argument("--markdown", action="store_true",
                        help="print only the record for docs/reliability.md (machine, load, command, date, table)")
    args = parser.parse_args()
    PASSTHROUGH_MODEL, MAX_GAP_S = args.passthrough_model, args.max_gap
    work = Path(tempfile.mkdtemp(prefix="l2d-chaos-"))
    load = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    progress = sys.stderr if args.markdown else sys.stdout
    print(f"chaos on {platform.node()} ({os.cpu_count()} cores, load {load:.1f}), Python {platform.python_version()}, "
          f"{started}, engine {'passthrough' if PASSTHROUGH_MODEL else 'tiny diffusion'}; work folder {work}",
          file=progress)
    try:
        if args.soak is not None:
            return 0 if soak(work, args.soak, args.soak_bound_mb) else 1
        results = []
        for name in args.cases.split(","):
            try:
                results.append(CASES[name](work, args.duration))
            except Exception as exc:  # noqa: BLE001 - one failing case is a FAIL row, not the end of the suite
                results.append(Result(name, ok=False, note=f"{type(exc).__name__}: {str(exc)[:200]}"))
            print(results[-1].row(), file=progress, flush=True)
        if args.markdown:
            engine = "identity engine (--passthrough-model)" if PASSTHROUGH_MODEL else "tiny diffusion engine, 64x64"
            print(f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.machine()}; load average {load:.1f} "
                  f"at the start, {os.getloadavg()[0]:.1f} at the end; Python {platform.python_version()}; {started}; "
                  f"{engine}.\nCommand: `python scripts/chaos.py {' '.join(sys.argv[1:])}`\n")
        print(HEADER)
        for r in results:
            print(r.row())
        return 0 if all(r.passed for r in results) else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
