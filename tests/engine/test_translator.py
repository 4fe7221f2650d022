import numpy as np
import pytest

from live2diff_broadcast.assembly import translator_from_profile
from live2diff_broadcast.config import Profile


def test_translator_emits_every_frame_once_with_model_size(caplog):
    profile = Profile(engine={"width": 64, "height": 64})
    with caplog.at_level("WARNING"):
        translator = translator_from_profile(profile)
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


def test_the_real_preset_loads_the_chosen_style_s_own_checkpoint(monkeypatch):
    """render/run start in a style: its style_checkpoint and LoRAs, not only [models], are loaded."""
    from live2diff_broadcast import assembly
    from live2diff_broadcast.weights import loader

    seen = []
    monkeypatch.setattr(loader, "load_components", lambda models, options: seen.append(models) or "components")
    profile = Profile(
        models={"preset": "live2diff"},
        styles=[
            {"name": "plain", "prompt": "x"},
            {"name": "toon", "prompt": "y", "style_checkpoint": "/models/toon.safetensors"},
        ],
    )
    assert assembly.build_components(profile, profile.style("toon")) == "components"
    assert seen[0].style_checkpoint == "/models/toon.safetensors"
    assembly.build_components(profile, profile.style("plain"))
    assert seen[1].style_checkpoint is None
