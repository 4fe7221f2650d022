"""file sink -> file source: a playable video with the right frame count, size and colours."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import EndOfStream, PluginError
from plugins.file_sink import FileSink
from plugins.file_source import FileSource


def _frames(count: int, width: int, height: int) -> list[Frame]:
    out = []
    for i in range(count):
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = 200  # red in RGB
        image[:, : (i + 1) * width // count, 2] = 200  # a growing blue band
        out.append(Frame(image, pts_ns=i, seq=i))
    return out


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_round_trip_keeps_count_size_and_colour(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    sink = FileSink.create({"path": str(path), "width": 64, "height": 48})
    sink.open(width=128, height=96, fps=100.0)  # frames arrive at 128x96 and are scaled to 64x48
    for frame in _frames(8, 128, 96):
        sink.write(frame)
    sink.close()
    sink.close()

    source = FileSource.create({"path": str(path)})
    source.open()
    assert source.fps == pytest.approx(100.0)
    read: list[Frame] = []
    with pytest.raises(EndOfStream, match="ended after 8 frames"):
        while True:
            frame = source.read(timeout=1.0)
            if frame is not None:
                read.append(frame)
    source.close()
    assert len(read) == 8
    assert [f.seq for f in read] == list(range(8))
    assert all(b.pts_ns > a.pts_ns for a, b in zip(read, read[1:], strict=False))
    first = read[0].image
    assert first.shape == (48, 64, 3)
    red, green = first[24, 60, 0], first[24, 60, 1]  # right edge of frame 0: plain red (RGB order kept)
    assert red > 150 and green < 60
    assert cv2.absdiff(read[-1].image[:, :, 2], np.full((48, 64), 200, np.uint8)).mean() < 30  # band filled


def test_loop_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "loop.avi"
    sink = FileSink.create({"path": str(path)})
    sink.open(32, 32, 200.0)
    for frame in _frames(3, 32, 32):
        sink.write(frame)
    sink.close()
    source = FileSource.create({"path": str(path), "loop": True})
    source.open()
    frames = [source.read(timeout=1.0) for _ in range(7)]
    source.close()
    assert [f.seq for f in frames if f is not None] == list(range(7))


def test_missing_file_and_unknown_extension_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="source 'file': setting 'path'.*missing.mp4' does not exist"):
        FileSource.create({"path": str(tmp_path / "missing.mp4")}).open()
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(PluginError, match="OpenCV cannot open it as a video|holds no frame OpenCV can decode"):
        FileSource.create({"path": str(tmp_path / "junk.mp4")}).open()
    with pytest.raises(PluginError, match="sink 'file': setting 'path'.*expected a name ending in one of"):
        FileSink.create({"path": str(tmp_path / "out.xyz")}).open(32, 32, 30.0)
    with pytest.raises(PluginError, match="does not exist"):
        FileSink.create({"path": str(tmp_path / "no" / "out.mp4")}).open(32, 32, 30.0)
