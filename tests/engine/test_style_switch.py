"""Live style switching in the engine, in process with the tiny model at 64x64.

Proves the policy of engine/style_switch.py: the output never skips or repeats an input frame
across switches; prompt / steps / seed switches re-warm in place and the sinks then equal a fresh
warmup of the new style on the same frames; other models are prepared in the background while
frames keep flowing, switched back to from the LRU at once; failures keep the old style;
rapid switching coalesces, ends in the last requested style and keeps memory bounded.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from live2diff_broadcast.engine.components import Live2DiffComponents, tiny_components
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.style_switch import StyleSwitcher, SwitchReport
from live2diff_broadcast.engine.translator import FrameTranslator
from live2diff_broadcast.runtime.messages import SetStyle

SIZE = 64
WARMUP = 4
BASE = {"set": "base"}  # stand-ins for ModelsSection dumps: only their equality matters here
OTHER = {"set": "other"}


def config(t_index_list: tuple[int, ...] = (30, 40), seed: int = 42) -> StreamConfig:
    return StreamConfig(height=SIZE, width=SIZE, t_index_list=t_index_list, causal=CausalWindow(8, WARMUP), seed=seed)


def frames(count: int, start: int = 0) -> list[np.ndarray]:
    """Input frames ``start`` .. ``start + count - 1`` (frame i is always the same image)."""
    return [np.random.default_rng(i).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8) for i in range(start, start + count)]


def translator_on(components: Live2DiffComponents, prompt: str = "anime", cfg: StreamConfig | None = None) -> FrameTranslator:
    stream = Live2DiffStream(components, cfg or config())
    stream.set_prompt(prompt)
    return FrameTranslator(stream)


def sinks(t: FrameTranslator) -> list[torch.Tensor]:
    """The sink slots (0..warmup-1) of every layer's K and V, every step."""
    out = []
    for layer in t.stream.cache.layers:
        k, v = layer.tensors()
        out += [k[:, :, :, :WARMUP].clone(), v[:, :, :, :WARMUP].clone()]
    return out


def fresh_sinks(components: Live2DiffComponents, prompt: str, cfg: StreamConfig, recent: list[np.ndarray]) -> list[torch.Tensor]:
    """A brand-new stream of that style (own copy of the models) warmed up on ``recent``."""
    fresh = translator_on(copy.deepcopy(components), prompt, cfg)
    for image in recent:
        fresh.push(image)
    return sinks(fresh)


_OTHER: list[Live2DiffComponents] = []


def other_models(current: Live2DiffComponents) -> Live2DiffComponents:
    """Another checkpoint: a different UNet and text encoder, sharing VAE / depth / tokenizer (as load_style)."""
    if not _OTHER:
        _OTHER.append(tiny_components(seed=1))
    other = _OTHER[0]
    return dataclasses.replace(current, unet=copy.deepcopy(other.unet), text_encoder=copy.deepcopy(other.text_encoder))


def style(name: str, prompt: str, models: dict[str, Any] = BASE, request_id: int = 0, **cfg: Any) -> SetStyle:
    return SetStyle(name, prompt, config(**cfg), models, request_id)


class Loader:
    """A load function that can be held back (``gate``) or made to fail; counts its calls."""

    def __init__(self, make: Callable[[Live2DiffComponents], Live2DiffComponents] = other_models) -> None:
        self.make, self.calls, self.fail = make, 0, False
        self.gate = threading.Event()
        self.gate.set()
        self.made: list[weakref.ref[Any]] = []

    def __call__(self, models: dict[str, Any], current: Live2DiffComponents) -> Live2DiffComponents:
        self.calls += 1
        self.gate.wait(30)
        if self.fail:
            raise FileNotFoundError(f"no such LoRA file: {models} (test)")
        made = self.make(current)
        self.made.append(weakref.ref(made.unet))
        return made


APPLIED_AT: dict[int, int] = {}  # id(report) -> frames pushed when it was applied


def run(t: FrameTranslator, switcher: StyleSwitcher, images: list[np.ndarray], log: list[int], reports: list[SwitchReport]) -> None:
    """The engine loop in miniature: switch styles between frames, push, collect output indices."""
    for image in images:
        for report in switcher.poll():
            reports.append(report)
            APPLIED_AT[id(report)] = t.stream.frames_seen
            log += [i for i, _ in report.outputs]
        log += [i for i, _ in t.push(image)]


def settle(t: FrameTranslator, switcher: StyleSwitcher, log: list[int], reports: list[SwitchReport], start: int) -> int:
    """Keep frames flowing until no switch is pending or loading (bounded)."""
    for n in range(200):
        if switcher.wanted is None and switcher.loading is None:
            return start + n
        if switcher.loading is not None:
            switcher.loading.done.wait(0.05)
        run(t, switcher, frames(1, start + n), log, reports)
    raise AssertionError("the switch never completed")


def test_prompt_switch_rewarms_the_sinks_exactly_like_a_fresh_warmup(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "anime")
    images = frames(12)
    got = [i for image in images for i, _ in t.push(image)]
    before = sinks(t)
    outputs = t.set_style(config(seed=7), "sketch")
    # the frame in flight (n = 2 steps: one) comes out of the re-warm, in the new style
    assert [i for i, _ in outputs] == [got[-1] + 1] == [11]
    after = sinks(t)
    expected = fresh_sinks(tiny, "sketch", config(seed=7), images[-WARMUP:])
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), "sinks unchanged by the switch"
    assert all(torch.equal(a, b) for a, b in zip(after, expected, strict=True)), "sinks differ from a fresh warmup"


def test_steps_switch_reallocates_and_rewarms(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "anime")
    images = frames(10)
    log = [i for image in images for i, _ in t.push(image)]
    log += [i for i, _ in t.set_style(config(t_index_list=(20, 30, 40)), "anime")]
    assert t.stream.config.num_steps == 3
    expected = fresh_sinks(tiny, "anime", config(t_index_list=(20, 30, 40)), images[-WARMUP:])
    assert all(torch.equal(a, b) for a, b in zip(sinks(t), expected, strict=True))
    log += [i for image in frames(6, 10) for i, _ in t.push(image)]
    log += [i for i, _ in t.flush()]
    assert log == list(range(16))  # no frame skipped or repeated across the switch


def test_other_models_load_in_the_background_while_frames_flow(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "anime")
    loader = Loader()
    loader.gate.clear()  # the load "takes a while"
    switcher = StyleSwitcher(t, loader, BASE, cache_size=2)
    log: list[int] = []
    reports: list[SwitchReport] = []
    run(t, switcher, frames(10), log, reports)
    old_unet = t.components.unet
    switcher.request(style("toon", "toon", OTHER, request_id=1))
    run(t, switcher, frames(6, 10), log, reports)  # loading: the old style keeps going
    assert [r.status for r in reports] == ["preparing"]
    assert t.components.unet is old_unet and log == list(range(15))
    loader.gate.set()
    end = settle(t, switcher, log, reports, 16)
    applied = reports[-1]
    assert applied.status == "applied" and applied.request.name == "toon" and not applied.cached
    # the cut: the frame that was in flight (n = 2 steps) is the first in the new style, from the re-warm
    assert applied.from_index == APPLIED_AT[id(applied)] - 1 == applied.outputs[0][0] and applied.prepare_ms > 0
    assert t.components.unet is not old_unet
    applied_at = APPLIED_AT[id(applied)]
    expected = fresh_sinks(t.components, "toon", config(), frames(WARMUP, applied_at - WARMUP))
    assert all(torch.equal(a, b) for a, b in zip(sinks(t), expected, strict=True)), "new models' sinks not re-warmed"
    log += [i for i, _ in t.flush()]
    assert log == list(range(end)), "a frame was skipped or repeated across the switch"


def test_switch_back_comes_from_the_cache_at_once_and_the_cache_is_bounded(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "anime")
    loader = Loader()
    switcher = StyleSwitcher(t, loader, BASE, cache_size=1)
    log: list[int] = []
    reports: list[SwitchReport] = []
    run(t, switcher, frames(10), log, reports)
    switcher.request(style("toon", "toon", OTHER, request_id=1))
    n = settle(t, switcher, log, reports, 10)
    switcher.request(style("anime", "anime", BASE, request_id=2))
    run(t, switcher, frames(1, n), log, reports)
    back = reports[-1]
    assert back.status == "applied" and back.cached and back.request.name == "anime"
    switcher.request(style("toon", "toon", OTHER, request_id=3))
    run(t, switcher, frames(1, n + 1), log, reports)
    assert reports[-1].status == "applied" and reports[-1].cached
    assert loader.calls == 1  # loaded once, switched three times
    switcher.request(style("third", "x", {"set": "third"}, request_id=4))
    settle(t, switcher, log, reports, n + 2)
    assert len(switcher.cache) == 1  # the oldest parked set was dropped


def test_a_failed_load_keeps_the_current_style(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "anime")
    loader = Loader()
    loader.fail = True
    switcher = StyleSwitcher(t, loader, BASE)
    log: list[int] = []
    reports: list[SwitchReport] = []
    run(t, switcher, frames(10), log, reports)
    unet, embeds = t.components.unet, t.stream.text_embeds
    switcher.request(style("broken", "broken", OTHER, request_id=1))
    n = settle(t, switcher, log, reports, 10)
    failed = reports[-1]
    assert failed.status == "failed" and "no such LoRA file" in failed.message
    assert t.components.unet is unet and torch.equal(t.stream.text_embeds, embeds)
    log += [i for i, _ in t.flush()]
    assert log == list(range(n))  # frames never stopped


def test_twenty_rapid_switches_end_in_the_last_style_with_bounded_memory(tiny: Live2DiffComponents) -> None:
    t = translator_on(tiny, "s0")
    loader = Loader()
    switcher = StyleSwitcher(t, loader, BASE, cache_size=1)
    log: list[int] = []
    reports: list[SwitchReport] = []
    run(t, switcher, frames(10), log, reports)
    styles = [
        style("s0", "anime", BASE), style("s1", "sketch", BASE, seed=3), style("s2", "toon", OTHER),
        style("s3", "oil", BASE, t_index_list=(20, 30, 40)), style("s4", "ink", {"set": "third"}),
    ]
    start = 10
    for rounds in range(2):
        for k in range(20):  # 20 requests; frames keep flowing between some of them
            wanted = dataclasses.replace(styles[(k * 3 + rounds) % len(styles)], request_id=rounds * 20 + k)
            switcher.request(wanted)
            if k % 4 == 0:
                run(t, switcher, frames(1, start), log, reports)
                start += 1
        start = settle(t, switcher, log, reports, start)
        gc.collect()
        alive = sum(ref() is not None for ref in loader.made)
        assert alive <= 1 + switcher.cache_size, f"{alive} model sets alive, expected at most the one on air + cache"
        assert len(switcher.cache) <= switcher.cache_size
    last = reports[-1]
    assert last.status == "applied" and last.request == wanted
    assert t.stream.config == wanted.config
    embeds = t.stream.prompts(wanted.prompt).to(t.stream.dtype)
    assert torch.equal(t.stream.text_embeds, embeds)  # the last requested prompt is on air
    assert switcher.coalesced > 0
    # the sinks equal a fresh warmup of the last style on the frames that were recent at the cut
    applied_at = APPLIED_AT[id(last)]
    expected = fresh_sinks(t.components, wanted.prompt, wanted.config, frames(WARMUP, applied_at - WARMUP))
    assert all(torch.equal(a, b) for a, b in zip(sinks(t), expected, strict=True))
    log += [i for i, _ in t.flush()]
    assert log == list(range(start)), "a frame was skipped or repeated"


def test_a_requested_crossfade_glides_and_one_that_cannot_blend_cuts_out_loud(
    tiny: Live2DiffComponents, caplog: pytest.LogCaptureFixture
) -> None:
    t = translator_on(tiny, "anime")
    switcher = StyleSwitcher(t, Loader(), BASE, cache_size=2)
    log: list[int] = []
    reports: list[SwitchReport] = []
    run(t, switcher, frames(10), log, reports)
    # the request's crossfade_frames and settle reach the translator: a glide, no re-warm
    switcher.request(dataclasses.replace(style("sketch", "sketch", seed=7), crossfade_frames=3, settle="refresh"))
    run(t, switcher, frames(1, 10), log, reports)
    (glide,) = reports
    assert glide.status == "applied" and glide.outputs == []
    fade = t.transitions.fade
    assert fade is not None and fade.frames == 3 and t.transitions.settle == "refresh"
    run(t, switcher, frames(3, 11), log, reports)  # the fade runs out and settles
    assert t.transitions.fade is None
    # another step count cannot blend: a cut (re-warm in the new style), and the log says why
    with caplog.at_level(logging.WARNING):
        switcher.request(dataclasses.replace(style("steps", "sketch", t_index_list=(20, 30, 40)), crossfade_frames=3))
        run(t, switcher, frames(1, 14), log, reports)
    cut = reports[-1]
    assert cut.request.name == "steps" and cut.status == "applied" and t.transitions.fade is None
    assert t.stream.config.num_steps == 3
    assert "'steps' cannot crossfade" in caplog.text and "cutting instead" in caplog.text
