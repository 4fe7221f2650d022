import numpy as np

from live2diff_broadcast.media.resize import fit_frame


def test_crop_fills_without_distortion():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 280:1000] = 255  # the centre 720x720 square is white
    out = fit_frame(frame, 64, 64, "crop")
    assert out.shape == (64, 64, 3) and out.min() == 255


def test_fit_pads_with_bars():
    out = fit_frame(np.full((720, 1280, 3), 255, np.uint8), 64, 64, "fit")
    assert out.shape == (64, 64, 3)
    assert out[0].max() == 0 and out[32].min() == 255
