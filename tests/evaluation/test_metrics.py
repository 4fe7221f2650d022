"""Each metric responds as the paper's definition says it must, on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest

from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.evaluation.flow import FarnebackFlow, default_flow
from live2diff_broadcast.evaluation.scores import MetricSuite
from live2diff_broadcast.evaluation.structure import DepthStructureMetric
from live2diff_broadcast.evaluation.temporal_clip import ClipTemporalMetric
from live2diff_broadcast.evaluation.warp_error import WarpErrorMetric, occlusion_mask, warp

from .synthetic import moving_clip, still_clip, with_flicker


@pytest.fixture
def suite(tiny: Live2DiffComponents, tiny_clip) -> MetricSuite:
    return MetricSuite(DepthStructureMetric(tiny.depth), ClipTemporalMetric(tiny_clip), WarpErrorMetric(FarnebackFlow()))


def test_identical_input_and_output_has_zero_depth_mse(suite: MetricSuite) -> None:
    clip = moving_clip(4)
    assert np.array_equal(suite.structure.per_frame(clip, clip), np.zeros(4))
    changed = [255 - f for f in clip]  # inverted frames: other depth
    assert suite.structure.per_frame(clip, changed).min() > 0


def test_still_video_is_perfectly_smooth(suite: MetricSuite) -> None:
    clip = still_clip(5)
    scores = suite.score(clip, clip)
    assert np.allclose(scores.clip_similarity, 1.0, atol=1e-9)
    assert scores.warp_error.max() < 1e-6


def test_flicker_scores_worse_on_every_temporal_metric(suite: MetricSuite) -> None:
    clip = moving_clip(6)
    clean, flicker = suite.score(clip, clip), suite.score(clip, with_flicker(clip))
    assert flicker.summary()["clip_score"] < clean.summary()["clip_score"]
    assert flicker.summary()["warp_error"] > 10 * clean.summary()["warp_error"]
    assert flicker.summary()["depth_mse"] > clean.summary()["depth_mse"] == 0


def test_warp_follows_the_flow() -> None:
    clip = moving_clip(2, speed=2)
    flow = FarnebackFlow()
    backward = flow(clip[1], clip[0])  # the view pans right: frame 1 at x shows frame 0 at x + 2
    assert np.median(backward[8:-8, 8:-8, 0]) == pytest.approx(2, abs=0.3)
    warped = warp(clip[0].astype(np.float32), backward)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(warped[inner] - clip[1][inner]).mean() < np.abs(clip[0][inner].astype(np.float32) - clip[1][inner]).mean() / 3
    assert occlusion_mask(backward, flow(clip[0], clip[1]))[inner].mean() > 0.9


def test_flow_without_raft_weights_falls_back_loudly(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("live2diff_broadcast.evaluation.flow.raft_weights_path", lambda: None)
    flow = default_flow("auto")
    assert "farneback" in flow.name and "fallback" in flow.name
    assert "FLOW FALLBACK" in caplog.text
    with pytest.raises(FileNotFoundError, match="torchvision"):
        default_flow("raft")
