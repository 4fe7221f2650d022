"""A prompt is cut to what the text encoder reads before it is tokenized (issue 18.5)."""

import torch

from live2diff_broadcast.engine.prompt_fit import fit_prompt
from live2diff_broadcast.engine.text import PromptEncoder


def test_a_huge_prompt_is_cut_to_what_the_encoder_reads(tiny):
    """A 10 MB prompt was tokenized whole (48 s, 2.8 GB) for embeddings of its first 75 tokens."""
    huge = "a dog on a skateboard " * 500_000  # 11 MB
    fit = fit_prompt(tiny.tokenizer, huge)
    assert fit.tokens > fit.limit == tiny.tokenizer.model_max_length - 2 and fit.ignored
    assert len(fit.text) < 20 * tiny.tokenizer.model_max_length  # a bounded window, whatever the prompt's length
    enc = PromptEncoder(tiny.tokenizer, tiny.text_encoder)
    assert torch.equal(enc(huge), enc("a dog on a skateboard " * 10))  # the same embeddings: CLIP never read the rest


def test_short_prompts_and_odd_ones(tiny):
    assert fit_prompt(tiny.tokenizer, "a   dog\n").text == "a dog" and not fit_prompt(tiny.tokenizer, "a dog").ignored
    assert fit_prompt(tiny.tokenizer, " " * 5_000_000 + "cat").text == "cat"
    assert fit_prompt(tiny.tokenizer, "x" * 10_000_000).ignored  # one giant word: cut inside the window
