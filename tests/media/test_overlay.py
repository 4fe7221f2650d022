import numpy as np

from live2diff_broadcast.media.overlay import status_caption
from live2diff_broadcast.runtime.telemetry import StreamState


def test_caption_is_a_dark_band_along_the_bottom_of_a_copy():
    image = np.full((144, 256, 3), 200, np.uint8)
    out = status_caption(image, "NO SIGNAL")
    assert (image == 200).all()  # the source frame is untouched
    assert (out[:100] == 200).all()  # the top (where cameras and the test pattern stamp the time) stays clear
    band = out[-8:-1, :8]  # a corner of the band, away from the text
    assert band.max() < 80  # dark under the text, whatever the picture
    assert (out[-12:] > 150).any()  # light text on it


def test_caption_fits_a_narrow_frame_and_names_the_state():
    out = status_caption(np.zeros((64, 64, 3), np.uint8), StreamState.WARMING_UP.caption("warming_up"))
    assert out.shape == (64, 64, 3)
    assert StreamState.WARMING_UP.caption("warming_up") == "PASSTHROUGH: engine warming up"
    assert StreamState.RESTARTING.caption("dead") == "PASSTHROUGH: engine restarting"
