#!/usr/bin/env python
"""The GPU check in one command, inside a hard time budget: exactness tests on the device, the
precision figures, then eager and compiled (torch.compile + CUDA graphs) speed per step count.

    python scripts/gpu_check.py                       # CUDA: sd15 layout, 512x512, steps 1-4, fp16
    python scripts/gpu_check.py --smoke               # CPU: tiny preset, whole flow in seconds
    python scripts/gpu_check.py --record-from gpu_check.json   # add a fetched run's rows to the docs

Stages, in order, each skipped (and said so in the record) when the budget cannot fit it:
  1. exactness tests: pytest over the stream-level equivalence tests with
     LIVE2DIFF_TEST_DEVICE=<device> (their tiny components and streams on that device; the
     assertions are the CPU ones), plus the CUDA-graph parity test (fp32);
  2. precision: the eager stream's output in fp32 vs fp64 and in fp16 vs fp32, per frame;
  3. eager, then compiled, per step count: FPS, latency p50/p95, peak memory, KV bytes allocated
     vs analytic, UNet TFLOP/s against a measured matmul peak (scripts/benchmark.py's functions).
After every stage the JSON record is rewritten and the rows are written into docs/benchmarks.md
(``## GPU runs``), also copied under $OUT when set: a run killed at its limit keeps what it did.
Models have RANDOM weights (no download): speed and numerics only, never quality.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark  # noqa: E402  (scripts/benchmark.py: measure, unet_flops, matmul peak, Settings)
import gpu_report  # noqa: E402
from gpu_precision import precision_report  # noqa: E402

from live2diff_broadcast.accel.backend import apply_backend  # noqa: E402
from live2diff_broadcast.accel.geometry import analytic_kv_bytes, layer_geometry  # noqa: E402
from live2diff_broadcast.assembly import resolve_device  # noqa: E402
from live2diff_broadcast.engine.components import Live2DiffComponents  # noqa: E402
from live2diff_broadcast.engine.config import StreamConfig  # noqa: E402
from live2diff_broadcast.engine.stream import Live2DiffStream  # noqa: E402

logger = logging.getLogger("gpu_check")

EXACTNESS_TESTS = (
    "tests/engine/test_stream.py",
    "tests/engine/test_recompute.py",
    "tests/accel/test_stream_graph.py",
    "tests/accel/test_compiled.py",
)
SMOKE_TESTS = ("tests/engine/test_noise.py",)  # fast: the smoke run checks the plumbing, not the numbers


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="CPU, tiny preset, 64x64, steps 1,2, few frames")
    p.add_argument("--device", default="cuda")
    p.add_argument("--preset", choices=sorted(benchmark.PRESETS), default="sd15")
    p.add_argument("--size", default="512x512", help="WIDTHxHEIGHT")
    p.add_argument("--steps", default="1,2,3,4")
    p.add_argument("--backends", default="eager,compiled", help="in order; compiled = torch.compile + CUDA graphs")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="benchmark dtype (auto: fp16 on CUDA, fp32 on CPU)")
    p.add_argument("--frames", type=int, default=24, help="timed frames per speed row")
    p.add_argument("--precision-frames", type=int, default=16, help="streamed frames after warmup in the drift check")
    p.add_argument("--precision-steps", type=int, default=2)
    p.add_argument("--fp64", action=argparse.BooleanOptionalAction, default=True, help="fp32 vs fp64 reference too")
    p.add_argument("--tests", nargs="*", default=None, help="pytest paths for stage 1 (default: the exactness set)")
    p.add_argument("--tests-timeout", type=float, default=150.0)
    p.add_argument("--budget-s", type=float, default=420.0, help="hard internal budget; stages that do not fit are skipped")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (1 avoids OpenMP spin stalls on busy shared CPUs; --smoke sets it)")
    p.add_argument("--out", type=Path, default=None, help="record folder (default: $OUT, else out/gpu_check)")
    p.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"), help="Markdown file to add rows to, or 'none'")
    p.add_argument("--record-from", type=Path, default=None, help="only add the rows of this JSON record to --docs")
    args = p.parse_args(argv)
    if args.smoke:
        args.device, args.preset, args.size, args.steps = "cpu", "tiny", "64x64", "1,2"
        args.frames, args.precision_frames = 3, 4
        args.tests = list(SMOKE_TESTS) if args.tests is None else args.tests
        args.budget_s = min(args.budget_s, 120.0)
        args.threads = args.threads or 1
    return args


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "device": str(device), "device_name": platform.processor() or platform.machine() or "cpu",
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   multiprocessors=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30, 1),
                   cudnn=torch.backends.cudnn.version())
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        env["commit"] = "unknown (no git checkout here)"
    return env


def run_tests(paths: list[str], device: torch.device, out: Path, timeout: float) -> dict[str, Any]:
    """pytest over ``paths`` with the test device set; counts from its JUnit XML."""
    xml, log = out / "exactness.xml", out / "exactness.log"
    env = {**os.environ, "LIVE2DIFF_TEST_DEVICE": str(device)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *paths]
    with log.open("w") as handle:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
    suites = ET.parse(xml).getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    if suite is None:
        raise RuntimeError(f"{xml}: no <testsuite> in pytest's JUnit XML")
    total, failed, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    failures = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
                if case.find("failure") is not None or case.find("error") is not None]
    return {"device": str(device), "paths": paths, "exit_code": proc.returncode, "passed": total - failed - errors - skipped,
            "failed": failed + errors, "skipped": skipped, "failing": failures, "log": log.name}


def speed_row(master: Live2DiffComponents, kind: str, width: int, height: int, n: int, frames: int,
              device: torch.device, dtype: torch.dtype, engine_dir: Path, flops: int | None = None) -> dict[str, Any]:
    """One (backend, steps) measurement, put together from scripts/benchmark.py's functions. UNet FLOPs
    are counted on the eager UNet unless given (they depend on the step count only, not the backend)."""
    config = StreamConfig(height=height, width=width, t_index_list=benchmark.T_INDEX[n])
    components = copy.deepcopy(master)
    stream = Live2DiffStream(components, config, device, dtype)
    stream.set_prompt("benchmark")
    settings = benchmark.Settings(backend="pytorch" if kind == "eager" else kind, engine_dir=str(engine_dir),
                                  depth_backend="pytorch" if kind == "eager" else "auto",
                                  vae_backend="pytorch" if kind == "eager" else "auto")
    report = apply_backend(stream, settings)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    result = benchmark.measure(stream, frames, width, height, device)
    if flops is None:
        flops = benchmark.unet_flops(stream)
    eager_unet = getattr(components.unet, "eager", components.unet).unet
    window_only, with_scratch = analytic_kv_bytes(layer_geometry(eager_unet, height // 8, width // 8), n, config.causal, dtype)
    unet_ms = result["stage_ms"].get("unet", 0.0)
    result.update(
        backend=kind, active=report.active if kind != "eager" else "eager", fallback_reason=report.fallback_reason,
        width=width, height=height, steps=n, kv_analytic_window_bytes=window_only,
        kv_analytic_with_scratch_bytes=with_scratch, kv_matches_analytic=result["kv_cache_bytes"] == with_scratch,
        unet_flops_per_frame=flops, unet_tflops=flops / (unet_ms / 1000) / 1e12 if unet_ms else None,
        measure_seconds=time.perf_counter() - t0,
    )
    return result


@torch.no_grad()  # as a decorator: tests call main() in-process, so grad mode must come back on
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    docs = None if args.docs == "none" else Path(args.docs)
    if args.record_from:
        if docs is None:
            raise SystemExit("--record-from needs --docs (the Markdown file to add the rows to)")
        import json

        gpu_report.write_docs(json.loads(args.record_from.read_text()), docs, docs.read_text() if docs.exists() else "")
        print(f"added the rows of {args.record_from} to {docs}")
        return 0
    budget = Budget(args.budget_s)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU "
                         f"(built for CUDA {torch.version.cuda}); use --smoke or --device cpu")
    dtype = resolve_device(args.device, args.dtype)[1]
    width, height = benchmark.parse_sizes(args.size)[0]
    steps = [int(s) for s in args.steps.split(",")]
    if any(s not in benchmark.T_INDEX for s in steps):
        raise SystemExit(f"--steps entries must be among {sorted(benchmark.T_INDEX)}, got {args.steps}")
    out = args.out or Path(os.environ.get("OUT") or ROOT / "out" / "gpu_check")
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    base_docs = docs.read_text() if docs and docs.exists() else ""
    record: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "args": {k: str(v) for k, v in vars(args).items()},
        "environment": environment(device), "preset": args.preset, "dtype": str(dtype).removeprefix("torch."),
        "budget_s": args.budget_s, "stage_seconds": {}, "not_run": {}, "errors": [], "results": [],
        "exactness_tests": None, "precision": None, "matmul_peak_tflops": None,
    }

    def save() -> None:
        record["elapsed_s"] = round(budget.seconds - budget.left(), 1)
        gpu_report.write_record(record, out / "gpu_check.json")
        if docs is not None:
            gpu_report.write_docs(record, docs, base_docs)
            if out.resolve() != docs.parent.resolve():
                shutil.copyfile(docs, out / docs.name)

    def stage(name: str, need: float) -> bool:
        if budget.left() < need:
            record["not_run"][name] = f"budget: {budget.left():.0f} s left, needs ~{need:.0f} s"
            logger.warning("skipping %s: %s", name, record["not_run"][name])
            save()
            return False
        return True

    def done(name: str, t0: float) -> None:
        record["stage_seconds"][name] = round(time.monotonic() - t0, 1)
        save()

    def failed(name: str, exc: BaseException) -> None:
        logger.exception("%s failed", name)
        record["errors"].append({"stage": name, "error": f"{type(exc).__name__}: {exc}"})
        save()

    save()
    logger.info("device %s (%s), torch %s, budget %.0f s, record %s", device, record["environment"]["device_name"],
                torch.__version__, args.budget_s, out / "gpu_check.json")

    paths = list(args.tests) if args.tests is not None else list(EXACTNESS_TESTS)
    if paths and stage("exactness tests", 20):
        t0 = time.monotonic()
        try:
            record["exactness_tests"] = run_tests(paths, device, out, min(args.tests_timeout, budget.left() - 10))
        except subprocess.TimeoutExpired as exc:
            record["not_run"]["exactness tests"] = f"timed out after {exc.timeout:.0f} s (see exactness.log)"
        except (OSError, RuntimeError, ET.ParseError) as exc:
            failed("exactness tests", exc)
        done("exactness tests", t0)

    t0 = time.monotonic()
    master = benchmark.PRESETS[args.preset]()  # fp32 on the CPU; cast per use
    done("build components", t0)
    if stage("precision", 30):
        t0 = time.monotonic()
        half = torch.float16 if device.type == "cuda" or args.smoke else torch.bfloat16
        config = StreamConfig(height=height, width=width, t_index_list=benchmark.T_INDEX[args.precision_steps])
        try:
            record["precision"] = precision_report(master, config, device, args.precision_frames, half, args.fp64)
        except (RuntimeError, ValueError) as exc:
            failed("precision", exc)
        done("precision", t0)

    bench_master = master.to(device, dtype)
    record["matmul_peak_tflops"] = benchmark.matmul_peak_tflops(device, dtype)
    available = benchmark.available_backends(device)
    engine_dir = Path(tempfile.mkdtemp(prefix="live2diff-gpu-check-"))  # ONNX/TensorRT caches: not kept
    last: dict[str, float] = {}
    flops: dict[int, int] = {}
    for kind in args.backends.split(","):
        if kind not in available:
            record["not_run"][kind] = f"not available on {device.type} (available: {', '.join(available)})"
            save()
            continue
        for n in steps:
            name = f"{kind} n={n}"
            if not stage(name, last.get(kind, 150.0 if kind == "compiled" else 15.0)):
                continue
            t0 = time.monotonic()
            try:
                row = speed_row(bench_master, kind, width, height, n, args.frames, device, dtype, engine_dir, flops.get(n))
            except (RuntimeError, ValueError, AssertionError) as exc:
                failed(name, exc)
                continue
            record["results"].append(row)
            flops[n] = row["unet_flops_per_frame"]
            if row["fallback_reason"]:
                logger.warning("%s FELL BACK to %s: %s", name, row["active"], row["fallback_reason"])
            last[kind] = time.monotonic() - t0
            logger.info("%s: %.2f FPS, p50 %.1f ms, p95 %.1f ms, KV %s analytic", name, row["fps"], row["latency_ms_p50"],
                        row["latency_ms_p95"], "==" if row["kv_matches_analytic"] else "!=")
            done(name, t0)

    summary = [" | ".join(gpu_report.speed_row(record, r)) for r in record["results"]]
    print("\n".join(["", *summary, " | ".join(gpu_report.checks_row(record)), f"record: {out / 'gpu_check.json'}"]))
    tests = record["exactness_tests"]
    return 1 if record["errors"] or (tests and tests["failed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
