"""Building, refitting and loading TensorRT engines from the exported ONNX graphs.

``tensorrt`` is an optional extra (``pip install 'live2diff-broadcast[tensorrt]'``, from NVIDIA's
index) and is imported only here, lazily. Builds show per-phase progress and a time estimate
(from the last build of the same kind on this GPU when there is one). Engines are built with
the REFIT flag by default, so a style or LoRA change refits the weights of a cached engine
(seconds) instead of rebuilding it (minutes).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .errors import BackendUnavailable, EngineBuildError

logger = logging.getLogger(__name__)

# Rough first-build durations on a recent GPU (seconds), used when no earlier build is recorded.
FIRST_BUILD_GUESS_S = {"unet_stream": 900.0, "taesd_encoder": 60.0, "taesd_decoder": 60.0, "depth": 240.0}


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailable(
            "TensorRT is not installed (pip install 'live2diff-broadcast[tensorrt]' on an NVIDIA machine; "
            "the wheels come from NVIDIA's index)"
        ) from exc
    return tensorrt


def _progress_monitor(trt: Any, label: str, estimate_s: float | None) -> Any:
    """A trt.IProgressMonitor that logs phases, percent of the top phase, elapsed and remaining time."""

    class Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.start = time.monotonic()
            self.steps: dict[str, int] = {}
            self.top: str | None = None
            self.last_log = 0.0

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.steps[phase_name] = max(num_steps, 1)
            if parent_phase is None:
                self.top = phase_name
            logger.info("[%s] %s%s", label, "  " if parent_phase else "", phase_name)

        def step_complete(self, phase_name: str, step: int) -> bool:
            now = time.monotonic()
            if phase_name == self.top and now - self.last_log > 10:
                self.last_log = now
                frac = (step + 1) / self.steps[phase_name]
                elapsed = now - self.start
                remaining = elapsed / frac - elapsed if frac > 0.05 else (estimate_s or 0) - elapsed
                logger.info("[%s] %3.0f%%  elapsed %s  ~%s left", label, 100 * frac, _mmss(elapsed), _mmss(max(remaining, 0)))
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            if phase_name == self.top:
                logger.info("[%s] %s done after %s", label, phase_name, _mmss(time.monotonic() - self.start))

    return Progress()


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    precision: str,
    refittable: bool = True,
    workspace_gib: float = 8.0,
    estimate_s: float | None = None,
    label: str = "tensorrt",
) -> float:
    """Build a serialized engine from ``onnx_path`` into ``plan_path``; returns the build seconds.

    Raises EngineBuildError naming the graph and the cause (parse errors, out of memory).
    """
    trt = import_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    if estimate_s:
        logger.warning("[%s] building a TensorRT engine: about %s (one time; cached afterwards)", label, _mmss(estimate_s))
    else:
        logger.warning("[%s] building a TensorRT engine: this can take many minutes the first time", label)
    start = time.monotonic()
    try:
        builder = trt.Builder(trt_logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, trt_logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineBuildError(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif precision == "bf16":
            config.set_flag(trt.BuilderFlag.BF16)
        elif precision != "fp32":
            raise EngineBuildError(f"unknown engine precision {precision!r}; expected fp32, fp16 or bf16")
        if refittable:
            config.set_flag(trt.BuilderFlag.REFIT)
        if hasattr(config, "progress_monitor"):
            config.progress_monitor = _progress_monitor(trt, label, estimate_s)
        serialized = builder.build_serialized_network(network, config)
    except EngineBuildError:
        raise
    except (MemoryError, RuntimeError) as exc:
        raise EngineBuildError(f"TensorRT build of {onnx_path.name} failed ({type(exc).__name__}: {exc}); "
                               f"out of GPU memory? close other GPU programs or lower the resolution") from exc
    if serialized is None:
        raise EngineBuildError(f"TensorRT build of {onnx_path.name} failed (see the TensorRT log above; "
                               f"usually out of GPU memory or an unsupported layer)")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan_path.with_suffix(".partial")
    tmp.write_bytes(bytes(serialized))
    tmp.replace(plan_path)  # atomic: a crashed build never leaves a half engine under the real name
    seconds = time.monotonic() - start
    logger.info("[%s] engine built in %s -> %s", label, _mmss(seconds), plan_path)
    return seconds


def refit_engine(plan_path: Path, onnx_path: Path, out_path: Path, label: str = "tensorrt") -> float:
    """Load a refittable engine, refit every weight from ``onnx_path`` (same graph, new weights),
    write it to ``out_path``; returns seconds. Raises EngineBuildError if TensorRT refuses."""
    trt = import_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    start = time.monotonic()
    engine = trt.Runtime(trt_logger).deserialize_cuda_engine(plan_path.read_bytes())
    if engine is None:
        raise EngineBuildError(f"cannot load engine {plan_path} for refitting (built by another TensorRT?)")
    refitter = trt.Refitter(engine, trt_logger)
    parser = trt.OnnxParserRefitter(refitter, trt_logger)
    if not parser.refit_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"refitting {plan_path.name} from {onnx_path} failed: {errors}")
    if not refitter.refit_cuda_engine():
        raise EngineBuildError(f"TensorRT refused to refit {plan_path.name} (missing weights: "
                               f"{list(refitter.get_missing_weights())[:5]})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".partial")
    tmp.write_bytes(bytes(engine.serialize()))
    tmp.replace(out_path)
    seconds = time.monotonic() - start
    logger.info("[%s] engine refitted with new weights in %.1f s (no rebuild)", label, seconds)
    return seconds
