"""The whole 'live2diff' preset from files on disk equals the directly built tiny model, exactly."""

from __future__ import annotations

import logging

import pytest
import torch

from live2diff_broadcast.config import LoraSection, Profile
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.weights.errors import IncompatibleCheckpointError
from live2diff_broadcast.weights.loader import load_components, load_style
from tests.weights import zoo
from tests.weights.conftest import TINY_OPTIONS, Zoo


def assert_same_params(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def unet_output(c: Live2DiffComponents) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 8, 8, generator=g)
    text = torch.randn(6, 5, 32, generator=g)
    depth = torch.randn(6, 4, 8, 8, generator=g)
    with torch.no_grad():
        return c.unet(x, torch.tensor([999, 500]), text, depth)


def test_loaded_components_equal_the_directly_built_model(model_zoo: Zoo, caplog: pytest.LogCaptureFixture) -> None:
    ref = model_zoo.components
    with caplog.at_level(logging.INFO, logger="live2diff_broadcast.weights.measure"):
        got = load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS)
    assert got.random_weights is False
    for name in ("unet", "vae", "text_encoder"):
        assert_same_params(getattr(got, name), getattr(ref, name))
    assert_same_params(got.depth.model, ref.depth.model)
    assert torch.equal(unet_output(got), unet_output(ref))
    ids = ref.tokenizer("a cat", padding="max_length", max_length=16, return_tensors="pt").input_ids
    assert torch.equal(got.tokenizer("a cat", padding="max_length", max_length=16, return_tensors="pt").input_ids, ids)
    with torch.no_grad():
        assert torch.equal(got.text_encoder(ids).last_hidden_state, ref.text_encoder(ids).last_hidden_state)
        image = torch.rand(1, 3, 40, 56)
        assert torch.equal(got.depth(image), ref.depth(image))
    # time and peak host memory are logged per component
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "loaded Live2Diff UNet assembly in" in logged and "host memory peak" in logged


def test_unet_weights_are_adopted_not_copied(model_zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    """One copy of the UNet: the tensors read from disk become the model's parameters."""
    from live2diff_broadcast.weights import denoiser, loader

    seen: dict[str, torch.Tensor] = {}
    real = denoiser.assemble_unet

    def spy(unet_config, adapter_config, spatial, live2diff, path, dtype=torch.float32):  # type: ignore[no-untyped-def]
        seen.update(spatial)
        return real(unet_config, adapter_config, spatial, live2diff, path, dtype)

    monkeypatch.setattr(loader, "assemble_unet", spy)
    got = load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS)
    params = dict(got.unet.unet.named_parameters())
    assert seen and all(params[k].data_ptr() == v.data_ptr() for k, v in seen.items() if k in params)


def test_style_checkpoint_and_loras_through_the_profile(model_zoo: Zoo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref = model_zoo.components
    style = zoo.write_safetensors(zoo.ldm_single_file_state(ref), tmp_path / "toon.safetensors")
    down, up = torch.randn(2, 32), torch.randn(32, 2)
    lora = zoo.write_safetensors(
        {
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": down,
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": up,
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha": torch.tensor(1.0),
        },
        tmp_path / "te_lora.safetensors",
    )
    models = model_zoo.models(style_checkpoint=str(style), loras=[LoraSection(path=str(lora), weight=0.5)])
    got = load_components(models, model_zoo.store(), TINY_OPTIONS)
    assert_same_params(got.unet, ref.unet)  # the style file carries the same UNet tensors
    key = "encoder.layers.0.self_attn.q_proj.weight"
    w = ref.text_encoder.state_dict()[key]
    assert torch.equal(got.text_encoder.state_dict()[key], w + (0.5 * (1.0 / 2)) * (up @ down))


def test_failed_style_switch_leaves_the_running_model_intact(model_zoo: Zoo, reference: Live2DiffComponents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    current = load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS)
    before = {k: v.clone() for k, v in current.unet.state_dict().items()}
    out_before = unet_output(current)
    good = zoo.write_safetensors(
        {"lora_unet_conv_in.lora_down.weight": torch.randn(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": torch.randn(32, 2, 1, 1)},
        tmp_path / "good.safetensors",
    )
    bad = zoo.write_safetensors(  # a LoRA for a wider (SDXL-like) layer
        {"lora_unet_conv_out.lora_down.weight": torch.randn(2, 320, 3, 3), "lora_unet_conv_out.lora_up.weight": torch.randn(4, 2, 1, 1)},
        tmp_path / "bad.safetensors",
    )
    models = model_zoo.models(loras=[LoraSection(path=str(good)), LoraSection(path=str(bad))])
    with pytest.raises(IncompatibleCheckpointError, match="bad.safetensors"):
        load_style(current, models, model_zoo.store(), TINY_OPTIONS)
    after = current.unet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(unet_output(current), out_before)
    switched = load_style(current, model_zoo.models(loras=[LoraSection(path=str(good))]), model_zoo.store(), TINY_OPTIONS)
    assert switched.unet is not current.unet and switched.vae is current.vae
    assert not torch.equal(switched.unet.state_dict()["unet.conv_in.weight"], before["unet.conv_in.weight"])
    assert all(torch.equal(before[k], current.unet.state_dict()[k]) for k in before)


def test_translator_builds_the_live2diff_preset(model_zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    from live2diff_broadcast import assembly
    from live2diff_broadcast.weights import loader

    real = loader.load_components
    monkeypatch.setattr(loader, "load_components", lambda models, store=None, options=None: real(models, model_zoo.store(), TINY_OPTIONS))
    profile = Profile(models=model_zoo.models())
    got = assembly.build_components(profile)
    assert got.random_weights is False
    assert_same_params(got.unet, model_zoo.components.unet)


def test_checkpoint_positional_tables_run_in_the_model(model_zoo: Zoo, reference: Live2DiffComponents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Oracle: the tiny model with its pos_embed.pe buffers set by hand to the file's tables."""
    from tests.weights.test_live2diff_ckpt import _shifted_tables

    state = _shifted_tables(zoo.live2diff_ckpt_state(model_zoo.components), seed=3)
    ckpt = tmp_path / "shifted.ckpt"
    torch.save({"state_dict": state}, ckpt)
    got = load_components(model_zoo.models(live2diff=str(ckpt)), model_zoo.store(), TINY_OPTIONS)
    for name, buf in reference.unet.unet.named_buffers():
        if name.endswith("pos_embed.pe"):
            block = zoo.to_animatediff(name.replace("pos_embed.pe", "attn1.x")).rsplit(".attention_blocks.0.", 1)[0]
            buf.copy_(state[f"module.{block}.attention_blocks.0.pos_encoder.pe"])
    assert_same_params(got.unet, reference.unet)
    assert torch.equal(unet_output(got), unet_output(reference))
    assert not torch.equal(unet_output(got), unet_output(model_zoo.components))


def _ckpt_with_spatial(model_zoo: Zoo, path, value: float):  # type: ignore[no-untyped-def]
    state = zoo.live2diff_ckpt_state(model_zoo.components)
    state["module.conv_in.weight"] = torch.full((32, 4, 3, 3), value)
    torch.save({"state_dict": state}, path)
    return path


def test_spatial_weights_in_the_checkpoint_apply_over_the_base(model_zoo: Zoo, reference: Live2DiffComponents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ckpt = _ckpt_with_spatial(model_zoo, tmp_path / "spatial.ckpt", 0.5)
    got = load_components(model_zoo.models(live2diff=str(ckpt)), model_zoo.store(), TINY_OPTIONS)
    assert torch.equal(got.unet.state_dict()["unet.conv_in.weight"], torch.full((32, 4, 3, 3), 0.5))  # the authors' order
    ignored = load_components(model_zoo.models(live2diff=str(ckpt), live2diff_spatial="ignore"), model_zoo.store(), TINY_OPTIONS)
    assert_same_params(ignored.unet, reference.unet)


def test_a_style_checkpoint_replaces_the_checkpoint_spatial_weights(model_zoo: Zoo, reference: Live2DiffComponents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Their loader loads the DreamBooth file after the motion checkpoint: the DreamBooth's UNet wins."""
    ckpt = _ckpt_with_spatial(model_zoo, tmp_path / "spatial.ckpt", 0.5)
    style = zoo.write_safetensors(zoo.ldm_single_file_state(reference), tmp_path / "toon.safetensors")
    got = load_components(model_zoo.models(live2diff=str(ckpt), style_checkpoint=str(style)), model_zoo.store(), TINY_OPTIONS)
    assert_same_params(got.unet, reference.unet)


def test_file_alpha_ignore_merges_as_the_authors_loader(model_zoo: Zoo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Their convert_lora_model_level: W += lora_alpha * up @ down, the file's alpha key skipped."""
    ref = model_zoo.components
    down, up = torch.randn(2, 32), torch.randn(32, 2)
    lora = zoo.write_safetensors(
        {
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": down,
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": up,
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha": torch.tensor(1.0),  # rank 2: kohya scale 1/2
        },
        tmp_path / "te_lora.safetensors",
    )
    key = "encoder.layers.0.self_attn.q_proj.weight"
    w = ref.text_encoder.state_dict()[key]
    for mode, scale in (("apply", 0.5), ("ignore", 1.0)):
        models = model_zoo.models(loras=[LoraSection(path=str(lora), weight=0.7, file_alpha=mode)])
        got = load_components(models, model_zoo.store(), TINY_OPTIONS).text_encoder.state_dict()[key]
        assert torch.equal(got, w + (0.7 * scale) * (up @ down)), mode
