"""BlendedNoise: the noise of a blend strictly between two styles (at an end, the end's own noise runs)."""

import math

import numpy as np
import pytest
import torch

from live2diff_broadcast.engine.blend import BlendedNoise
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
