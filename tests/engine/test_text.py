import pytest
import torch

from live2diff_broadcast.engine.text import PromptEncoder


def test_clip_skip_2_is_the_normed_penultimate_layer(tiny):
    enc = PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=2)
    ids = tiny.tokenizer("a dog", padding="max_length", max_length=16, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = tiny.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
        expected = tiny.text_encoder.final_layer_norm(hidden)
    assert torch.equal(enc("a dog"), expected)
    last = PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=1)("a dog")
    assert not torch.equal(last, expected)


def test_template_wraps_the_prompt(tiny):
    plain = PromptEncoder(tiny.tokenizer, tiny.text_encoder)("cartoon style, a dog")
    templated = PromptEncoder(tiny.tokenizer, tiny.text_encoder, template="cartoon style, {}")("a dog")
    assert torch.equal(plain, templated)


def test_clip_skip_out_of_range(tiny):
    with pytest.raises(ValueError, match="clip_skip"):
        PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=9)
