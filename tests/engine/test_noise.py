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


_M64 = (1 << 64) - 1


def _splitmix64_finalizer(z: int) -> int:
    """The published splitmix64 output function (Steele, Lea & Flood 2014; Vigna's splitmix64.c)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def test_noise_seed_is_splitmix64():
    """Against splitmix64's published first outputs from state 0 (0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4,
    0x06c45d188009454f): seed s is the s-th output, masked to a non-negative 63-bit generator seed.
    Frame and step enter the state with their own odd weights, so a recording replays with the same noise."""
    published = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    assert [_splitmix64_finalizer(k * 0x9E3779B97F4A7C15 & _M64) for k in (1, 2, 3)] == published
    assert [noise_seed(s, 0, 0) for s in (1, 2, 3)] == [v & ((1 << 63) - 1) for v in published]
    for seed, frame, step in [(0, 1, 0), (0, 0, 1), (42, 1000, 3), (7, 123456, 49), (2**40, 2**33, 2)]:
        state = (seed * 0x9E3779B97F4A7C15 + frame * 0xBF58476D1CE4E5B9 + step * 0x94D049BB133111EB) & _M64
        assert noise_seed(seed, frame, step) == _splitmix64_finalizer(state) & ((1 << 63) - 1), (seed, frame, step)


def test_fixed_mode_ignores_the_frame_and_per_frame_does_not():
    fixed = NoiseSource(3, "fixed", (4, 8, 8), torch.device("cpu"), torch.float32)
    per_frame = NoiseSource(3, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float32)
    assert torch.equal(fixed(5, 1), fixed(40, 1)) and torch.equal(fixed(5, 1), per_frame(0, 1))
    assert not torch.equal(fixed(5, 0), fixed(5, 1))
    assert not torch.equal(per_frame(5, 1), per_frame(40, 1))


def test_noise_is_drawn_in_float32_then_cast_so_every_dtype_sees_the_same_draw():
    wide = NoiseSource(3, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float64)(2, 1)
    narrow = NoiseSource(3, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float32)(2, 1)
    assert wide.dtype == torch.float64 and narrow.dtype == torch.float32 and wide.shape == (4, 8, 8)
    assert torch.equal(wide, narrow.double())


def test_the_draw_stays_float32_when_torchs_default_dtype_is_not():
    """A host that sets torch's default dtype to float64 still gets the recorded (float32) draw."""
    narrow = NoiseSource(3, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float32)(2, 1)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        wide = NoiseSource(3, "per_frame", (4, 8, 8), torch.device("cpu"), torch.float64)(2, 1)
    finally:
        torch.set_default_dtype(before)
    assert torch.equal(wide, narrow.double())
