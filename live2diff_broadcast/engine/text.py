"""CLIP text encoding with clip skip and a prompt template."""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTokenizer


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
        text = self.template.format(prompt)
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
