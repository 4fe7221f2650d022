"""Live2Diff streaming: warmup, then one stream-batch UNet call per incoming frame.

Per frame (``push``):
  1. depth prior and TAESD latents of the new frame;
  2. the first ``warmup`` frames are collected, then denoised together (bidirectional among
     themselves; their depth normalised jointly unless ``depth_normalise = "per_frame"``); their
     K/V become the sinks of every step's cache; they are the first outputs;
  3. afterwards each frame enters the pipeline at the noisiest step: one UNet call denoises n
     rows, row s holding the frame that entered s calls ago at step s, each row reading and
     writing its own step's cache;
  4. the row that finished its last step is decoded and emitted: output lags input by n - 1
     frames (``latency_frames``);
  5. the other rows are re-noised to the next step's level and shift down one row.

Pipeline-fill rows (before n frames have streamed) carry no frame and write only the cache's
scratch slot. With ``pipelined=False`` each frame instead runs its n steps one after another
(the reference the tests hold the pipelined path to; no latency, n UNet calls per frame).

Every UNet call goes through ``CausalUNet`` with the stream's own attention state and KV cache.
Pipelined calls go to ``runner``: that same eager ``CausalUNet`` unless ``accelerate`` attached a
compiled / onnxruntime / TensorRT runner built on it; warmup and sequential calls always run eagerly,
on ``sequential`` (the ``CausalUNet`` too, unless the stream was built with ``sequential_unet``: the
window-recompute baseline of ``engine/recompute.py``). Warmup and sequential frames run the one
denoising loop, ``StreamSchedule.sample``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .blend import BlendedNoise, BlendEnd, BlendPoint
from .causal_unet import CausalUNet, RunnerFactory, SequentialFactory, SequentialUNet, StreamRunner
from .components import Live2DiffComponents
from .config import StreamConfig
from .depth import RawDepth
from .guidance import guided
from .kv_cache import TemporalAttentionState
from .noise import NoiseSource
from .scheduler import StreamSchedule
from .text import PromptEncoder
from .timing import StageTimer
from .vae import LatentCodec

logger = logging.getLogger(__name__)

# (latents (B, 4, F, h, w), timesteps (B,), text (B*F, L, D), depth (B*F, 4, h, w)) -> eps (B, 4, F, h, w)
UNetCall = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class StreamOutput:
    """One translated frame: ``frame`` is the index of the input frame it belongs to."""

    frame: int
    image: torch.Tensor  # (3, H, W) in [0, 1]


@dataclass
class _Encoded:
    frame: int  # global input index
    latent: torch.Tensor  # (4, h, w)
    depth: torch.Tensor  # (4, h, w) clean depth latent, this frame's depth normalised on its own
    raw_depth: RawDepth  # (1, 1, H, W) before normalisation: a warmup normalises its frames jointly


class Live2DiffStream:
    """Stateful video-to-video translation of one live stream."""

    def __init__(
        self,
        components: Live2DiffComponents,
        config: StreamConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        pipelined: bool = True,
        sequential_unet: SequentialFactory | None = None,
    ) -> None:
        """``sequential_unet``: builds the warmup and sequential calls on the stream's CausalUNet
        (default: the CausalUNet itself, through the KV cache); needs ``pipelined=False``."""
        if sequential_unet is not None and pipelined:
            raise ValueError("a stream with its own sequential UNet calls (sequential_unet) must be built with pipelined=False")
        self.components, self.config, self.pipelined = components, config, pipelined
        self.sequential_factory = sequential_unet
        self.device, self.dtype = torch.device(device), dtype
        self.codec = LatentCodec(components.vae)
        self.text_embeds: torch.Tensor | None = None  # (1, L, D)
        self.prompt = ""  # the prompt of the settled style (set_prompt / adopt)
        self.timer = StageTimer(self.device)  # enable with stream.timer.enabled = True
        self.runner_factory: RunnerFactory | None = None  # set by accelerate()
        self.runner_calls = 0  # pipelined calls made through ``runner``
        self._accelerated = False
        self._build_steps(config)
        self._build_style(config)

        self.frames_seen = 0  # global input index of the next frame
        self.base = 0  # global index of local frame 0 (the first sink) of the current epoch
        self.last_emitted = -1  # global index of the last emitted output
        self.recent: deque[_Encoded] = deque(maxlen=config.causal.warmup)  # for rewarm
        self.pending: list[_Encoded] = []  # frames collected for the next warmup

    def _build_steps(self, config: StreamConfig) -> None:
        """Everything shaped by the denoising steps: schedule, attention state, KV cache, rows."""
        n = config.num_steps
        self.schedule = StreamSchedule(
            self.components.scheduler, config.t_index_list, config.num_schedule_steps, self.device, self.dtype
        )
        self.state = TemporalAttentionState(config.causal, max_rows=n, device=self.device, dtype=self.dtype)
        self.unet = CausalUNet(self.components.unet, self.state, n)
        self.cache = self.unet.cache
        factory = self.sequential_factory
        self.sequential: SequentialUNet = self.unet if factory is None else factory(self.unet)
        self.runner: StreamRunner = self.unet
        if self.runner_factory is not None:  # the accelerated runner follows the new state and cache
            logger.info("denoising steps changed to %d: building a new stream runner for them", n)
            self.runner = self.runner_factory(self.unet, (config.height, config.width))
        elif self._accelerated:
            logger.warning("denoising steps changed to %d and the accelerated runner cannot be rebuilt: "
                           "pipelined calls run on eager PyTorch from now on", n)
            self._accelerated = False
        # Pipeline rows: row s holds a frame at denoising step s (static buffers).
        self.rows_x = torch.zeros((n, 4, config.height // 8, config.width // 8), device=self.device, dtype=self.dtype)
        self.rows_depth = torch.zeros_like(self.rows_x)
        self.rows_noise = torch.zeros_like(self.rows_x)  # the noise each row was last noised with (guidance)
        self.rows_frame: list[int | None] = [None] * n  # local frame index per row (None = fill)

    def _build_style(self, config: StreamConfig) -> None:
        """The cheap per-style parts: noise and prompt encoding."""
        latent_shape = (4, config.height // 8, config.width // 8)
        self.noise: NoiseSource | BlendedNoise = NoiseSource(config.seed, config.noise_mode, latent_shape, self.device, self.dtype)
        c = self.components
        self.prompts = PromptEncoder(c.tokenizer, c.text_encoder, config.clip_skip, config.prompt_template)

    # ---- public API -------------------------------------------------------------------------

    @property
    def latency_frames(self) -> int:
        """Frames between an input and its output once streaming (n - 1 when pipelined)."""
        return self.config.num_steps - 1 if self.pipelined else 0

    def reconfigure(self, config: StreamConfig) -> None:
        """Apply a style's stream settings in place: seed, noise mode, prompt template, clip skip,
        and the denoising steps (``t_index_list``; a different step count reallocates the KV cache
        once). Resolution and window are structural and need a new stream. Follow with
        ``set_prompt`` and ``rewarm``: the pipeline is cleared here."""
        old = self.config
        if (config.height, config.width, config.causal) != (old.height, old.width, old.causal):
            raise ValueError(
                f"resolution and window need a new stream: have {old.width}x{old.height} {old.causal}, "
                f"got {config.width}x{config.height} {config.causal}"
            )
        self.config = config
        if config.t_index_list != old.t_index_list or config.num_schedule_steps != old.num_schedule_steps:
            self._build_steps(config)
        self._build_style(config)
        self._clear_pipeline()

    def continue_on(self, components: Live2DiffComponents, config: StreamConfig) -> Live2DiffStream:
        """A stream on other components (another checkpoint / LoRA set) that carries on where this
        one is: same input indices and the same recent frames (their latents and depth came from
        the shared VAE and depth model, so they stay valid). Follow with ``set_prompt`` and
        ``rewarm``; this stream is not used afterwards."""
        old = self.config
        if (config.height, config.width, config.causal) != (old.height, old.width, old.causal):
            raise ValueError(
                f"resolution and window need a new engine: have {old.width}x{old.height} {old.causal}, "
                f"got {config.width}x{config.height} {config.causal}"
            )
        new = Live2DiffStream(components, config, device=self.device, dtype=self.dtype, pipelined=self.pipelined,
                              sequential_unet=self.sequential_factory)
        new.frames_seen, new.base, new.last_emitted = self.frames_seen, self.base, self.last_emitted
        new.recent.extend(self.recent)
        new.timer.enabled = self.timer.enabled
        return new

    def accelerate(self, runner: StreamRunner, factory: RunnerFactory | None = None) -> None:
        """Run the pipelined stream calls on ``runner`` (built on ``self.unet``: same state and cache).

        ``factory`` rebuilds one whenever the steps change (``reconfigure``); without it the stream
        goes back to eager PyTorch then, and says so.
        """
        if runner.state is not self.state or runner.cache is not self.cache:
            raise ValueError(f"the {runner.name} runner is bound to another stream's attention state / KV cache")
        self.runner, self.runner_factory, self._accelerated = runner, factory, True

    def set_prompt(self, prompt: str) -> None:
        """Encode a new prompt. Call ``rewarm`` after it so the sinks take on the new style."""
        self.text_embeds = self.prompts(prompt).to(self.device, self.dtype)
        self.prompt = prompt

    def set_blend(self, point: BlendPoint) -> None:
        """Run the next frames at a blend point (``engine/blend.py``): its embeddings, noise and steps.

        No re-warm and no pipeline clear: the KV cache stays valid (same step count, so the same
        slots); frames in flight continue at the new steps' coefficients. The sinks keep the style
        they were warmed in until a re-warm (``settle``), the rolling window refreshes by itself."""
        if len(point.t_index_list) != self.config.num_steps:
            raise ValueError(f"a blend point needs {self.config.num_steps} denoising steps, got {list(point.t_index_list)}")
        self.text_embeds = point.embeds.to(self.device, self.dtype)
        self.noise = point.noise
        if point.guidance != self.config.guidance:
            self.config = dataclasses.replace(self.config, guidance=point.guidance)
        if point.t_index_list != self.config.t_index_list:
            self.config = dataclasses.replace(self.config, t_index_list=point.t_index_list)
            self.schedule = StreamSchedule(
                self.components.scheduler, point.t_index_list, self.config.num_schedule_steps, self.device, self.dtype
            )

    def adopt(self, end: BlendEnd) -> None:
        """Become style ``end`` without a re-warm (a crossfade that lets the window refresh): its
        config, noise, prompt encoder and embeddings; the cache and the pipeline stay."""
        self.set_blend(BlendPoint(1.0, end.embeds, end.noise, end.config.t_index_list, end.config.guidance))
        self.config, self.prompt = end.config, end.prompt
        self._build_style(end.config)

    @torch.no_grad()
    def push(self, image: torch.Tensor) -> list[StreamOutput]:
        """Feed one frame (3, H, W) in [0, 1]; return the outputs that became ready, in order."""
        if self.text_embeds is None:
            raise RuntimeError("set_prompt() must be called before push()")
        # 1. depth prior and latents
        encoded = self._encode(image)
        self.recent.append(encoded)
        local = encoded.frame - self.base
        # 2. warmup: collect, then denoise the sinks together
        if local < self.config.causal.warmup:
            self.pending.append(encoded)
            if len(self.pending) < self.config.causal.warmup:
                return []
            return self._emit(self._warmup(self._as_sinks(self.pending)))
        # 3-5. stream this frame
        if self.pipelined:
            return self._emit(self._stream_pipelined(local, encoded))
        return self._emit(self._stream_sequential(local, encoded))

    @torch.no_grad()
    def flush(self) -> list[StreamOutput]:
        """Finish every frame still in the pipeline (end of a file); no new input needed."""
        outputs: list[StreamOutput] = []
        while any(f is not None for f in self.rows_frame):
            outputs += self._emit(self._stream_pipelined(None, None))
        return outputs

    def reset(self) -> None:
        """Start over: the next ``warmup`` input frames become the new sinks (e.g. on a scene cut)."""
        self.base = self.frames_seen
        self.pending.clear()
        self._clear_pipeline()

    @torch.no_grad()
    def rewarm(self) -> list[StreamOutput]:
        """Re-run warmup on the last ``warmup`` input frames (e.g. after ``set_prompt``).

        The sinks of every step's cache are recomputed for the current prompt, so the old style
        no longer pulls the output back; streaming continues with the next frame, no gap. Frames
        that were still in the pipeline are emitted now from the warmup pass. With fewer recent
        frames than ``warmup``, this is ``reset``.
        """
        if len(self.recent) < self.config.causal.warmup:
            self.reset()
            return []
        frames = list(self.recent)
        self.base = frames[0].frame
        self.pending.clear()
        self._clear_pipeline()
        return self._emit(self._warmup(self._as_sinks(frames)))

    # ---- steps --------------------------------------------------------------------------------

    def _encode(self, image: torch.Tensor) -> _Encoded:
        images = image[None].to(self.device, self.dtype)  # (1, 3, H, W)
        with self.timer.stage("depth"):
            raw = self.components.depth.raw(images, self.config.depth_resize)  # (1, 1, H, W), unnormalised
        with self.timer.stage("encode"):
            depth_latent = self._depth_latents(raw.normalised())
            latent = self.codec.encode(images)
        frame = self.frames_seen
        self.frames_seen += 1
        return _Encoded(frame, latent[0], depth_latent[0], raw)

    def _depth_latents(self, depth: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised depth in [0, 1] -> (B, 4, h, w) clean latents (3 channels, as the VAE takes)."""
        return self.codec.encode(depth.expand(-1, 3, -1, -1))

    def _as_sinks(self, frames: list[_Encoded]) -> list[_Encoded]:
        """The frames a warmup denoises, with the sinks' depth: normalised over all of them at once
        (``warmup_joint``, the authors' warmup) or each on its own (``per_frame``: as streamed)."""
        if self.config.depth_normalise == "per_frame":
            return frames
        with self.timer.stage("encode"):
            joint = self._depth_latents(RawDepth.cat([f.raw_depth for f in frames]).normalised(joint=True))
        return [dataclasses.replace(f, depth=d) for f, d in zip(frames, joint, strict=True)]

    def _unet(self, call: UNetCall, x: torch.Tensor, timesteps: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """x (B, F, 4, h, w) -> eps (B, F, 4, h, w) through ``call`` (a warmup or stream call, or a
        plain UNet); timesteps (B,); depth (B*F, 4, h, w)."""
        assert self.text_embeds is not None
        b, f = x.shape[:2]
        text = self.text_embeds.expand(b * f, -1, -1)  # (B*F, L, D)
        with self.timer.stage("unet"):
            eps = call(x.transpose(1, 2), timesteps, text, depth)  # (B, 4, F, h, w)
        return eps.transpose(1, 2)

    def _warmup(self, frames: list[_Encoded]) -> list[tuple[int, torch.Tensor]]:
        """Denoise the sink frames together, step by step; fills slots 0..warmup-1 of each cache."""
        latents = torch.stack([f.latent for f in frames])  # (w, 4, h, w)
        depth = torch.stack([f.depth for f in frames])
        w = len(frames)

        def eps(s: int, x: torch.Tensor) -> torch.Tensor:  # x (w, 4, h, w) -> (w, 4, h, w)
            self.state.set_warmup(s)
            return self._unet(self.sequential.warmup, x[None], self.schedule.timesteps[s : s + 1], depth)[0]

        denoised = self.schedule.sample(latents, lambda s: torch.stack([self.noise(j, s) for j in range(w)]), eps,
                                        self.config.guidance)
        self.pending = []
        return [(f.frame, d) for f, d in zip(frames, denoised, strict=True)]

    def _stream_pipelined(self, local: int | None, encoded: _Encoded | None) -> list[tuple[int, torch.Tensor]]:
        """One stream-batch call; ``encoded`` None advances the pipeline with a fill row (flush)."""
        n = self.config.num_steps
        if encoded is None or local is None:
            self.rows_x[0].zero_()
            self.rows_depth[0].zero_()
            self.rows_noise[0].zero_()
            self.rows_frame[0] = None
        else:
            self.rows_noise[0] = self.noise(local, 0)
            self.rows_x[0] = self.schedule.add_noise(encoded.latent, self.rows_noise[0], 0)
            self.rows_depth[0] = encoded.depth
            self.rows_frame[0] = local
        self.state.set_stream(0, self.rows_frame)
        self.runner_calls += 1
        eps = self._unet(self.runner, self.rows_x[:, None], self.schedule.timesteps, self.rows_depth)[:, 0]  # (n, 4, h, w)
        denoised = self.schedule.denoise(self.rows_x, guided(eps, self.rows_noise, self.config.guidance), slice(0, n))
        done = self.rows_frame[-1]
        ready = [] if done is None else [(self.base + done, denoised[-1])]
        if n > 1:  # re-noise rows 0..n-2 to the next step and shift them down one row
            noise = torch.stack([self._row_noise(f, s + 1) for s, f in enumerate(self.rows_frame[:-1])])
            self.rows_x[1:] = self.schedule.add_noise(denoised[:-1], noise, slice(1, n))
            self.rows_noise[1:] = noise
            self.rows_depth[1:] = self.rows_depth[:-1].clone()
            self.rows_frame = [None, *self.rows_frame[:-1]]
        return ready

    def _stream_sequential(self, local: int, encoded: _Encoded) -> list[tuple[int, torch.Tensor]]:
        """One frame through its n steps, one UNet call (one row) each."""

        def eps(s: int, x: torch.Tensor) -> torch.Tensor:  # x (4, h, w) -> (4, h, w)
            self.state.set_stream(s, [local])
            return self._unet(self.sequential, x[None, None], self.schedule.timesteps[s : s + 1], encoded.depth[None])[0, 0]

        return [(encoded.frame, self.schedule.sample(encoded.latent, lambda s: self.noise(local, s), eps, self.config.guidance))]

    def _row_noise(self, frame: int | None, step: int) -> torch.Tensor:
        if frame is None:
            return torch.zeros_like(self.rows_x[0])
        return self.noise(frame, step)

    def _clear_pipeline(self) -> None:
        self.rows_frame = [None] * self.config.num_steps
        self.cache.zero_()

    def _emit(self, ready: list[tuple[int, torch.Tensor]]) -> list[StreamOutput]:
        """Decode latents of frames not emitted yet (older ones are dropped), oldest first."""
        fresh = [(frame, latent) for frame, latent in ready if frame > self.last_emitted]
        if not fresh:
            return []
        with self.timer.stage("decode"):
            images = self.codec.decode(torch.stack([latent for _, latent in fresh]))
        self.last_emitted = fresh[-1][0]
        return [StreamOutput(frame, image) for (frame, _), image in zip(fresh, images, strict=True)]
