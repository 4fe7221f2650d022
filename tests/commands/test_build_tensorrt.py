"""build-engines: ONNX graphs for a show on CPU; a missing TensorRT is a clear error, not a crash."""

from __future__ import annotations

import logging
import sys

from live2diff_broadcast.cli import main

PROFILE = """
name = "show"
[engine]
device = "cpu"
dtype = "float32"
width = 64
height = 64
[[styles]]
name = "a"
prompt = "a cartoon"
[[styles]]
name = "b"
prompt = "a painting"
t_index_list = [30, 36, 42]
"""


def test_build_engines_exports_every_graph_once(tmp_path, capsys):
    profile = tmp_path / "show.toml"
    profile.write_text(PROFILE)
    args = ["build-engines", "--profile", str(profile), "--backend", "onnxruntime", "--engine-dir", str(tmp_path / "e")]
    assert main(args) == 0
    graphs = sorted(p.name for p in (tmp_path / "e" / "onnx").rglob("*.onnx"))
    # one UNet per step count (2 and 3), TAESD encoder + decoder, depth
    assert graphs == ["depth.onnx", "taesd_decoder.onnx", "taesd_encoder.onnx", "unet_stream.onnx", "unet_stream.onnx"]
    assert "5 graphs" in capsys.readouterr().out
    assert main(args) == 0  # second run: everything cached
    assert sorted(p.name for p in (tmp_path / "e" / "onnx").rglob("*.onnx")) == graphs


def test_build_engines_without_tensorrt_says_how_to_get_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    profile = tmp_path / "show.toml"
    profile.write_text(PROFILE)
    with caplog.at_level(logging.ERROR):
        assert main(["build-engines", "--profile", str(profile), "--engine-dir", str(tmp_path / "e")]) == 2
    assert any("TensorRT is not installed" in r.message for r in caplog.records)
