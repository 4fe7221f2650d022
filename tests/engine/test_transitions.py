"""Crossfades and faders between styles on the same models (engine/blend.py, engine/transitions.py).

Proves with the tiny model at 64x64: a crossfade skips or repeats no output frame, its prompt
embeddings approach B monotonically frame by frame, and once it settles (re-warm) the output equals
a cut to B at the same frame bit for bit; a fader parked at 0 runs exactly as style A; bad positions
and unblendable styles are refused with a clear error.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch

from live2diff_broadcast.engine.blend import lerp_t_index, slerp
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.transitions import Transitions
from live2diff_broadcast.engine.translator import FrameTranslator

SIZE, WARMUP = 64, 4
A = StreamConfig(height=SIZE, width=SIZE, t_index_list=(30, 40), causal=CausalWindow(8, WARMUP), seed=1)
B = StreamConfig(height=SIZE, width=SIZE, t_index_list=(20, 35), causal=CausalWindow(8, WARMUP), seed=2)
PROMPT_A, PROMPT_B = "anime portrait", "oil painting of a cat"


def frames(count: int, start: int = 0) -> list[np.ndarray]:
    return [np.random.default_rng(i).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8) for i in range(start, start + count)]


def translator(components: Live2DiffComponents) -> FrameTranslator:
    stream = Live2DiffStream(components, A)
    stream.set_prompt(PROMPT_A)
    return FrameTranslator(stream)


def run(t: FrameTranslator, images: list[np.ndarray], out: dict[int, np.ndarray]) -> None:
    for image in images:
        for index, frame in t.push(image):
            assert index not in out, f"frame {index} emitted twice"
            out[index] = frame


def test_slerp_and_steps_are_exact_at_the_ends_and_keep_variance() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4096, generator=g), torch.randn(4096, generator=g)
    assert slerp(a, b, 0.0) is a and slerp(a, b, 1.0) is b
    mid = slerp(a, b, 0.5)
    assert abs(float(mid.std()) - 1.0) < 0.05  # a lerp would give ~0.71
    assert lerp_t_index((30, 40), (20, 35), 0.5) == (25, 38)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        slerp(a, b, 1.5)
    with pytest.raises(ValueError, match="same number of denoising steps"):
        lerp_t_index((30, 40), (10, 20, 30), 0.5)


def test_crossfade_has_no_gap_moves_monotonically_and_ends_equal_to_a_cut(tiny: Live2DiffComponents) -> None:
    fade_frames, before, after = 6, 12, 6
    # X: A, then a crossfade over 6 frames (the 6th runs at exactly B and settles with a re-warm)
    x = translator(tiny)
    out_x: dict[int, np.ndarray] = {}
    run(x, frames(before), out_x)
    x.crossfade(B, PROMPT_B, fade_frames, settle="rewarm")
    target = x.transitions.end(x.stream, B, PROMPT_B).embeds
    distances = []
    for image in frames(fade_frames, before):
        run(x, [image], out_x)
        assert x.stream.text_embeds is not None
        distances.append(float((x.stream.text_embeds - target).norm()))
    run(x, frames(after, before + fade_frames), out_x)
    for index, frame in x.flush():
        out_x[index] = frame
    # no gap: exactly one output per input, in order
    assert sorted(out_x) == list(range(before + fade_frames + after))
    # monotone progress towards B, ending exactly on B
    assert all(d1 < d0 for d0, d1 in zip(distances, distances[1:], strict=False)), distances
    assert distances[-1] == 0.0
    # Y: A until the crossfade's last frame, then a cut to B
    y = translator(copy.deepcopy(tiny))
    out_y: dict[int, np.ndarray] = {}
    run(y, frames(before + fade_frames), out_y)
    for index, frame in y.set_style(B, PROMPT_B):
        out_y[index] = frame
    run(y, frames(after, before + fade_frames), out_y)
    for index, frame in y.flush():
        out_y[index] = frame
    settled_from = before + fade_frames - 1  # the frames in flight when B settled, and all after
    for index in range(settled_from, before + fade_frames + after):
        np.testing.assert_array_equal(out_x[index], out_y[index], err_msg=f"frame {index}")
    # and the crossfade really was a glide, not A until the end
    assert any(not np.array_equal(out_x[i], out_y[i]) for i in range(before, settled_from))


def test_refresh_settle_keeps_streaming_without_a_rewarm(tiny: Live2DiffComponents) -> None:
    x = translator(tiny)
    out: dict[int, np.ndarray] = {}
    run(x, frames(10), out)
    x.crossfade(B, PROMPT_B, 3, settle="refresh")
    run(x, frames(6, 10), out)
    assert sorted(out) == list(range(15))  # lag 1, no gap, no re-warm burst
    assert x.stream.config == B and x.stream.prompt == PROMPT_B


def test_a_fader_at_zero_runs_exactly_as_style_a(tiny: Live2DiffComponents) -> None:
    plain, faded = translator(tiny), translator(copy.deepcopy(tiny))  # each stream installs its own cache
    out_plain: dict[int, np.ndarray] = {}
    out_faded: dict[int, np.ndarray] = {}
    run(plain, frames(7), out_plain)
    run(faded, frames(5), out_faded)
    faded.blend((A, PROMPT_A), (B, PROMPT_B), 0.0)
    run(faded, frames(2, 5), out_faded)
    for index in out_plain:
        np.testing.assert_array_equal(out_plain[index], out_faded[index])
    faded.blend((A, PROMPT_A), (B, PROMPT_B), 0.5)
    assert faded.stream.config.t_index_list == (25, 38)
    with pytest.raises(ValueError, match=r"blend position t must be a number in \[0, 1\]"):
        faded.blend((A, PROMPT_A), (B, PROMPT_B), -0.1)
    three = StreamConfig(height=SIZE, width=SIZE, t_index_list=(10, 20, 30), causal=CausalWindow(8, WARMUP))
    with pytest.raises(ValueError, match="cannot blend styles with 2 and 3 denoising steps"):
        faded.crossfade(three, PROMPT_B, 4)


def test_slerp_follows_the_great_circle() -> None:
    """Hand-worked values: between orthogonal unit vectors, slerp at t is (cos(t 90deg), sin(t 90deg));
    the vectors' norms are interpolated linearly along it."""
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([0.5**0.5, 0.5**0.5]))
    torch.testing.assert_close(slerp(a, b, 1 / 3), torch.tensor([3**0.5 / 2, 0.5]))
    torch.testing.assert_close(slerp(a, 3 * b, 0.5), torch.tensor([0.5**0.5, 3 * 0.5**0.5]))  # raw vectors: weights only


def test_every_crossfade_frame_runs_at_its_own_position_the_last_one_exactly_b(
    tiny: Live2DiffComponents, caplog: pytest.LogCaptureFixture
) -> None:
    """What each input frame really ran with, seen at its push (so before the settle re-encodes B):
    frame k of 4 runs at t = k / 4 (steps worked out by hand), and the 4th is B itself."""
    x = translator(tiny)
    seen: list[tuple[tuple[int, ...], torch.Tensor, object]] = []
    push = x.stream.push

    def recording_push(image: torch.Tensor) -> list:
        assert x.stream.text_embeds is not None
        seen.append((x.stream.config.t_index_list, x.stream.text_embeds.clone(), x.stream.noise))
        return push(image)

    x.stream.push = recording_push  # type: ignore[method-assign]
    out: dict[int, np.ndarray] = {}
    run(x, frames(6), out)
    with caplog.at_level(logging.WARNING, logger="live2diff_broadcast.engine.translator"):
        x.crossfade(B, PROMPT_B, 4, settle="rewarm")
    assert not caplog.records  # nothing was running to interrupt (no fader, no crossfade)
    a, b = x.transitions.end(x.stream, A, PROMPT_A), x.transitions.end(x.stream, B, PROMPT_B)
    run(x, frames(4, 6), out)
    fade = seen[6:]
    assert [steps for steps, _, _ in seen[:6]] == [(30, 40)] * 6
    # (1 - t) * (30, 40) + t * (20, 35), rounded half up, at t = 1/4, 2/4, 3/4, 1
    assert [steps for steps, _, _ in fade] == [(28, 39), (25, 38), (23, 36), (20, 35)]
    for k, (_, embeds, noise) in enumerate(fade, start=1):
        torch.testing.assert_close(embeds, slerp(a.embeds, b.embeds, k / 4), rtol=0, atol=1e-6, msg=f"fade frame {k}")
        assert noise is b.noise if k == 4 else noise.t == k / 4  # type: ignore[attr-defined]
    assert torch.equal(fade[-1][1], b.embeds)  # the last fade frame is B's own embeddings, not a near miss
    assert not torch.equal(fade[0][1], a.embeds) and not torch.equal(fade[0][1], b.embeds)
    assert sorted(out) == list(range(10))  # and nothing was skipped or repeated on the way


def test_the_ends_cache_keeps_the_four_most_recently_used_in_the_streams_dtype(tiny64: Live2DiffComponents) -> None:
    stream = Live2DiffStream(tiny64, A, dtype=torch.float64)
    transitions = Transitions()
    ends = {p: transitions.end(stream, A, p) for p in ("p0", "p1", "p2", "p3")}
    assert ends["p0"].embeds.dtype == torch.float64 and ends["p0"].noise(0, 0).dtype == torch.float64
    assert transitions.end(stream, A, "p0") is ends["p0"]  # cached; and now the most recently used
    transitions.end(stream, A, "p4")  # a fifth: the least recently used (p1) goes
    assert transitions.end(stream, A, "p0") is ends["p0"] and transitions.end(stream, A, "p3") is ends["p3"]
    assert transitions.end(stream, A, "p2") is ends["p2"]
    assert transitions.end(stream, A, "p1") is not ends["p1"]
    with pytest.raises(ValueError, match=r"crossfade settle must be one of \('rewarm', 'refresh'\), got 'fade'"):
        transitions.start_crossfade(ends["p0"], ends["p2"], 3, "fade")  # type: ignore[arg-type]
