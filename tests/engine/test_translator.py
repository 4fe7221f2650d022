import numpy as np
import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.engine.translator import FrameTranslator


def test_translator_emits_every_frame_once_with_model_size(caplog):
    profile = Profile(engine={"width": 64, "height": 64})
    with caplog.at_level("WARNING"):
        translator = FrameTranslator.from_profile(profile)
    assert "MEANINGLESS" in caplog.text  # the tiny preset says loudly what it is
    rng = np.random.default_rng(0)
    got = []
    for _ in range(12):
        got += translator.push(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
    got += translator.flush()
    assert [i for i, _ in got] == list(range(12))
    assert all(img.shape == (64, 64, 3) and img.dtype == np.uint8 for _, img in got)


def test_unknown_style_is_a_clear_error():
    with pytest.raises(KeyError, match="no style named"):
        Profile().style("nope")
