"""Depth preprocessing against hand-written oracles: the authors' ``encode_depth`` (squash, bilinear,
min/max over the batch) and our letterbox; per-frame and joint normalisation."""

import torch
import torch.nn.functional as F

from live2diff_broadcast.engine.depth import RawDepth, letterbox_square, normalise_per_frame


def authors_encode_depth(model, images: torch.Tensor, size: int) -> torch.Tensor:
    """open-mmlab/Live2Diff ``StreamAnimateDiffusionDepth.encode_depth`` up to the VAE, written out:
    images (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [-1, 1], ONE min/max over the whole batch."""
    h, w = images.shape[-2:]
    image_tensors = images * 2 - 1  # their image_processor.preprocess: [0, 1] -> [-1, 1]
    images_input = F.interpolate(image_tensors, (size, size), mode="bilinear", align_corners=False)
    depth_map = model(pixel_values=images_input).predicted_depth  # (B, s, s)
    depth_map_norm = (depth_map - depth_map.min()) / (depth_map.max() - depth_map.min())
    depth_map_norm = depth_map_norm[:, None].repeat(1, 3, 1, 1) * 2 - 1
    return F.interpolate(depth_map_norm, (h, w), mode="bilinear", align_corners=False)


def test_per_frame_normalisation_does_not_depend_on_the_batch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 8, 8, generator=g), 10 * torch.rand(1, 1, 8, 8, generator=g)
    together = normalise_per_frame(torch.cat([a, b]))
    assert torch.equal(together[:1], normalise_per_frame(a))
    assert together.amin().item() == 0.0 and together.amax().item() == 1.0


def test_joint_normalisation_uses_one_range_over_the_frames():
    depth = torch.tensor([0.0, 1.0, 2.0, 4.0]).view(2, 1, 1, 2)  # frame 0: 0..1, frame 1: 2..4
    raw = RawDepth(depth, torch.tensor([0.0, 2.0]), torch.tensor([1.0, 4.0]))
    assert raw.normalised(joint=True).flatten().tolist() == [0.0, 0.25, 0.5, 1.0]
    assert raw.normalised().flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.equal(RawDepth.cat([raw, raw]).lo, torch.tensor([0.0, 2.0, 0.0, 2.0]))


def test_squash_joint_is_the_authors_warmup_depth(tiny64):
    """8 non-square warmup frames: our squash + joint normalisation == their encode_depth on the batch."""
    images = torch.rand(8, 3, 48, 80, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    depth = tiny64.depth
    with torch.no_grad():
        want = authors_encode_depth(depth.model, images, depth.input_size)
        got = depth.raw(images, "squash").normalised(joint=True).expand(-1, 3, -1, -1) * 2 - 1
    assert got.shape == want.shape == (8, 3, 48, 80)
    assert (got - want).abs().max().item() < 1e-12


def test_squash_per_frame_is_the_authors_streaming_depth(tiny64):
    """Streaming frames go through their encode_depth one at a time: each its own range."""
    images = torch.rand(3, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    depth = tiny64.depth
    with torch.no_grad():
        want = torch.cat([authors_encode_depth(depth.model, images[i : i + 1], depth.input_size) for i in range(3)])
        got = depth(images, "squash").expand(-1, 3, -1, -1) * 2 - 1
    assert (got - want).abs().max().item() < 1e-12


def test_letterbox_keeps_the_frame_undistorted():
    img = torch.rand(1, 3, 36, 64)
    square, (top, left) = letterbox_square(img)
    assert square.shape[-2:] == (64, 64) and (top, left) == (14, 0)
    assert torch.equal(square[:, :, top : top + 36, left : left + 64], img)


def test_letterbox_predicts_on_the_padded_square_and_crops(tiny64):
    """Hand-written letterbox: pad (edge), bicubic to the input size, predict, bicubic back, crop, per-frame range."""
    images = torch.rand(2, 3, 48, 80, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    depth = tiny64.depth
    with torch.no_grad():
        square = F.pad(images, (0, 0, 16, 16), mode="replicate")  # 48 -> 80: 16 rows above and below
        x = F.interpolate(square, size=(64, 64), mode="bicubic", align_corners=False).clamp(0, 1)
        pred = depth.model(pixel_values=x * 2 - 1).predicted_depth[:, None]
        crop = F.interpolate(pred, size=(80, 80), mode="bicubic", align_corners=False)[:, :, 16:64, :]
        lo, hi = crop.amin(dim=(1, 2, 3), keepdim=True), crop.amax(dim=(1, 2, 3), keepdim=True)
        want = (crop - lo) / (hi - lo)
        got = depth(images, "letterbox")
    assert (got - want).abs().max().item() < 1e-12
    for frame in got:  # the crop's own range: exactly 0 and 1
        assert frame.min().item() == 0.0 and abs(frame.max().item() - 1.0) < 1e-12


def test_squash_range_is_the_model_resolution_map(tiny):
    """Squash normalises the model-size prediction (as the authors do), so the frame-size map lies in
    [0, 1] without necessarily touching 1: the max pixel need not survive the bilinear resize."""
    depth = tiny.depth(torch.rand(2, 3, 48, 80))
    assert depth.shape == (2, 1, 48, 80)
    assert depth.min().item() >= 0.0 and depth.max().item() <= 1.0 + 1e-6
