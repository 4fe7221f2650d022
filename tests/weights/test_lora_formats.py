"""kohya LoRAs as civitai ships them, merged into the tiny model's float64 weights: W + w * ΔW, exactly.

Layouts: kohya LoRA/LoCon by diffusers names and by original SD block names, kohya text encoder,
LyCORIS LoHa and LoKr (linear, conv, CP/Tucker conv), with and without alpha. The expected deltas
are written out here from the LyCORIS definitions, independently of the code under test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch

from live2diff_broadcast.config import LoraSection
from live2diff_broadcast.weights.errors import IncompatibleCheckpointError
from live2diff_broadcast.weights.loader import load_components, load_style
from live2diff_broadcast.weights.lora import lora_deltas, merge_loras, parse_lora
from tests.weights import zoo
from tests.weights.conftest import TINY_OPTIONS, Zoo
from tests.weights.test_loader import unet_output

Weights = dict[str, dict[str, torch.Tensor]]
G = torch.Generator().manual_seed(7)


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=G, dtype=torch.float64)


@pytest.fixture
def weights(model_zoo: Zoo) -> Weights:
    c = model_zoo.components
    return {
        "unet": {k: v.double() for k, v in zoo.spatial_state(c).items()},
        "text_encoder": {k: v.detach().double().clone() for k, v in c.text_encoder.state_dict().items()},
    }


def diffusers_name(key: str) -> str:
    return "lora_unet_" + key.removesuffix(".weight").replace(".", "_")


def sd_name(key: str) -> str:
    return "lora_unet_" + zoo.to_ldm_unet(key).removesuffix(".weight").replace(".", "_")


def lora(name: str, down: torch.Tensor, up: torch.Tensor, alpha: float | None) -> dict[str, torch.Tensor]:
    parts = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up}
    return parts | ({f"{name}.alpha": torch.tensor(alpha)} if alpha is not None else {})


LORA_CASES = [  # (weight key, rank, alpha, kernel of down): linear, LoCon 3x3, 1x1, upsampler, time embedding
    ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", 4, 1.0, ()),
    ("down_blocks.1.resnets.0.conv1.weight", 4, 2.0, (3, 3)),
    ("up_blocks.0.resnets.1.conv_shortcut.weight", 2, None, (1, 1)),
    ("up_blocks.0.upsamplers.0.conv.weight", 2, 8.0, (3, 3)),
    ("mid_block.resnets.1.time_emb_proj.weight", 3, 1.5, ()),
    ("mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0.weight", 2, 1.0, ()),
    ("conv_in.weight", 2, 1.0, (3, 3)),
    ("conv_out.weight", 2, None, (3, 3)),
    ("time_embedding.linear_1.weight", 2, 4.0, ()),
]


@pytest.mark.parametrize("naming", [diffusers_name, sd_name], ids=["diffusers-names", "sd-block-names"])
def test_kohya_lora_and_locon(weights: Weights, naming: Callable[[str], str]) -> None:
    base = {t: dict(d) for t, d in weights.items()}
    state, expected = {}, {}
    for key, rank, alpha, kernel in LORA_CASES:
        w = weights["unet"][key]
        down, up = rand(rank, w.shape[1], *kernel), rand(w.shape[0], rank, *((1, 1) if kernel else ()))
        state |= lora(naming(key), down, up, alpha)
        scale = (alpha if alpha is not None else rank) / rank
        expected[key] = w + 0.7 * (scale * (up.flatten(1) @ down.flatten(1)).reshape(w.shape))
    te_down, te_up = rand(4, 32), rand(32, 4)
    state |= lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", te_down, te_up, 2.0)
    merged = merge_loras([parse_lora(state, "civitai.safetensors", 0.7, layers_per_block=1)], weights)
    for key, value in expected.items():
        assert torch.equal(merged["unet"][key], value), key
    q = "encoder.layers.0.self_attn.q_proj.weight"
    assert torch.equal(merged["text_encoder"][q], base["text_encoder"][q] + 0.7 * (0.5 * (te_up @ te_down)))
    untouched = set(base["unet"]) - set(expected)
    assert all(merged["unet"][k] is base["unet"][k] for k in untouched)


def test_locon_with_tucker_mid(weights: Weights) -> None:
    key = "down_blocks.0.downsamplers.0.conv.weight"  # (32, 32, 3, 3)
    down, mid, up = rand(4, 32, 1, 1), rand(4, 4, 3, 3), rand(32, 4, 1, 1)
    name = sd_name(key)
    state = {f"{name}.lora_down.weight": down, f"{name}.lora_mid.weight": mid, f"{name}.lora_up.weight": up, f"{name}.alpha": torch.tensor(2.0)}
    delta = lora_deltas(parse_lora(state, "locon.safetensors", layers_per_block=1), weights)["unet"][key]
    # ΔW[i, j, k, l] = sum over m, n of up[i, m] mid[m, n, k, l] down[n, j], as batched matmuls over (k, l)
    expected = (up.flatten(1) @ mid.permute(2, 3, 0, 1) @ down.flatten(1)).permute(2, 3, 0, 1) * (2.0 / 4)
    assert torch.allclose(delta, expected, rtol=0, atol=1e-12)


def hada(wa: torch.Tensor, wb: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
    """One LoHa factor: wa @ wb, or the CP form (LyCORIS loha.py)."""
    return wa @ wb if t is None else torch.einsum("i j k l, j r, i p -> p r k l", t, wb, wa)


def test_loha_linear_conv_and_cp_conv(weights: Weights) -> None:
    q = "up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.weight"  # (32, 32)
    conv = "mid_block.resnets.0.conv1.weight"  # (64, 64, 3, 3)
    cp = "up_blocks.1.resnets.0.conv1.weight"  # (32, 96, 3, 3)
    p = {k: {n: rand(*s) for n, s in shapes.items()} for k, shapes in {
        q: {"hada_w1_a": (32, 4), "hada_w1_b": (4, 32), "hada_w2_a": (32, 4), "hada_w2_b": (4, 32)},
        conv: {"hada_w1_a": (64, 2), "hada_w1_b": (2, 576), "hada_w2_a": (64, 2), "hada_w2_b": (2, 576)},
        cp: {"hada_w1_a": (3, 32), "hada_w1_b": (3, 96), "hada_t1": (3, 3, 3, 3),
             "hada_w2_a": (3, 32), "hada_w2_b": (3, 96), "hada_t2": (3, 3, 3, 3)},
    }.items()}
    state = {f"{sd_name(k)}.{n}": t for k, parts in p.items() for n, t in parts.items()}
    state[f"{sd_name(q)}.alpha"] = torch.tensor(2.0)  # conv: no alpha (scale 1); cp: alpha 1 / rank 3
    state[f"{sd_name(cp)}.alpha"] = torch.tensor(1.0)
    deltas = lora_deltas(parse_lora(state, "loha.safetensors", layers_per_block=1), weights)["unet"]
    assert set(deltas) == {q, conv, cp}
    a = p[q]
    assert torch.equal(deltas[q], hada(a["hada_w1_a"], a["hada_w1_b"]) * hada(a["hada_w2_a"], a["hada_w2_b"]) * (2.0 / 4))
    a = p[conv]
    full = hada(a["hada_w1_a"], a["hada_w1_b"]) * hada(a["hada_w2_a"], a["hada_w2_b"])
    assert torch.equal(deltas[conv], full.reshape(64, 64, 3, 3))
    a = p[cp]
    cp_delta = hada(a["hada_w1_a"], a["hada_w1_b"], a["hada_t1"]) * hada(a["hada_w2_a"], a["hada_w2_b"], a["hada_t2"]) * (1.0 / 3)
    assert torch.allclose(deltas[cp], cp_delta, rtol=0, atol=1e-12)  # einsum may contract in another order
    w0 = weights["unet"][q]
    merged = merge_loras([parse_lora(state, "loha.safetensors", 0.5, layers_per_block=1)], weights)
    assert torch.equal(merged["unet"][q], w0 + 0.5 * deltas[q])


def test_lokr_whole_factored_and_tucker(weights: Weights) -> None:
    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.weight"  # (32, 32)
    ff = "mid_block.attentions.0.transformer_blocks.0.ff.net.2.weight"  # (64, 256)
    conv = "down_blocks.1.resnets.0.conv2.weight"  # (64, 64, 3, 3)
    tucker = "down_blocks.0.resnets.0.conv1.weight"  # (32, 32, 3, 3)
    w1, w2a, w2b = rand(4, 4), rand(8, 2), rand(2, 8)  # q: w1 whole, w2 factored, alpha 1 / rank 2
    f1, f2 = rand(8, 16), rand(8, 16)  # ff: both whole: no scale, alpha ignored
    c1a, c1b, c2 = rand(4, 1), rand(1, 4), rand(16, 16, 3, 3)  # conv: w1 factored, w2 whole conv, no alpha
    t1, t2, ta, tb = rand(4, 4), rand(2, 2, 3, 3), rand(2, 8), rand(2, 8)  # tucker: alpha 4 / rank 2
    state = {
        f"{sd_name(q)}.lokr_w1": w1, f"{sd_name(q)}.lokr_w2_a": w2a, f"{sd_name(q)}.lokr_w2_b": w2b,
        f"{sd_name(q)}.alpha": torch.tensor(1.0),
        f"{sd_name(ff)}.lokr_w1": f1, f"{sd_name(ff)}.lokr_w2": f2, f"{sd_name(ff)}.alpha": torch.tensor(16.0),
        f"{sd_name(conv)}.lokr_w1_a": c1a, f"{sd_name(conv)}.lokr_w1_b": c1b, f"{sd_name(conv)}.lokr_w2": c2,
        f"{sd_name(tucker)}.lokr_w1": t1, f"{sd_name(tucker)}.lokr_t2": t2,
        f"{sd_name(tucker)}.lokr_w2_a": ta, f"{sd_name(tucker)}.lokr_w2_b": tb, f"{sd_name(tucker)}.alpha": torch.tensor(4.0),
    }
    te1, te2 = rand(8, 4), rand(8, 8)  # text encoder fc1 (64, 32)
    state |= {"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w1": te1, "lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w2": te2}
    deltas = lora_deltas(parse_lora(state, "lokr.safetensors", layers_per_block=1), weights)
    assert torch.equal(deltas["text_encoder"]["encoder.layers.0.mlp.fc1.weight"], torch.kron(te1, te2) * 1.0)
    d = deltas["unet"]
    assert torch.equal(d[q], torch.kron(w1, w2a @ w2b) * (1.0 / 2))
    assert torch.equal(d[ff], torch.kron(f1, f2) * 1.0)
    assert torch.equal(d[conv], torch.kron((c1a @ c1b).reshape(4, 4, 1, 1), c2) * 1.0)
    w2 = torch.einsum("i j k l, j r, i p -> p r k l", t2, tb, ta)  # LyCORIS lokr.py, Tucker w2: (8, 8, 3, 3)
    assert torch.allclose(d[tucker], torch.kron(t1.reshape(4, 4, 1, 1), w2.contiguous()) * (4.0 / 2), rtol=0, atol=1e-12)
    w0 = weights["unet"][conv]
    merged = merge_loras([parse_lora(state, "lokr.safetensors", 0.25, layers_per_block=1)], weights)
    assert torch.equal(merged["unet"][conv], w0 + 0.25 * d[conv])


BAD = [  # (state, what the message must say)
    ({"lora_unet_conv_in.lora_down.weight": torch.zeros(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": torch.zeros(32, 2, 1, 1),
      "lora_unet_conv_in.lora_middle": torch.zeros(1)}, r"unexpected keys.*lora_unet_conv_in\.lora_middle"),
    ({"lora_unet_conv_in.hada_w1_a": torch.zeros(32, 2), "lora_unet_conv_in.hada_w1_b": torch.zeros(2, 36),
      "lora_unet_conv_in.hada_w2_a": torch.zeros(32, 2)}, r"lora_unet_conv_in: lacks hada_w2_b"),
    ({"lora_unet_conv_in.lokr_w1_a": torch.zeros(4, 2), "lora_unet_conv_in.lokr_w1_b": torch.zeros(3, 4),
      "lora_unet_conv_in.lokr_w2": torch.zeros(8, 1, 3, 3)}, r"lora_unet_conv_in: lokr_w1_a @ lokr_w1_b: inner sizes disagree"),
    ({"lora_unet_middle_block_7_proj_in.lora_down.weight": torch.zeros(2, 64),
      "lora_unet_middle_block_7_proj_in.lora_up.weight": torch.zeros(64, 2)}, r"middle_block_7_proj_in"),
    ({"lora_unet_conv_in.lora_down.weight": torch.zeros(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": torch.zeros(32, 2, 1, 1),
      "lora_unet_conv_in.dora_scale": torch.zeros(32)}, r"lora_unet_conv_in\.dora_scale: a DoRA layer"),
    ({"lora_unet_conv_in.lora_down.weight": torch.zeros(2, 4, 1, 1), "lora_unet_conv_in.lora_mid.weight": torch.zeros(3, 2, 3, 3),
      "lora_unet_conv_in.lora_up.weight": torch.zeros(32, 2, 1, 1)}, r"lora_unet_conv_in: lora_mid \(3, 2, 3, 3\) does not fit"),
    ({"lora_unet_conv_in.lora_down.weight": torch.zeros(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": torch.zeros(32, 2, 3, 3)},
     r"lora_unet_conv_in: up kernel \(32, 2, 3, 3\)"),
    ({"lora_unet_conv_in.lokr_w1": torch.zeros(4, 1), "lora_unet_conv_in.lokr_w2_a": torch.zeros(2, 8),
      "lora_unet_conv_in.lokr_w2_b": torch.zeros(2, 4), "lora_unet_conv_in.lokr_t2": torch.zeros(3, 2, 3, 3)},
     r"lokr_t2 \(3, 2, 3, 3\) does not fit"),
    ({"lora_unet_conv_in.lokr_w1": torch.zeros(4, 1), "lora_unet_conv_in.lokr_w2": torch.zeros(8, 4, 3, 3),
      "lora_unet_conv_in.alpha": torch.zeros(2)}, r"alpha should be one number"),
]


@pytest.mark.parametrize(("state", "message"), BAD, ids=["unknown-key", "loha-missing", "lokr-inner", "sd-name", "dora", "tucker-locon", "up-kernel", "lokr-core", "alpha"])
def test_bad_files_are_refused_naming_file_and_key(state: dict[str, torch.Tensor], message: str) -> None:
    with pytest.raises(IncompatibleCheckpointError, match=f"broken.safetensors.*{message}"):
        parse_lora(state, "broken.safetensors", layers_per_block=1)


def test_lycoris_shape_mismatch_is_named_and_changes_nothing(weights: Weights) -> None:
    before = dict(weights["unet"])
    good = {f"{diffusers_name('conv_in.weight')}.lokr_w1": rand(4, 2), f"{diffusers_name('conv_in.weight')}.lokr_w2": rand(8, 2, 3, 3)}
    to_q = "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight"  # (64, 64); this LoHa makes (64, 32)
    bad = {f"{sd_name(to_q)}.hada_w1_a": rand(64, 2), f"{sd_name(to_q)}.hada_w1_b": rand(2, 32),
           f"{sd_name(to_q)}.hada_w2_a": rand(64, 2), f"{sd_name(to_q)}.hada_w2_b": rand(2, 32)}
    loras = [parse_lora(good, "good.safetensors", layers_per_block=1), parse_lora(bad, "sd2.safetensors", layers_per_block=1)]
    with pytest.raises(IncompatibleCheckpointError, match=r"sd2\.safetensors(.|\n)*lora_unet_middle_block_1_transformer_blocks_0"
                       r"_attn1_to_q -> mid_block\.attentions\.0\.transformer_blocks\.0\.attn1\.to_q\.weight: model weight \(64, 64\), "
                       r"LohaLayer delta \(64, 32\)"):
        merge_loras(loras, weights)
    assert all(weights["unet"][k] is before[k] for k in before)


def test_sd_named_loha_through_a_style_switch_changes_the_output_accordingly(model_zoo: Zoo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A LoHa file by original SD names, loaded by load_style: the UNet's weight and output move by w * ΔW;
    a broken second file leaves the running model as it was."""
    current = load_components(model_zoo.models(), model_zoo.store(), TINY_OPTIONS)
    out_before = unet_output(current)
    key = "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_v.weight"  # (32, 32)
    g = torch.Generator().manual_seed(3)
    w1a, w1b, w2a, w2b = (torch.randn(s, generator=g) for s in ((32, 2), (2, 32), (32, 2), (2, 32)))
    name = sd_name(key)
    loha = zoo.write_safetensors(
        {f"{name}.hada_w1_a": w1a, f"{name}.hada_w1_b": w1b, f"{name}.hada_w2_a": w2a, f"{name}.hada_w2_b": w2b,
         f"{name}.alpha": torch.tensor(4.0)},
        tmp_path / "sd_named_loha.safetensors",
    )
    broken = zoo.write_safetensors({"lora_unet_out_2.lokr_w1": torch.randn(2, 2)}, tmp_path / "broken_lokr.safetensors")
    with pytest.raises(IncompatibleCheckpointError, match=r"broken_lokr\.safetensors.*lora_unet_out_2: lacks lokr_w2_a"):
        load_style(current, model_zoo.models(loras=[LoraSection(path=str(loha)), LoraSection(path=str(broken))]),
                   model_zoo.store(), TINY_OPTIONS)
    assert torch.equal(unet_output(current), out_before)
    switched = load_style(current, model_zoo.models(loras=[LoraSection(path=str(loha), weight=0.5)]), model_zoo.store(), TINY_OPTIONS)
    expected = model_zoo.components.unet.unet.state_dict()[key] + 0.5 * ((w1a @ w1b) * (w2a @ w2b) * (4.0 / 2))
    assert torch.equal(switched.unet.state_dict()[f"unet.{key}"], expected)
    reference = copy.deepcopy(model_zoo.components)
    reference.unet.unet.get_submodule(key.removesuffix(".weight")).weight.data.copy_(expected)
    out = unet_output(switched)
    assert not torch.allclose(out, out_before, atol=1e-4)
    assert torch.allclose(out, unet_output(reference), rtol=0, atol=1e-6)
