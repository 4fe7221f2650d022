"""Temporal smoothness by CLIP (paper Sec. 4.1): "the cosine similarity of the CLIP embeddings of
pairs of adjacent frames", averaged over the clip (the paper's tables print it x 100).

Image embeddings come from transformers' ``CLIPVisionModelWithProjection`` (``image_embeds``);
frames are preprocessed as CLIP's image processor does: bicubic resize of the short side to the
model's image size, centre crop, OpenAI mean / std.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPVisionModelWithProjection

from .clips import EvaluationInputError
from .tensors import frames_to_tensor

logger = logging.getLogger(__name__)

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_clip_vision(model_id: str, allow_download: bool = False) -> CLIPVisionModelWithProjection:
    """A CLIP image model from a local folder or the Hugging Face cache (download only if allowed)."""
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(model_id, local_files_only=not allow_download)
    except OSError as exc:
        where = "folder" if Path(model_id).exists() else "Hugging Face cache"
        raise EvaluationInputError(
            f"CLIP model {model_id!r} is not in the {where} ({str(exc).splitlines()[0]}). Fix: "
            f"`huggingface-cli download {DEFAULT_CLIP_MODEL}` (or run eval with --download), or pass "
            "--clip-model with a local folder holding a CLIP model"
        ) from None
    return model.eval()


class ClipTemporalMetric:
    """Cosine similarity of CLIP image embeddings of adjacent frames."""

    def __init__(self, model: CLIPVisionModelWithProjection, device: torch.device | str = "cpu", batch: int = 16) -> None:
        self.model, self.device, self.batch = model.eval().to(device), torch.device(device), batch
        self.size = int(model.config.image_size)
        self.mean = torch.tensor(OPENAI_CLIP_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(OPENAI_CLIP_STD).view(1, 3, 1, 1)

    def _preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 3, S, S) normalised, S = the model's image size."""
        _, _, h, w = images.shape
        scale = self.size / min(h, w)
        rh, rw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        resized = F.interpolate(images, size=(rh, rw), mode="bicubic", align_corners=False).clamp(0, 1)
        top, left = (rh - self.size) // 2, (rw - self.size) // 2
        crop = resized[:, :, top : top + self.size, left : left + self.size]
        return (crop - self.mean) / self.std

    @torch.no_grad()
    def embeddings(self, frames: list[np.ndarray]) -> torch.Tensor:
        """(N, D) L2-normalised image embeddings, float64 on the CPU."""
        dtype = next(self.model.parameters()).dtype
        out = []
        for i in range(0, len(frames), self.batch):
            pixels = self._preprocess(frames_to_tensor(frames[i : i + self.batch])).to(self.device, dtype)
            out.append(self.model(pixel_values=pixels).image_embeds.double().cpu())
        return F.normalize(torch.cat(out), dim=-1)

    def per_pair(self, frames: list[np.ndarray]) -> np.ndarray:
        """(N-1,) cosine similarity of frame i and frame i+1."""
        if len(frames) < 2:
            return np.zeros(0)
        emb = self.embeddings(frames)
        return (emb[:-1] * emb[1:]).sum(dim=-1).numpy()


def tiny_clip_vision(seed: int = 0) -> CLIPVisionModelWithProjection:
    """A random-weight miniature CLIP image model (tests and the ``tiny`` preset): its scores only
    show that the pipeline runs; identical frames still score exactly 1."""
    from transformers import CLIPVisionConfig

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, projection_dim=16, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8,
    )
    return CLIPVisionModelWithProjection(config).eval()
