import cv2
import numpy as np

from live2diff_broadcast.cli import main
from tests.videos import count_frames


def write_video(path, frames: int, size=(80, 48), fps=25.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, (i * 3) % size[0] :] = (0, 128, 255)
        writer.write(img)
    writer.release()


def test_render_translates_every_frame(tmp_path):
    src, dst, profile = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.toml"
    write_video(src, 14)
    profile.write_text("[engine]\nwidth = 64\nheight = 64\nt_index_list = [30, 36, 42]\n")
    assert main(["render", str(src), str(dst), "--profile", str(profile)]) == 0
    assert count_frames(dst) == (14, (64, 64))


def test_render_too_short_clip_and_bad_input(tmp_path, caplog):
    src, dst, profile = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.toml"
    write_video(src, 5)
    profile.write_text("[engine]\nwidth = 64\nheight = 64\n")
    assert main(["render", str(src), str(dst), "--profile", str(profile)]) == 2
    assert "at least 8" in caplog.text
    assert main(["render", str(tmp_path / "nope.mp4"), str(dst), "--profile", str(profile)]) == 2
    assert "cannot open" in caplog.text
