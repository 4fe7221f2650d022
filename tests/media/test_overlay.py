import numpy as np

from live2diff_broadcast.media.overlay import status_caption
from live2diff_broadcast.runtime.telemetry import StreamState


def test_caption_is_drawn_on_a_copy_in_the_top_left():
    image = np.full((72, 128, 3), 90, np.uint8)
    out = status_caption(image, StreamState.NO_SIGNAL, "loading")
    assert (image == 90).all()  # the source frame is untouched
    assert (out[:20, :] != 90).any() and (out[40:, :] == 90).all()
