"""Training data: chunks of consecutive frames, and clear errors for unusable input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_broadcast.training.data import EpochSampler, TrainingDataError, VideoChunkDataset

from ..evaluation.synthetic import moving_clip, write_davis, write_video


def test_chunks_are_consecutive_frames(tmp_path: Path) -> None:
    frames = moving_clip(7, 32, 48)
    write_video(tmp_path / "a.avi", frames)
    write_davis(tmp_path, "b", frames[:3])  # DAVIS layout wins over loose files: only 'b' is seen here
    dataset = VideoChunkDataset(tmp_path / "a.avi", window=4, height=32, width=32, stride=3)
    assert [c.start for c in dataset.chunks] == [0, 3]
    item = dataset[1]
    assert item["frames"].shape == (4, 3, 32, 32) and item["index"] == 1
    # frame 3 of the video, centre-cropped from 48 to 32 wide (MJPG is lossy: compare loosely)
    expected = torch.from_numpy(frames[3][:, 8:40].astype(np.float32) / 255).permute(2, 0, 1)
    assert (item["frames"][0] - expected).abs().mean() < 0.05


def test_unusable_data_is_reported_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDataError, match="empty: no clips found"):
        VideoChunkDataset(tmp_path / "empty", 4, 32, 32, 4)
    write_video(tmp_path / "short" / "s.avi", moving_clip(3, 32, 32)) if (tmp_path / "short").mkdir() is None else None
    with pytest.raises(TrainingDataError, match=r"s.avi \(3 frames\).*lower --window"):
        VideoChunkDataset(tmp_path / "short", 4, 32, 32, 4)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.mp4").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(TrainingDataError, match="x.mp4"):
        VideoChunkDataset(tmp_path / "broken", 4, 32, 32, 4)


def test_sampler_is_a_seeded_permutation_per_epoch() -> None:
    sampler = EpochSampler(10, seed=1)
    first = list(sampler)
    sampler.select_epoch(1)
    second = list(sampler)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    sampler.select_epoch(0)
    assert list(sampler) == first
