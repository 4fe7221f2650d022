"""One training stage on diffusers + accelerate: single GPU, multi-GPU and multi-node alike.

Run it directly (one process) or under ``accelerate launch`` (DDP across processes and machines;
FSDP / DeepSpeed through accelerate's config file): this file holds no process code of its own.

Flow (``Trainer.run``):
  1. accelerator (gradient accumulation, mixed precision), model dtype, weight initialisation;
  2. the stage's trainable parameters and masked temporal attention (``model.prepare_stage``);
  3. data: chunks of ``window`` frames, a seeded per-epoch permutation sharded across processes;
  4. resume from a checkpoint folder (weights, Adam state, step) if asked;
  5. loop: encode chunk (frozen VAE / depth / CLIP) -> noise-prediction loss -> backward ->
     (every ``grad_accumulation`` micro-batches) clip, Adam step; checkpoint every N steps;
  6. export the motion modules + depth adapter in live2diff.ckpt's layout.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import GradientAccumulationPlugin, set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..engine.components import Live2DiffComponents
from ..engine.config import CausalWindow
from .checkpoint_io import export_live2diff, load_animatediff_motion, load_depth_adapter
from .config import TrainConfig
from .data import EpochSampler, TrainingDataError, VideoChunkDataset, collate
from .loss import ChunkEncoder, noise_prediction_loss
from .model import prepare_stage

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


@dataclass
class TrainResult:
    step: int
    losses: list[float] = field(default_factory=list)  # per optimizer step, mean over processes
    exported: Path | None = None
    seconds_per_step: float = 0.0


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        components: Live2DiffComponents,
        captions: Path | None = None,
        motion_init: Path | None = None,
        init: Path | None = None,
    ) -> None:
        self.config, self.components = config, components
        self.captions, self.motion_init, self.init = captions, motion_init, init

    def run(self, resume: Path | None = None) -> TrainResult:
        cfg = self.config
        # 1. accelerator and weights
        accelerator = Accelerator(
            gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=cfg.grad_accumulation, sync_with_dataloader=False),
            mixed_precision="no" if cfg.precision == "fp64" else cfg.precision,
            project_dir=str(cfg.output),
            cpu=not torch.cuda.is_available(),  # no GPU: processes started by accelerate launch join over gloo
        )
        set_seed(cfg.seed)
        device = accelerator.device
        dtype = torch.float64 if cfg.precision == "fp64" else torch.float32
        c = self.components.to(device, dtype)
        if self.motion_init is not None:
            n = load_animatediff_motion(c.unet, self.motion_init)
            logger.info("motion modules initialised from %s (%d tensors)", self.motion_init, n)
        if self.init is not None:
            load_animatediff_motion(c.unet, self.init)
            if cfg.stage == 2:
                logger.info("%s: motion modules loaded; stage 2 starts a fresh depth adapter", self.init)
        # 2. what trains
        causal = CausalWindow(cfg.window, cfg.warmup)
        trainable = prepare_stage(c.unet, cfg.stage, causal, seed=cfg.seed)
        if self.init is not None and cfg.stage == 1:
            load_depth_adapter(trainable.depth_adapter, self.init)
        c.unet.train()
        # 3. data
        dataset = VideoChunkDataset(cfg.data, cfg.window, cfg.height, cfg.width, cfg.chunk_stride, self.captions)
        sampler = EpochSampler(len(dataset), cfg.seed)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                            num_workers=cfg.num_workers, collate_fn=collate)
        optimizer = torch.optim.Adam(trainable.parameters, lr=cfg.learning_rate)
        model, optimizer, loader = accelerator.prepare(c.unet, optimizer, loader)
        per_epoch = len(loader)
        if per_epoch == 0:
            raise TrainingDataError(
                f"{cfg.data}: {len(dataset)} chunk(s) make no full batch of {cfg.batch_size} x "
                f"{accelerator.num_processes} process(es); add videos or lower --batch-size"
            )
        encoder = ChunkEncoder(c, cfg.clip_skip)
        alphas = c.scheduler.alphas_cumprod
        # 4. resume
        step = 0
        if resume is not None:
            step = self._load(accelerator, resume)
        # 5. loop
        result = TrainResult(step=step)
        micro = step * cfg.grad_accumulation
        bar = tqdm(total=cfg.max_steps, initial=step, desc=f"stage {cfg.stage}", unit="step",
                   disable=not accelerator.is_main_process)
        started, step_losses = time.perf_counter(), []
        while step < cfg.max_steps:
            epoch, skip = divmod(micro, per_epoch)
            sampler.select_epoch(epoch)
            for batch in accelerator.skip_first_batches(loader, skip) if skip else loader:
                with accelerator.accumulate(model):
                    chunk = encoder(batch["frames"].to(device, dtype), batch["caption"], with_depth=cfg.stage == 2)
                    loss = noise_prediction_loss(model, chunk, batch["index"], epoch, cfg.seed, alphas)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.max_grad_norm is not None:
                        accelerator.clip_grad_norm_(trainable.parameters, cfg.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad()
                micro += 1
                step_losses.append(accelerator.gather(loss.detach()[None]).mean().item())
                if not accelerator.sync_gradients:
                    continue
                step += 1
                result.losses.append(sum(step_losses) / len(step_losses))
                step_losses = []
                bar.update(1)
                bar.set_postfix(loss=f"{result.losses[-1]:.4f}")
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.max_steps:
                    self._save(accelerator, step)
                if step >= cfg.max_steps:
                    break
        bar.close()
        ran = len(result.losses)
        result.seconds_per_step = (time.perf_counter() - started) / max(ran, 1)
        result.step = step
        # 6. final checkpoint and export
        self._save(accelerator, step)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            unet = accelerator.unwrap_model(model)
            adapter = unet.depth_adapter if cfg.stage == 2 else trainable.depth_adapter
            result.exported = export_live2diff(unet, adapter, cfg.output / f"live2diff-stage{cfg.stage}.{cfg.export_format}")
            logger.info("exported %s", result.exported)
        accelerator.end_training()
        return result

    def _save(self, accelerator: Accelerator, step: int) -> None:
        folder = self.config.output / "checkpoints" / f"step-{step:07d}"
        accelerator.save_state(str(folder))
        if accelerator.is_main_process:
            (folder / STATE_FILE).write_text(json.dumps({"step": step, "stage": self.config.stage, "num_processes": accelerator.num_processes}), encoding="utf-8")
            older = sorted((self.config.output / "checkpoints").glob("step-*"))[: -self.config.keep_checkpoints]
            for old in older:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()

    def _load(self, accelerator: Accelerator, resume: Path) -> int:
        if resume.name == "latest":
            found = sorted((self.config.output / "checkpoints").glob("step-*"))
            if not found:
                raise FileNotFoundError(f"{self.config.output / 'checkpoints'}: no checkpoint to resume from")
            resume = found[-1]
        state_file = resume / STATE_FILE
        if not state_file.is_file():
            raise FileNotFoundError(f"{resume}: not a training checkpoint (no {STATE_FILE}); pass a checkpoints/step-N folder")
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if state.get("stage") != self.config.stage:
            raise ValueError(f"{resume}: a stage-{state.get('stage')} checkpoint, resuming stage {self.config.stage}")
        accelerator.load_state(str(resume))
        logger.info("resumed from %s at step %d", resume, state["step"])
        return int(state["step"])
