import pytest
import torch

from live2diff_broadcast.engine.text import PromptEncoder, fit_prompt


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


def test_a_huge_prompt_is_cut_to_what_the_encoder_reads(tiny):
    """Issue 18.5: a 10 MB prompt was tokenized whole (48 s, 2.8 GB) for embeddings of its first 75 tokens."""
    huge = "a dog on a skateboard " * 500_000  # 11 MB
    fit = fit_prompt(tiny.tokenizer, huge)
    assert fit.tokens > fit.limit == tiny.tokenizer.model_max_length - 2 and fit.ignored
    assert len(fit.text) < 20 * tiny.tokenizer.model_max_length  # a bounded window, whatever the prompt's length
    enc = PromptEncoder(tiny.tokenizer, tiny.text_encoder)
    assert torch.equal(enc(huge), enc("a dog on a skateboard " * 10))  # the same embeddings: CLIP never read the rest
    assert fit_prompt(tiny.tokenizer, "a   dog\n").text == "a dog" and not fit_prompt(tiny.tokenizer, "a dog").ignored
    assert fit_prompt(tiny.tokenizer, " " * 5_000_000 + "cat").text == "cat"
    assert fit_prompt(tiny.tokenizer, "x" * 10_000_000).ignored  # one giant word: cut inside the window
