import pytest
import torch

from live2diff_broadcast.engine.noise import NoiseSource, noise_seed


def test_same_integers_same_noise_any_call_order():
    a = NoiseSource(7, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float32)
    first = a(5, 1)
    a(9, 0)
    assert torch.equal(a(5, 1), first)
    assert not torch.equal(a(5, 0), first) and not torch.equal(a(6, 1), first)


def test_seed_mixing_separates_neighbours():
    seeds = {noise_seed(s, f, t) for s in range(3) for f in range(50) for t in range(4)}
    assert len(seeds) == 3 * 50 * 4


def test_unknown_mode_rejected():
    with pytest.raises(ValueError, match="per_frame"):
        NoiseSource(0, "sometimes", (4, 2, 2), torch.device("cpu"), torch.float32)  # type: ignore[arg-type]
