"""DreamBooth single-file (LDM) checkpoints: converted with local configs; SDXL / SD2 refused."""

from __future__ import annotations

import pytest
import torch

from live2diff_broadcast.weights.denoiser import expected_unet_shapes
from live2diff_broadcast.weights.errors import IncompatibleCheckpointError
from live2diff_broadcast.weights.loader import expected_text_shapes
from live2diff_broadcast.weights.single_file import convert_style_checkpoint
from tests.weights import zoo
from tests.weights.conftest import Zoo


def _convert(state: dict[str, torch.Tensor], model_zoo: Zoo):  # type: ignore[no-untyped-def]
    text_shapes = expected_text_shapes(model_zoo.components.text_encoder.config)
    return convert_style_checkpoint(state, "style.safetensors", zoo.TINY_UNET, expected_unet_shapes(zoo.TINY_UNET), text_shapes)


def test_ldm_checkpoint_converts_to_the_same_tensors(model_zoo: Zoo) -> None:
    c = model_zoo.components
    got = _convert(zoo.ldm_single_file_state(c), model_zoo)
    spatial = zoo.spatial_state(c)
    assert set(got.unet) == set(spatial) and all(torch.equal(got.unet[k], spatial[k]) for k in spatial)
    text = c.text_encoder.state_dict()
    assert set(got.text_encoder) == set(text) and all(torch.equal(got.text_encoder[k], text[k]) for k in text)


def test_sdxl_and_sd2_are_recognised(model_zoo: Zoo) -> None:
    state = zoo.ldm_single_file_state(model_zoo.components)
    sdxl = dict(state, **{"conditioner.embedders.1.model.ln_final.weight": torch.zeros(4)})
    with pytest.raises(IncompatibleCheckpointError, match="SDXL"):
        _convert(sdxl, model_zoo)
    sd2 = dict(state)
    key = next(k for k in state if k.endswith("attn2.to_k.weight"))
    sd2[key] = torch.zeros(state[key].shape[0], 1024)
    with pytest.raises(IncompatibleCheckpointError, match="1024.*SD2"):
        _convert(sd2, model_zoo)


def test_a_lora_given_as_style_is_explained(model_zoo: Zoo) -> None:
    with pytest.raises(IncompatibleCheckpointError, match="not a single-file"):
        _convert({"lora_unet_conv_in.lora_down.weight": torch.zeros(1)}, model_zoo)
