"""The model parts one stream needs, and presets that build them without any download."""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Protocol

import torch
from diffusers import AutoencoderTiny, LCMScheduler, MotionAdapter, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, DPTConfig, DPTForDepthEstimation

from .depth import DepthEstimator, DPTDepthEstimator
from .diffusers_log import no_empty_fp32_warning
from .scheduler import live2diff_scheduler
from .text_layers import TINY_TEXT_LAYERS
from .unet import DepthAdapter, Live2DiffUNet, build_motion_unet

logger = logging.getLogger(__name__)


class LoraFaderBank(Protocol):
    """Live weights of the style LoRAs merged into these models (weights/lora_faders.py)."""

    @property
    def names(self) -> list[str]: ...
    @property
    def weights(self) -> dict[str, float]: ...
    @property
    def pending(self) -> bool: ...
    def move(self, name: str, weight: float) -> None: ...  # KeyError: no such LoRA; ValueError: outside [0, 1]
    def apply(self) -> set[str]: ...  # the targets ("unet", "text_encoder") whose weights changed


@dataclass
class Live2DiffComponents:
    """Everything the stream runs. One UNet serves warmup and streaming."""

    unet: Live2DiffUNet
    vae: AutoencoderTiny
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: LCMScheduler
    depth: DepthEstimator
    random_weights: bool = False  # True: output is meaningless (tiny / benchmark presets)
    loras: LoraFaderBank | None = None  # the style LoRAs' live faders (None: none loaded)

    def to(self, device: torch.device | str, dtype: torch.dtype) -> Live2DiffComponents:
        with no_empty_fp32_warning():  # diffusers' false alarm on every cast (diffusers_log.py)
            for module in (self.unet, self.vae, self.text_encoder):
                module.to(device=device, dtype=dtype)
            if isinstance(self.depth, DPTDepthEstimator):
                self.depth.model.to(device=device, dtype=dtype)
        return self



def tiny_tokenizer(max_length: int = 16) -> CLIPTokenizer:
    """A real CLIPTokenizer over a letters-only vocabulary (no download)."""
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase, *(c + "</w>" for c in string.ascii_lowercase)]:
        vocab.setdefault(token, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    return tokenizer


def sd15_random_components(seed: int = 0) -> Live2DiffComponents:
    """Full-size architecture (SD1.5 UNet + AnimateDiff-v1 motion modules, depth adapter, TAESD,
    CLIP ViT-L/14 text encoder, DPT-Hybrid) with RANDOM weights, built from configs: the real
    compute and memory footprint for benchmarks, no download. Output is meaningless."""
    torch.manual_seed(seed)
    unet2d = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    adapter = MotionAdapter(
        block_out_channels=(320, 640, 1280, 1280),
        motion_layers_per_block=2,
        motion_num_attention_heads=8,
        motion_max_seq_length=24,
        use_motion_mid_block=False,
    )
    unet = Live2DiffUNet(build_motion_unet(unet2d, adapter), DepthAdapter(out_channels=320))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu",
        )
    )
    bit = dict(
        num_channels=3, embedding_size=64, hidden_sizes=[256, 512, 1024], depths=[3, 4, 9], layer_type="bottleneck",
        out_features=["stage1", "stage2", "stage3"], global_padding="same", embedding_dynamic_padding=True,
    )
    dpt_config = DPTConfig(
        is_hybrid=True, backbone_config=bit, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, image_size=384, patch_size=16, backbone_out_indices=[2, 5, 8, 11],
        neck_hidden_sizes=[256, 512, 768, 768], fusion_hidden_size=256, readout_type="project",
        backbone_featmap_shape=[1, 1024, 24, 24], reassemble_factors=[4, 2, 1, 0.5],
    )
    return Live2DiffComponents(
        unet=unet.eval(),
        vae=AutoencoderTiny().eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tiny_tokenizer(max_length=77),
        scheduler=live2diff_scheduler(),
        depth=DPTDepthEstimator(DPTForDepthEstimation(dpt_config)),
        random_weights=True,
    )


def tiny_components(seed: int = 0) -> Live2DiffComponents:
    """Random-weight miniatures of every part, built from configs in about a second.

    Same architectures as the real model (motion UNet with AnimateDiff-v1 layout, depth adapter,
    TAESD, CLIP, DPT-Hybrid), tiny widths. Output images are meaningless noise patterns.
    """
    torch.manual_seed(seed)
    unet2d = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    adapter = MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=1,
        motion_num_attention_heads=2,
        motion_norm_num_groups=8,
        motion_max_seq_length=24,
        use_motion_mid_block=False,
    )
    depth_adapter = DepthAdapter(out_channels=32, channels=(8, 8, 16))
    # A zero-initialised conv_out would hide the depth path from every test: give it weights.
    torch.nn.init.normal_(depth_adapter.conv_out.weight, std=0.02)
    unet = Live2DiffUNet(build_motion_unet(unet2d, adapter), depth_adapter)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    return Live2DiffComponents(
        unet=unet.eval(),
        vae=vae.eval(),
        text_encoder=_tiny_text_encoder(hidden=32).eval(),
        tokenizer=tiny_tokenizer(),
        scheduler=live2diff_scheduler(),
        depth=_tiny_depth(),
        random_weights=True,
    )


def small_random_components(seed: int = 0) -> Live2DiffComponents:
    """SD1.5's exact layout (4 blocks, 2 layers each, AnimateDiff-v1 motion modules, full TAESD)
    at a fifth of its widths, random weights: a CPU benchmark where the UNet dominates, as at
    full size. Output is meaningless."""
    torch.manual_seed(seed)
    widths = (64, 128, 256, 256)
    unet2d = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=widths,
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=128,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    adapter = MotionAdapter(
        block_out_channels=widths, motion_layers_per_block=2, motion_num_attention_heads=8,
        motion_max_seq_length=24, use_motion_mid_block=False,
    )
    unet = Live2DiffUNet(build_motion_unet(unet2d, adapter), DepthAdapter(out_channels=widths[0]))
    return Live2DiffComponents(
        unet=unet.eval(),
        vae=AutoencoderTiny().eval(),
        text_encoder=_tiny_text_encoder(hidden=128).eval(),
        tokenizer=tiny_tokenizer(),
        scheduler=live2diff_scheduler(),
        depth=_tiny_depth(),
        random_weights=True,
    )




def _tiny_text_encoder(hidden: int) -> CLIPTextModel:
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=TINY_TEXT_LAYERS,
            num_attention_heads=2, max_position_embeddings=16, projection_dim=hidden,
            bos_token_id=0, eos_token_id=1, pad_token_id=1,
        )
    )


def _tiny_depth() -> DPTDepthEstimator:
    """A DPT-Hybrid (BiT backbone + ViT) of tiny widths at a 64x64 input."""
    bit = dict(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 32], depths=[1, 1, 1], layer_type="bottleneck",
        out_features=["stage1", "stage2", "stage3"], global_padding="same", embedding_dynamic_padding=True, num_groups=4,
    )
    config = DPTConfig(
        is_hybrid=True, backbone_config=bit, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=37, image_size=64, patch_size=16, backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=16, readout_type="project",
        backbone_featmap_shape=[1, 32, 4, 4], reassemble_factors=[1, 1, 1, 0.5],
    )
    return DPTDepthEstimator(DPTForDepthEstimation(config), input_size=64)
