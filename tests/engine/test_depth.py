import torch

from live2diff_broadcast.engine.depth import letterbox_square, normalise_per_frame


def test_per_frame_normalisation_does_not_depend_on_the_batch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 8, 8, generator=g), 10 * torch.rand(1, 1, 8, 8, generator=g)
    together = normalise_per_frame(torch.cat([a, b]))
    assert torch.equal(together[:1], normalise_per_frame(a))
    assert together.amin().item() == 0.0 and together.amax().item() == 1.0


def test_letterbox_keeps_the_frame_undistorted():
    img = torch.rand(1, 3, 36, 64)
    square, (top, left) = letterbox_square(img)
    assert square.shape[-2:] == (64, 64) and (top, left) == (14, 0)
    assert torch.equal(square[:, :, top : top + 36, left : left + 64], img)


def test_dpt_estimator_returns_normalised_depth_at_input_size(tiny):
    depth = tiny.depth(torch.rand(2, 3, 48, 80))
    assert depth.shape == (2, 1, 48, 80)
    for frame in depth:
        assert frame.min().item() == 0.0 and abs(frame.max().item() - 1.0) < 1e-6
