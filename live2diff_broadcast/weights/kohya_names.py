"""kohya LoRA layer names written with the original SD (LDM/sgm) UNet block names, mapped to diffusers'.

Older kohya / LyCORIS trainers name UNet layers after the original Stable Diffusion UNet
(``lora_unet_input_blocks_1_1_proj_in``, ``lora_unet_middle_block_0_in_layers_2``,
``lora_unet_output_blocks_2_1_conv``, ``lora_unet_time_embed_0``, ``lora_unet_out_2``).
diffusers' own converters do the mapping, and are used here:

1. ``_maybe_map_sgm_blocks_to_diffusers`` renumbers input/middle/output blocks into
   down/mid/up blocks (it needs the UNet's ``layers_per_block``);
2. ``_convert_unet_lora_key`` renames the layers inside a block (``in_layers_2`` -> ``conv1``,
   ``emb_layers_1`` -> ``time_emb_proj``, ``skip_connection`` -> ``conv_shortcut``, ``op`` ->
   ``conv``, ``time_embed_0`` -> ``time_embedding.linear_1``, ``out_2`` -> ``conv_out`` ...).

Two things are handled here around them: step 1 reads an output block's ``<i>_1_conv`` (the
upsampler of an up block *without* attention, SD1.5's ``output_blocks.2.1.conv``) as an
attention layer; it is renamed ``<i>_2_conv`` (the slot diffusers reads as the upsampler)
first. Step 1 groups a file's layers by block with a substring test, so ``input_blocks_1``
also collects ``input_blocks_10``/``_11`` (SD1.5 has 12 input and output blocks; SDXL, which it
was written for, has 9) and then fails with a KeyError: it is called here one layer at a time.
And step 1 silently drops the sgm-named layers of a file that mixes both namings; such a
file is refused instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import SimpleNamespace

from diffusers.loaders.lora_conversion_utils import _convert_unet_lora_key, _maybe_map_sgm_blocks_to_diffusers

SGM_PATTERN = re.compile(r"^(input_blocks|middle_block|output_blocks|time_embed|out)_\d")
_DIFFUSERS_PATTERN = re.compile(r"^(down_blocks|mid_block|up_blocks)_")
_UPSAMPLER_WITHOUT_ATTENTION = re.compile(r"^(output_blocks_\d+)_1_conv$")
SD15_LAYERS_PER_BLOCK = 2


class SgmNameError(ValueError):
    """A layer name in original SD block naming that does not map onto the diffusers UNet."""


def is_sgm(module: str) -> bool:
    """``module`` is a kohya UNet layer name (without ``lora_unet_``) in original SD block naming."""
    return SGM_PATTERN.match(module) is not None


def map_sgm_names(modules: Iterable[str], layers_per_block: int) -> dict[str, str]:
    """{original SD name: diffusers name in kohya's underscore form}, both without ``lora_unet_``.

    Raises SgmNameError naming the layers that cannot be mapped.
    """
    modules = list(modules)
    mixed = sorted(m for m in modules if _DIFFUSERS_PATTERN.match(m))
    if mixed and any(is_sgm(m) for m in modules):
        raise SgmNameError(f"mixes original SD block names with diffusers block names ({mixed[:4]})")
    config = SimpleNamespace(layers_per_block=layers_per_block)
    mapped, bad = {}, []
    for module in modules:
        renamed = _UPSAMPLER_WITHOUT_ATTENTION.sub(r"\1_2_conv", module)
        try:  # one layer per call: see the module docstring
            (key,) = _maybe_map_sgm_blocks_to_diffusers(
                {f"lora_unet_{renamed}.lora_down.weight": module}, config, delimiter="_", block_slice_pos=5
            )
        except (ValueError, IndexError, KeyError) as exc:
            bad.append(f"{module} ({exc})")
            continue
        mapped[module] = _diffusers_module(key)
    if bad:
        raise SgmNameError(f"original SD block names that do not map onto the diffusers UNet: {bad[:6]}")
    return mapped


def _diffusers_module(key: str) -> str:
    """diffusers' converted key (``....attn1.processor.to_q_lora.down.weight``) -> kohya module form."""
    name = _convert_unet_lora_key(key).removesuffix(".down.weight")
    name = re.sub(r"[._]lora$", "", name).replace(".processor.", ".")
    if name.endswith("to_out"):  # diffusers' attention-processor name for to_out.0
        name += ".0"
    return name.replace(".", "_")
