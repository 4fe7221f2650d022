"""[engine]: resolution, denoising steps, causal window, device and UNet / depth / VAE backends."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...engine.config import CausalWindow, StreamConfig
from .base import Section
from .steps import TIndexList

# Engine sizes (width, height). 16:9 like the webcams it restyles; SD1.5 takes any multiple of 8. The tiny
# preset's default is small enough for several frames per second on a 2-core CPU (docs/benchmarks.md).
DEFAULT_SIZE = (768, 432)
TINY_SIZE = (256, 144)


class EngineSection(Section):
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    # Unset: 768x432, or 256x144 under the tiny preset. Frames of another aspect are scaled to cover this size
    # and cropped (the default; no bars, no distortion; media/resize.py), passthrough frames get the same crop.
    width: int = Field(default=DEFAULT_SIZE[0], ge=64, le=2048, multiple_of=8)
    height: int = Field(default=DEFAULT_SIZE[1], ge=64, le=2048, multiple_of=8)
    # Denoising steps over the 50-step LCM schedule (index i = timestep 999 - 20 i); its length is the
    # number of steps per frame (and the frames of output latency + 1). Styles may override it.
    # defaults come from the engine's own config: window, warmup and steps live in one place
    t_index_list: TIndexList = Field(default_factory=lambda: list(StreamConfig().t_index_list))
    window: int = Field(default=CausalWindow().window, ge=2)
    warmup: int = Field(default=CausalWindow().warmup, ge=1)
    # CLIP text layer from the end (A1111 / civitai "Clip skip"): 1 = last, 2 = penultimate, 3 = third from
    # last. The authors' configs say clip_skip: 2 meaning our 3 (schema/__init__.py). Styles may override it.
    clip_skip: int = Field(default=2, ge=1)
    # Depth prior preprocessing (engine/depth.py); the defaults are the authors'. "letterbox": pad to a
    # square instead of squashing (no distortion of 16:9 frames); "per_frame": warmup frames normalised
    # one by one instead of jointly (a sink's depth then does not depend on the other sinks).
    depth_resize: Literal["squash", "letterbox"] = "squash"
    depth_normalise: Literal["warmup_joint", "per_frame"] = "warmup_joint"
    # UNet backend. auto: "compiled" on NVIDIA GPUs, "pytorch" (eager) elsewhere. onnxruntime / tensorrt
    # export static-shape graphs (and build engines) into engine_dir once; any backend that cannot run
    # falls back to eager PyTorch with an error in the log and in telemetry, never silently.
    backend: Literal["auto", "pytorch", "compiled", "onnxruntime", "tensorrt"] = "auto"
    depth_backend: Literal["auto", "pytorch", "onnxruntime"] = "auto"  # auto: onnxruntime with onnxruntime/tensorrt
    vae_backend: Literal["auto", "pytorch", "onnxruntime"] = "auto"  # TAESD; same rule
    engine_dir: str | None = None  # ONNX graphs and TensorRT engines (default ~/.cache/live2diff_broadcast/engines)
    torch_compile: bool = True  # compiled backend: torch.compile the stream call
    cuda_graph: bool = True  # compiled backend: capture the stream call in a CUDA graph
    trt_refit: bool = True  # build refittable engines: a weights change refits instead of rebuilding
    onnx_opset: int = Field(default=17, ge=17, le=20)

    @model_validator(mode="after")
    def _window_holds_warmup(self) -> EngineSection:
        if self.window <= self.warmup:
            raise ValueError(f"window ({self.window}) must be greater than warmup ({self.warmup})")
        return self
