import numpy as np

from live2diff_broadcast.media.resize import fit_frame, place_back


def test_crop_fills_without_distortion():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 280:1000] = 255  # the centre 720x720 square is white
    out = fit_frame(frame, 64, 64, "crop")
    assert out.shape == (64, 64, 3) and out.min() == 255


def test_fit_pads_with_bars():
    out = fit_frame(np.full((720, 1280, 3), 255, np.uint8), 64, 64, "fit")
    assert out.shape == (64, 64, 3)
    assert out[0].max() == 0 and out[32].min() == 255


def test_place_back_puts_a_cropped_output_where_the_model_saw_it():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 280:1000] = 200  # the centre square: what a square model sees of a 16:9 frame
    model = fit_frame(frame, 64, 64, "crop")
    back = place_back(model, 720, 1280, "crop")
    assert back.shape == (720, 1280, 3)
    assert back[:, 290:990].min() == 200  # the model's picture over the region it came from
    assert back[:, :270].max() == 0 and back[:, 1010:].max() == 0  # never seen by the model: bars


def test_place_back_inverts_fit_and_keeps_matching_sizes():
    frame = np.full((720, 1280, 3), 90, np.uint8)
    back = place_back(fit_frame(frame, 64, 64, "fit"), 720, 1280, "fit")
    assert back.shape == (720, 1280, 3) and back.min() == 90 and back.max() == 90  # the bars are gone
    same = np.full((64, 64, 3), 7, np.uint8)
    assert place_back(same, 64, 64) is same
    assert place_back(np.full((36, 64, 3), 5, np.uint8), 720, 1280).min() == 5  # same aspect: no bars
