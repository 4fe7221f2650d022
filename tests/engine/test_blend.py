"""BlendedNoise: the noise of a blend strictly between two styles (at an end, the end's own noise runs)."""

import math

import numpy as np
import pytest
import torch

from live2diff_broadcast.engine.blend import (
    BlendedNoise,
    BlendEnd,
    Crossfade,
    blend_point,
    check_blendable,
    check_position,
    slerp,
)
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.noise import NoiseSource


def noise(seed: int) -> NoiseSource:
    return NoiseSource(seed, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("t", [0.0, 1.0, -0.25, 1.5])
def test_a_blended_noise_at_or_past_an_end_is_refused(t: float) -> None:
    with pytest.raises(ValueError, match=r"strictly between its ends, t in \(0, 1\)"):
        BlendedNoise(noise(1), noise(2), t)


def textbook_slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """sin((1 - t) θ) / sin θ · a + sin(t θ) / sin θ · b, θ the angle between a and b (float64)."""
    theta = math.acos(float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return (math.sin((1 - t) * theta) * a + math.sin(t * theta) * b) / math.sin(theta)


def test_between_the_ends_it_is_the_slerp_of_both_ends_noise_for_that_frame_and_step() -> None:
    a, b = noise(1), noise(2)
    blended = BlendedNoise(a, b, 0.25)
    got = blended(3, 1)
    assert got.shape == a.shape
    expected = textbook_slerp(a(3, 1).double().flatten().numpy(), b(3, 1).double().flatten().numpy(), 0.25)
    np.testing.assert_allclose(got.flatten().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert not torch.equal(got, a(3, 1)) and not torch.equal(got, b(3, 1))
    assert torch.equal(blended(3, 1), got)  # deterministic, like both ends


def test_slerp_of_a_vector_with_itself_is_that_vector_although_its_cosine_rounds_above_one() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 77, 768, generator=g)  # prompt embeddings' shape: several rows round to cos > 1
    assert (torch.nn.functional.cosine_similarity(a, a.clone(), dim=-1) > 1).any()
    torch.testing.assert_close(slerp(a, a.clone(), 0.3), a)


def test_slerp_of_opposite_vectors_whose_cosine_rounds_below_minus_one_is_finite() -> None:
    """Never NaN (a NaN embedding would blacken every frame after it): the cosine is clamped at -1 too."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 77, 768, generator=g)
    assert (torch.nn.functional.cosine_similarity(a, -a, dim=-1) < -1).any()
    assert torch.isfinite(slerp(a, -a, 0.3)).all()


@pytest.mark.parametrize("norm", [0.1, 1e-9])
def test_slerp_of_short_vectors_uses_their_true_angle(norm: float) -> None:
    """Norms at 60 degrees: the midpoint is norm x (cos 30, sin 30), whatever the norms' size (down to
    1e-9, where torch's default cosine eps of 1e-8 would shrink the cosine: the angle would come out wrong)."""
    a, b = torch.tensor([norm, 0.0]), torch.tensor([norm * 0.5, norm * 3**0.5 / 2])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([norm * 3**0.5 / 2, norm * 0.5]), rtol=1e-5, atol=0)


def test_bad_blend_inputs_are_refused_with_what_was_expected() -> None:
    for bad in ("0.5", None, float("nan"), -0.1, 1.5):
        with pytest.raises(ValueError, match=r"blend position t must be a number in \[0, 1\]"):
            check_position(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"slerp needs tensors of one shape, got \(2,\) and \(3,\)"):
        slerp(torch.zeros(2), torch.zeros(3), 0.5)
    base = StreamConfig(height=64, width=64, t_index_list=(30, 40))
    with pytest.raises(ValueError, match="cannot blend styles with another resolution, window or schedule"):
        check_blendable(base, StreamConfig(height=64, width=128, t_index_list=(20, 35)))
    end = BlendEnd(base, "a", torch.zeros(1, 2, 3), noise(1))
    with pytest.raises(ValueError, match="a crossfade lasts at least 1 frame, got 0"):
        Crossfade(end, end, 0)


def test_a_blend_point_lerps_the_guidance_and_keeps_its_position() -> None:
    """Guidance (1 - t) g_A + t g_B, exactly g_A / g_B at the ends; steps rounded half up, worked out by hand."""
    a = BlendEnd(StreamConfig(height=64, width=64, t_index_list=(30, 40), guidance=0.5), "a", torch.zeros(1, 2, 3), noise(1))
    b = BlendEnd(StreamConfig(height=64, width=64, t_index_list=(20, 44), guidance=2.0), "b", torch.ones(1, 2, 3), noise(2))
    for t, guidance, steps in [(0.0, 0.5, (30, 40)), (0.25, 0.875, (28, 41)), (0.5, 1.25, (25, 42)), (1.0, 2.0, (20, 44))]:
        point = blend_point(a, b, t)
        assert (point.t, point.guidance, point.t_index_list) == (t, guidance, steps)


def test_a_one_frame_crossfade_runs_its_only_frame_at_b() -> None:
    base = StreamConfig(height=64, width=64, t_index_list=(30, 40))
    a, b = BlendEnd(base, "a", torch.zeros(1, 2, 3), noise(1)), BlendEnd(base, "b", torch.ones(1, 2, 3), noise(2))
    fade = Crossfade(a, b, 1)
    assert not fade.done
    point = fade.advance()
    assert point.t == 1.0 and point.noise is b.noise and torch.equal(point.embeds, b.embeds) and fade.done
