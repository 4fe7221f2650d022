"""The harness end to end: clips through every mode of the streaming path, scored and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.evaluation.clips import (
    EvaluationInputError,
    discover_clips,
    read_captions,
    read_frames,
)
from live2diff_broadcast.evaluation.flow import FarnebackFlow
from live2diff_broadcast.evaluation.harness import evaluate
from live2diff_broadcast.evaluation.modes import MODES, parse_modes
from live2diff_broadcast.evaluation.report import write_report
from live2diff_broadcast.evaluation.runner import run_clip
from live2diff_broadcast.evaluation.scores import MetricSuite
from live2diff_broadcast.evaluation.structure import DepthStructureMetric
from live2diff_broadcast.evaluation.temporal_clip import ClipTemporalMetric
from live2diff_broadcast.evaluation.warp_error import WarpErrorMetric

from .synthetic import moving_clip, write_davis, write_video

CONFIG = StreamConfig(height=32, width=32, t_index_list=(30, 40), causal=CausalWindow(window=4, warmup=2))


def test_full_mode_is_exactly_the_live_stream(tiny: Live2DiffComponents) -> None:
    from live2diff_broadcast.engine.stream import Live2DiffStream
    from live2diff_broadcast.engine.translator import FrameTranslator

    frames = moving_clip(6, 32, 32)
    run = run_clip(frames, "a cat", MODES["live2diff"], tiny, CONFIG, torch.device("cpu"), torch.float32)
    stream = Live2DiffStream(tiny, CONFIG)
    stream.set_prompt("a cat")
    live = FrameTranslator(stream)
    expected = dict(sum((live.push(f) for f in frames), []) + live.flush())
    assert all(np.array_equal(run.outputs[i], expected[i]) for i in range(6))
    assert len(run.latency_s) == 6 and (run.latency_s > 0).all()


def test_ablation_modes_change_the_output_and_restore_the_model(tiny: Live2DiffComponents) -> None:
    frames = moving_clip(6, 32, 32)
    before = {k: v.clone() for k, v in tiny.unet.state_dict().items()}
    outs = {m.name: run_clip(frames, "a cat", m, tiny, CONFIG, torch.device("cpu"), torch.float32).outputs for m in MODES.values()}
    full = outs.pop("live2diff")
    for name, out in outs.items():
        assert any(not np.array_equal(a, b) for a, b in zip(full, out, strict=True)), name
    # no-warmup-inference only differs once the sliding window has left the initial frames
    assert all(np.array_equal(a, b) for a, b in zip(full[:4], outs["no_warmup_inference"][:4], strict=True))
    after = tiny.unet.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    again = run_clip(frames, "a cat", MODES["live2diff"], tiny, CONFIG, torch.device("cpu"), torch.float32).outputs
    assert all(np.array_equal(a, b) for a, b in zip(full, again, strict=True))


def test_evaluate_and_report(tiny: Live2DiffComponents, tiny_clip, tmp_path: Path) -> None:
    write_davis(tmp_path / "davis", "slide", moving_clip(5, 40, 56))
    write_video(tmp_path / "davis" / "JPEGImages" / "480p" / "cam.avi", moving_clip(5, 40, 56, seed=3))
    clips = discover_clips(tmp_path / "davis")
    assert [c.name for c in clips] == ["cam", "slide"]
    assert read_frames(clips[1], 32, 32)[0].shape == (32, 32, 3)
    metrics = MetricSuite(DepthStructureMetric(tiny.depth), ClipTemporalMetric(tiny_clip), WarpErrorMetric(FarnebackFlow()))
    modes = parse_modes("live2diff,frame_by_frame")
    result = evaluate(clips, modes, tiny, CONFIG, metrics, {"cam": "a", "slide": "b"}, torch.device("cpu"), torch.float32)
    result.settings = {"size": "32x32"}
    paths = write_report(result, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["plot_cam.png", "plot_slide.png", "results.json", "results.md"]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(data["modes"]) == {"live2diff", "frame_by_frame"}
    assert "farneback" in data["warp_flow"]
    clip = data["clips"][0]
    assert len(clip["per_frame"]["depth_mse"]) == 5 and len(clip["per_frame"]["warp_error"]) == 4
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| live2diff |" in md and "Depth MSE" in md and "Table 2" in md
    assert (tmp_path / "out" / "plot_cam.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationInputError, match="no clips found"):
        discover_clips(tmp_path / "empty")
    with pytest.raises(EvaluationInputError, match="no such folder"):
        discover_clips(tmp_path / "nope")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(EvaluationInputError, match="bad.mp4"):
        read_frames(discover_clips(bad)[0], 32, 32)
    captions = tmp_path / "c.txt"
    captions.write_text("slide a cat without a tab\n")
    with pytest.raises(EvaluationInputError, match="c.txt:1"):
        read_captions(captions)
    captions.write_text("slide\ta cat\n")
    assert read_captions(captions) == {"slide": "a cat"}
    with pytest.raises(ValueError, match="unknown evaluation mode"):
        parse_modes("live2diff,bogus")


def test_cli_reports_bad_input_and_a_missing_clip_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from live2diff_broadcast.cli import main
    from live2diff_broadcast.evaluation.temporal_clip import load_clip_vision

    (tmp_path / "empty").mkdir()
    assert main(["eval", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "empty: no clips found" in caplog.text
    write_video(tmp_path / "short.avi", moving_clip(3, 32, 32))
    assert main(["eval", str(tmp_path / "short.avi"), "--size", "32x32", "--out", str(tmp_path / "o")]) == 2
    assert "short.avi: 3 frames, shorter than the attention window (16 frames)" in caplog.text
    with pytest.raises(EvaluationInputError, match="no-such-clip.*--clip-model"):
        load_clip_vision(str(tmp_path / "no-such-clip"))
