import numpy as np

from live2diff_broadcast.media.overlay import status_caption


def test_caption_is_drawn_on_a_copy_in_the_top_left():
    image = np.full((72, 128, 3), 90, np.uint8)
    out = status_caption(image, "NO SIGNAL")
    assert (image == 90).all()  # the source frame is untouched
    assert (out[:20, :] != 90).any() and (out[40:, :] == 90).all()
