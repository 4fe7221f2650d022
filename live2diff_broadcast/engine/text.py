"""CLIP text encoding with clip skip and a prompt template.

``clip_skip`` (this project's meaning, everywhere: profiles, ``StreamConfig``, this module) counts
CLIP layers from the end the way AUTOMATIC1111 and civitai's "Clip skip" do: ``clip_skip = k``
conditions on the output of encoder layer ``L - k + 1`` of ``L`` (``hidden_states[-k]``), then
CLIP's final layer norm, as Stable Diffusion expects. 1 = the last layer, 2 = the penultimate
("Clip skip 2" on a civitai model page), 3 = the third from last.

The Live2Diff authors' configs count *skipped* layers instead (diffusers' convention): their
``_encode_prompt`` (live2diff/animatediff/pipeline/pipeline_animatediff_depth.py) takes
``text_embeddings[-1][-(clip_skip + 1)]`` then ``final_layer_norm``, so their ``clip_skip: 2``
(every style config they ship) is the third-from-last layer: our ``clip_skip = 3``
(``from_authors_clip_skip``). ``live2diff-broadcast import-config`` converts it.
"""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from .prompt_fit import fit_prompt
from .text_layers import describe_text_layer, from_authors_clip_skip, text_layer

__all__ = ["PromptEncoder", "describe_text_layer", "from_authors_clip_skip", "text_layer"]


class PromptEncoder:
    """prompt -> (1, L, D) text embeddings for the UNet's cross-attention (``clip_skip``: module docstring)."""

    def __init__(self, tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel, clip_skip: int = 2, template: str = "{}"):
        text_layer(clip_skip, int(text_encoder.config.num_hidden_layers))  # raises outside the encoder's layers
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.clip_skip, self.template = clip_skip, template

    @torch.no_grad()
    def __call__(self, prompt: str) -> torch.Tensor:
        text = fit_prompt(self.tokenizer, self.template.format(prompt)).text  # bounded, whatever its length
        ids = self.tokenizer(
            text, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(self.text_encoder.device)
        out = self.text_encoder(ids, output_hidden_states=self.clip_skip > 1)
        if self.clip_skip == 1:
            return out.last_hidden_state
        hidden = out.hidden_states[-self.clip_skip]  # hidden_states[0] is the embeddings, [i] layer i's output
        # transformers 5 keeps the norm on the model itself, 4.x on its text_model
        owner = getattr(self.text_encoder, "text_model", self.text_encoder)
        return owner.final_layer_norm(hidden)
