"""Live LoRA faders: a weight set live equals a fresh load at that weight, bit for bit, in place,
however often it moves; through the translator the stream then converges to the reloaded one."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_broadcast.config import LoraSection
from live2diff_broadcast.engine.backend_report import BackendReport
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow
from live2diff_broadcast.engine.translator import FrameTranslator
from live2diff_broadcast.weights.loader import load_components
from tests.engine.helpers import make_stream
from tests.weights import zoo
from tests.weights.conftest import TINY_OPTIONS, Zoo

ATTN = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
CROSS = "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
PROJ_IN = "lora_unet_down_blocks_0_attentions_0_proj_in"  # the LCM-LoRA's layer too: the base must include it
TE_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"


def _write_loras(root: Path) -> list[Path]:
    g = torch.Generator().manual_seed(3)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.3

    ink = {  # a kohya LoCon: a 3x3 conv, an attention projection and the LCM's proj_in
        "lora_unet_conv_in.lora_down.weight": r(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": r(32, 2, 1, 1),
        f"{ATTN}.lora_down.weight": r(4, 32), f"{ATTN}.lora_up.weight": r(32, 4), f"{ATTN}.alpha": torch.tensor(2.0),
        f"{PROJ_IN}.lora_down.weight": r(2, 32, 1, 1), f"{PROJ_IN}.lora_up.weight": r(32, 2, 1, 1),
    }
    paint = {  # a LyCORIS LoHa on the same attention projection (two LoRAs on one weight) and a cross-attention one
        f"{ATTN}.hada_w1_a": r(32, 2), f"{ATTN}.hada_w1_b": r(2, 32), f"{ATTN}.hada_w2_a": r(32, 2), f"{ATTN}.hada_w2_b": r(2, 32),
        f"{CROSS}.lora_down.weight": r(2, 32), f"{CROSS}.lora_up.weight": r(32, 2),
    }
    words = {f"{TE_Q}.lora_down.weight": r(2, 32), f"{TE_Q}.lora_up.weight": r(32, 2)}  # text encoder only
    return [zoo.write_safetensors(state, root / f"{name}.safetensors") for name, state in
            (("ink", ink), ("paint", paint), ("words", words))]


def _load(model_zoo: Zoo, paths: list[Path], weights: list[float]) -> Live2DiffComponents:
    loras = [LoraSection(path=str(p), weight=w) for p, w in zip(paths, weights, strict=True)]
    return load_components(model_zoo.models(loras=loras), model_zoo.store(), TINY_OPTIONS)


def _assert_equal_weights(a: Live2DiffComponents, b: Live2DiffComponents) -> None:
    for module_a, module_b in ((a.unet, b.unet), (a.text_encoder, b.text_encoder)):
        sa, sb = module_a.state_dict(), module_b.state_dict()
        bad = [k for k in sa if not torch.equal(sa[k], sb[k])]
        assert not bad, f"{len(bad)} weights differ, e.g. {bad[:3]}"


@pytest.fixture(scope="module")
def lora_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _write_loras(tmp_path_factory.mktemp("loras"))


def test_a_fader_set_live_equals_a_fresh_load_at_that_weight(model_zoo: Zoo, lora_files: list[Path]) -> None:
    live = _load(model_zoo, lora_files, [0.8, 0.3, 1.0])
    assert live.loras is not None and live.loras.names == ["ink", "paint", "words"]
    pointers = {k: p.data_ptr() for k, p in live.unet.named_parameters()}
    live.loras.move("ink", 0.25)
    live.loras.move("1", 1.0)  # by position
    assert live.loras.apply() == {"unet"}
    _assert_equal_weights(live, _load(model_zoo, lora_files, [0.25, 1.0, 1.0]))
    assert pointers == {k: p.data_ptr() for k, p in live.unet.named_parameters()}  # in place: compiled graphs stay valid
    assert live.loras.weights == {"ink": 0.25, "paint": 1.0, "words": 1.0}


def test_many_moves_build_up_no_error(model_zoo: Zoo, lora_files: list[Path]) -> None:
    live = _load(model_zoo, lora_files, [0.8, 0.3, 1.0])
    assert live.loras is not None
    rng = random.Random(0)
    for _ in range(40):
        live.loras.move(rng.choice(["ink", "paint", "words"]), rng.random())
        live.loras.apply()
    for name, weight in (("ink", 0.8), ("paint", 0.3), ("words", 1.0)):
        live.loras.move(name, weight)
    live.loras.apply()
    _assert_equal_weights(live, _load(model_zoo, lora_files, [0.8, 0.3, 1.0]))
    live.loras.move("words", 0.0)  # zero: the text encoder's own weights (no LoRA there but this one)
    assert live.loras.apply() == {"text_encoder"}
    key = "encoder.layers.0.self_attn.q_proj.weight"
    assert torch.equal(live.text_encoder.state_dict()[key], model_zoo.components.text_encoder.state_dict()[key])


def test_moves_between_two_frames_cost_one_recompute(model_zoo: Zoo, lora_files: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from live2diff_broadcast.weights import lora_faders

    live = _load(model_zoo, lora_files, [0.8, 0.3, 1.0])
    assert live.loras is not None
    calls = []
    real = lora_faders.merge_step
    monkeypatch.setattr(lora_faders, "merge_step", lambda *a: calls.append(1) or real(*a))
    for i in range(30):  # an OSC fader at 60 messages a second, between two frames
        live.loras.move("ink", i / 30)
    assert live.loras.pending
    live.loras.apply()
    assert not live.loras.pending
    # ink's 3 weights, one of them also under paint's LoHa: 4 merges, once
    assert len(calls) == 4


def test_bad_fader_moves_name_what_was_expected(model_zoo: Zoo, lora_files: list[Path]) -> None:
    live = _load(model_zoo, lora_files, [0.8, 0.3, 1.0])
    assert live.loras is not None
    with pytest.raises(KeyError, match=r"no LoRA fader named 'inc'; the models on air have: 0: ink, 1: paint, 2: words"):
        live.loras.move("inc", 0.5)
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\], got 1.5"):
        live.loras.move("ink", 1.5)
    assert not live.loras.pending
    assert load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS).loras is None  # no style LoRAs: no faders


def test_the_named_fader_and_a_style_switch_keep_their_own_faders(model_zoo: Zoo, lora_files: list[Path]) -> None:
    from live2diff_broadcast.weights.loader import load_style

    current = load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS)
    models = model_zoo.models(loras=[LoraSection(path=str(lora_files[0]), weight=0.5, name="Ink Wash")])
    styled = load_style(current, models, model_zoo.store(), TINY_OPTIONS)
    assert current.loras is None and styled.loras is not None and styled.loras.names == ["Ink Wash"]
    styled.loras.move("Ink Wash", 0.0)
    styled.loras.apply()
    _assert_equal_weights(styled, current)  # weight 0: exactly the models without the LoRA


def _frames(count: int) -> list[np.ndarray]:
    g = np.random.default_rng(0)
    base = g.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return [np.roll(base, i, axis=1) for i in range(count)]


def test_through_the_translator_the_stream_converges_to_the_reloaded_one(model_zoo: Zoo, lora_files: list[Path]) -> None:
    """Fader moved at frame 6, re-warm at 6: once the window has turned over, every output equals a
    stream on models loaded at the new weights that re-warmed at the same frame."""
    window = 4
    live = FrameTranslator(make_stream(_load(model_zoo, lora_files, [0.8, 0.3, 1.0]), 2, causal=CausalWindow(window=window, warmup=2)))
    moved = FrameTranslator(make_stream(_load(model_zoo, lora_files, [0.1, 0.3, 0.6]), 2, causal=CausalWindow(window=window, warmup=2)))
    frames = _frames(20)
    out_live: dict[int, np.ndarray] = {}
    out_moved: dict[int, np.ndarray] = {}
    for i, frame in enumerate(frames):
        if i == 6:
            live.set_lora("ink", 0.1)
            live.set_lora("words", 0.6)  # the text encoder too: the prompt is encoded anew
            out_live.update(live.rewarm())
            out_moved.update(moved.rewarm())
        out_live.update(live.push(frame))
        out_moved.update(moved.push(frame))
    late = [i for i in out_live if i >= 6 + window + 2]
    assert late and all(np.array_equal(out_live[i], out_moved[i]) for i in late)
    early = [i for i in out_live if i < 5]
    assert any(not np.array_equal(out_live[i], out_moved[i]) for i in early)  # before the move they differ


def test_the_translator_refuses_faders_it_cannot_honour(model_zoo: Zoo, lora_files: list[Path]) -> None:
    plain = FrameTranslator(make_stream(load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS), 2))
    with pytest.raises(KeyError, match="the models on air load no style LoRAs"):
        plain.set_lora("ink", 0.5)
    trt = FrameTranslator(make_stream(_load(model_zoo, lora_files, [0.8, 0.3, 1.0]), 2),
                          backend=BackendReport(requested="tensorrt", active="tensorrt"))
    with pytest.raises(ValueError, match="LoRA faders need the pytorch or compiled backend: the tensorrt engines"):
        trt.set_lora("ink", 0.5)
