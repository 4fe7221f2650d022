"""Training end to end on tiny models: it learns, it resumes bit for bit, and DDP over two
processes (gloo, localhost) equals one process with the doubled batch."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from live2diff_broadcast.engine.components import tiny_components
from live2diff_broadcast.training.config import TrainConfig
from live2diff_broadcast.training.data import VideoChunkDataset, collate
from live2diff_broadcast.training.loss import ChunkEncoder, noise_prediction_loss
from live2diff_broadcast.training.trainer import Trainer

from ..evaluation.synthetic import moving_clip, write_video

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(window=4, warmup=2, height=32, width=32, checkpoint_every=0)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    for i in range(2):
        write_video(root / f"v{i}.avi", moving_clip(8, 32, 32, seed=i))
    return root


def _fixed_draw_loss(components, root: Path, stage: int) -> float:
    """Mean loss over 8 fixed noise / timestep draws of chunk 0 (independent of training's draws)."""
    batch = collate([VideoChunkDataset(root, 4, 32, 32, 4)[0]])
    encoder = ChunkEncoder(components)
    with torch.no_grad():
        chunk = encoder(batch["frames"], batch["caption"], with_depth=stage == 2)
        return sum(
            noise_prediction_loss(components.unet, chunk, batch["index"], 10_000 + e, 0, components.scheduler.alphas_cumprod).item()
            for e in range(8)
        ) / 8


def test_tiny_model_overfits_one_tiny_clip(tmp_path: Path) -> None:
    """25 Adam steps at lr 1e-2 on one 4-frame chunk: the loss on fixed draws falls by more than 1.3x."""
    root = tmp_path / "one"
    root.mkdir()
    write_video(root / "v.avi", moving_clip(4, 32, 32))
    components = tiny_components()
    config = TrainConfig(data=root, output=tmp_path / "out", stage=2, chunk_stride=4, max_steps=25,
                         learning_rate=1e-2, max_grad_norm=None, **SMALL)
    before_model = tiny_components()
    from live2diff_broadcast.engine.config import CausalWindow
    from live2diff_broadcast.training.model import prepare_stage

    prepare_stage(before_model.unet, 2, CausalWindow(4, 2))
    before = _fixed_draw_loss(before_model, root, 2)
    result = Trainer(config, components).run()
    after = _fixed_draw_loss(components, root, 2)
    assert result.step == 25 and len(result.losses) == 25
    assert after < before / 1.3, (before, after)


def test_resume_continues_bit_for_bit(clips: Path, tmp_path: Path) -> None:
    base = dict(data=clips, stage=2, chunk_stride=2, batch_size=1, grad_accumulation=2, **SMALL)
    straight = Trainer(TrainConfig(output=tmp_path / "a", max_steps=4, **base), tiny_components()).run()
    first = TrainConfig(output=tmp_path / "b", max_steps=2, **base)
    Trainer(first, tiny_components()).run()
    checkpoint = tmp_path / "b" / "checkpoints" / "step-0000002"
    assert json.loads((checkpoint / "trainer_state.json").read_text())["step"] == 2
    resumed = Trainer(TrainConfig(output=tmp_path / "b", max_steps=4, **base), tiny_components()).run(resume=checkpoint)
    assert resumed.step == 4 and resumed.losses == straight.losses[2:]
    a, b = load_file(str(straight.exported)), load_file(str(resumed.exported))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train_cli(clips: Path, out: Path, batch: int) -> list[str]:
    return [str(REPO / "scripts" / "train.py"), "train", str(clips), "--output", str(out), "--size", "32x32",
            "--window", "4", "--warmup", "2", "--chunk-stride", "2", "--max-steps", "2", "--batch-size", str(batch),
            "--precision", "fp64", "--checkpoint-every", "0", "--stage", "2"]


def test_ddp_two_processes_equal_one_process_with_doubled_batch(clips: Path, tmp_path: Path) -> None:
    """accelerate launch (torchrun; gloo on CPU), 2 processes x batch 1 vs 1 process x batch 2, float64.
    Tolerance 1e-10 (observed ~1e-14: only the order of the gradient sum differs)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port())]
    two = subprocess.run(launch + _train_cli(clips, tmp_path / "two", 1), capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, *_train_cli(clips, tmp_path / "one", 2)], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    state = json.loads(next((tmp_path / "two" / "checkpoints").glob("step-*/trainer_state.json")).read_text())
    assert state["num_processes"] == 2
    a = load_file(str(tmp_path / "one" / "live2diff-stage2.safetensors"))
    b = load_file(str(tmp_path / "two" / "live2diff-stage2.safetensors"))
    start = {k: v for k, v in load_file(str(tmp_path / "one" / "live2diff-stage2.safetensors")).items()}
    assert a.keys() == b.keys() and start
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-10
