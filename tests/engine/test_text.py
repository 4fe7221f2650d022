"""clip_skip = k conditions on CLIP layer L - k + 1 (then the final layer norm), checked against each
encoder layer's output captured by hand; the authors' clip_skip c = our c + 1."""

import pytest
import torch

from live2diff_broadcast.engine.text import (
    PromptEncoder,
    describe_text_layer,
    from_authors_clip_skip,
    text_layer,
)


def layer_outputs(text_encoder, ids: torch.Tensor) -> list[torch.Tensor]:
    """The output of every encoder layer, in order, captured with forward hooks (index 0 = layer 1)."""
    captured: list[torch.Tensor] = []

    def keep(module, args, output):  # type: ignore[no-untyped-def]
        captured.append(output[0] if isinstance(output, tuple) else output)

    owner = getattr(text_encoder, "text_model", text_encoder)
    handles = [layer.register_forward_hook(keep) for layer in owner.encoder.layers]
    try:
        with torch.no_grad():
            text_encoder(ids)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def final_norm(tiny):  # type: ignore[no-untyped-def]
    """CLIP's final layer norm (transformers 5 keeps it on the model, 4.x on its text_model)."""
    return getattr(tiny.text_encoder, "text_model", tiny.text_encoder).final_layer_norm


def ids_of(tiny, prompt: str) -> torch.Tensor:
    return tiny.tokenizer(prompt, padding="max_length", max_length=16, return_tensors="pt").input_ids


@pytest.mark.parametrize("clip_skip", [1, 2, 3])
def test_clip_skip_picks_the_layer_counted_from_the_end(tiny, clip_skip):
    layers = tiny.text_encoder.config.num_hidden_layers
    assert layers == 3
    outputs = layer_outputs(tiny.text_encoder, ids_of(tiny, "a dog"))
    with torch.no_grad():
        # by hand: clip_skip 1 = layer 3 (the last), 2 = layer 2, 3 = layer 1, each through the final norm
        expected = final_norm(tiny)(outputs[layers - clip_skip])
    got = PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=clip_skip)("a dog")
    assert torch.allclose(got, expected, rtol=0, atol=1e-6)
    assert text_layer(clip_skip, layers) == layers - clip_skip + 1


def test_the_authors_clip_skip_2_is_our_3_the_third_from_last(tiny):
    """Their _encode_prompt: text_embeddings[-1][-(clip_skip + 1)] then final_layer_norm."""
    ids = ids_of(tiny, "a dog")
    with torch.no_grad():
        out = tiny.text_encoder(ids, output_hidden_states=True)
        theirs = final_norm(tiny)(out[-1][-(2 + 1)])
        layer_1 = final_norm(tiny)(layer_outputs(tiny.text_encoder, ids)[0])
    ours = PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=from_authors_clip_skip(2))("a dog")
    assert from_authors_clip_skip(2) == 3
    assert torch.equal(ours, theirs)
    assert torch.allclose(ours, layer_1, rtol=0, atol=1e-6)  # layer 1 of 3 = third from last
    penultimate = PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=2)("a dog")
    assert not torch.allclose(penultimate, theirs)


def test_describe_names_the_layer():
    assert describe_text_layer(3, 12) == "CLIP layer 10 of 12: the 3rd from last (clip_skip 3)"
    assert describe_text_layer(2, 12) == "CLIP layer 11 of 12: the penultimate (clip_skip 2)"
    assert describe_text_layer(1, None) == "the last CLIP layer (clip_skip 1)"


def test_template_wraps_the_prompt(tiny):
    plain = PromptEncoder(tiny.tokenizer, tiny.text_encoder)("cartoon style, a dog")
    templated = PromptEncoder(tiny.tokenizer, tiny.text_encoder, template="cartoon style, {}")("a dog")
    assert torch.equal(plain, templated)


@pytest.mark.parametrize("clip_skip", [0, 4, 9])
def test_clip_skip_outside_the_encoder_is_refused(tiny, clip_skip):
    with pytest.raises(ValueError, match=rf"clip_skip {clip_skip} is outside this text encoder's 3 layers"):
        PromptEncoder(tiny.tokenizer, tiny.text_encoder, clip_skip=clip_skip)
