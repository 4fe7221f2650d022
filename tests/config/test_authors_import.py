"""import-config on the authors' own YAML configs (byte-exact copies in fixtures/live2diff): every
field mapped to the hand-computed value, every bad input an error naming the file and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from live2diff_broadcast.config import parse_profile
from live2diff_broadcast.config.authors_import import import_authors_config
from live2diff_broadcast.config.authors_yaml import AuthorsConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "live2diff"
MODEL_FILES = [
    "models/live2diff.ckpt", "models/dpt_hybrid_384.pt",
    "models/Model/toonyou_beta6.safetensors", "models/Model/disneyPixarCartoon_v10.safetensors",
    "models/Model/revAnimated_v2RebirthVAE.safetensors", "models/Model/3Guofeng3_v34.safetensors",
    "models/Model/helloartdoor_V122p.safetensors", "models/Model/aziibpixelmix_v10.safetensors",
    "models/LoRA/kFeltedReV.safetensors", "models/LoRA/MoXinV1.safetensors", "models/LoRA/ral-origami-sd15.safetensors",
]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Their repository's layout (README "Step4"): configs/, demo/, models/ with the files the configs name."""
    root = tmp_path / "Live2Diff"
    shutil.copytree(FIXTURES / "configs", root / "configs")
    shutil.copytree(FIXTURES / "demo", root / "demo")
    for name in MODEL_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    text_encoder = root / "models/Model/stable-diffusion-v1-5/text_encoder"
    text_encoder.mkdir(parents=True)
    (text_encoder / "config.json").write_text(json.dumps({"num_hidden_layers": 12}), encoding="utf-8")
    return root


# (config, root relative to the checkout, prompt_template, t_index_list, dreambooth, [(lora, weight)])
SHIPPED = [
    ("configs/toonyou.yaml", ".", "masterpiece, best quality, intricate, print, pattern, {}", [25, 31, 37, 43],
     "toonyou_beta6.safetensors", []),
    ("configs/disneyPixar.yaml", ".", "masterpiece, best quality, intricate, print, pattern, {}", [30, 36, 42],
     "disneyPixarCartoon_v10.safetensors", []),
    ("configs/kFelted.yaml", ".", "masterpiece, best quality, felted, {},", [25, 34, 43],
     "revAnimated_v2RebirthVAE.safetensors", [("kFeltedReV.safetensors", 1.0)]),
    ("configs/moxin.yaml", ".", "shukezouma, negative space, shuimobysim, official art,extremely detailed CG,unity 8k "
     "wallpaper,chinese ink painting, {}", [30, 36, 42], "3Guofeng3_v34.safetensors", [("MoXinV1.safetensors", 0.7)]),
    ("configs/origami.yaml", ".", "(masterpiece),best quality, a origami paper of {}", [30, 36, 42],
     "helloartdoor_V122p.safetensors", [("ral-origami-sd15.safetensors", 1.0)]),
    # num_inference_steps 4: LCM timesteps [999, 759, 499, 259]; strength 0.6 keeps the last int(4 * 0.6) = 2:
    # 499 and 259 = indices (999 - 499) / 20 = 25 and (999 - 259) / 20 = 37 of the 50-step schedule
    ("configs/pixart.yaml", ".", "(masterpiece), best quality, {}", [25, 37], "aziibpixelmix_v10.safetensors", []),
    ("demo/demo_cfg.yaml", "demo", None, [30, 40], "revAnimated_v2RebirthVAE.safetensors", [("kFeltedReV.safetensors", 1.0)]),
    ("demo/demo_cfg_arknight.yaml", "demo", None, [35, 40, 45], "aziibpixelmix_v10.safetensors",
     [("kFeltedReV.safetensors", 1.0)]),
]


@pytest.mark.parametrize(("config", "run_from", "template", "steps", "dreambooth", "loras"), SHIPPED,
                         ids=[s[0] for s in SHIPPED])
def test_every_shipped_config_maps_to_their_computation(checkout, config, run_from, template, steps, dreambooth, loras):
    imported = import_authors_config(checkout / config, root=checkout / run_from)
    style, models, engine = imported.style, imported.models, imported.engine
    assert style["name"] == Path(config).stem
    assert style.get("prompt_template", "{}") == (template or "{}")
    assert style["t_index_list"] == steps
    assert style["clip_skip"] == 3  # their clip_skip 2 = hidden_states[-3] = our 3
    assert Path(style["style_checkpoint"]) == (checkout / "models/Model" / dreambooth).resolve()
    assert [(Path(lora["path"]).name, lora["weight"]) for lora in style["loras"]] == loras
    assert all(lora["file_alpha"] == "ignore" for lora in style["loras"])  # their merge skips the file's alpha
    assert Path(models["base"]) == (checkout / "models/Model/stable-diffusion-v1-5").resolve()
    assert Path(models["live2diff"]).name == "live2diff.ckpt" and Path(models["depth"]).name == "dpt_hybrid_384.pt"
    assert (engine["window"], engine["warmup"]) == (16, 8)
    assert (engine["depth_resize"], engine["depth_normalise"]) == ("squash", "warmup_joint")
    # the profile it writes loads, and the stream runs exactly these settings
    profile = parse_profile(imported.toml().encode(), "imported.toml", check_plugins=False)
    cfg = profile.stream_config(profile.style())
    assert list(cfg.t_index_list) == steps and cfg.clip_skip == 3 and cfg.prompt_template == (template or "{}")
    assert profile.models_for(profile.style()).live2diff_spatial == "apply"
    # every key of the file has its line
    notes = "\n".join(imported.notes)
    for key in ("pretrained_model_path", "motion_module_path", "depth_model_path", "third_party_dict.dreambooth",
                "third_party_dict.clip_skip", "window_size", "unet_additional_kwargs", "noise_scheduler_kwargs"):
        assert key in notes, key


def test_prompts(checkout):
    demo = import_authors_config(checkout / "demo/demo_cfg.yaml", root=checkout / "demo")
    assert demo.style["prompt"] == "masterpiece, best quality, felted, 1man with glasses, glasses, play with his pen"
    toon = import_authors_config(checkout / "configs/toonyou.yaml", root=checkout, prompt="1man is talking")
    assert toon.style["prompt"] == "1man is talking"
    assert "taken as the template" in "\n".join(toon.notes)
    disney = import_authors_config(checkout / "configs/disneyPixar.yaml", root=checkout)
    assert disney.style["prompt"] == "a person talking to the camera" and "edit it" in "\n".join(disney.notes)


def test_explicit_base_and_style_only_output(checkout, tmp_path):
    base = tmp_path / "my_base.yaml"
    base.write_text((FIXTURES / "configs/base_config.yaml").read_text().replace("window_size: 16", "window_size: 12"))
    imported = import_authors_config(checkout / "configs/moxin.yaml", base=base, root=checkout)
    assert imported.engine["window"] == 12 and imported.source.base == base
    text = imported.toml(style_only=True)
    assert "[[styles]]" in text and "\n[models]" not in text and "#   engine.window = 12" in text


def _edit(checkout: Path, name: str, old: str, new: str) -> Path:
    path = checkout / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "old", "new", "expected"), [
    ("configs/toonyou.yaml", "clip_skip: 2", "clipskip: 2",
     r"toonyou.yaml: third_party_dict.clipskip: unknown key; did you mean 'clip_skip'\?"),
    ("configs/base_config.yaml", "sink_size: 8", "sink_size: 8\n      chunk: 4",
     r"base_config.yaml: unet_additional_kwargs.motion_module_kwargs.attention_kwargs.chunk: unknown key"),
    ("configs/kFelted.yaml", "lora_alpha: 1", "lora_alpha: 1\n      scale: 2",
     r"kFelted.yaml: third_party_dict.lora_list\[0\].scale: unknown key"),
    ("configs/toonyou.yaml", "clip_skip: 2", "clip_skip: 12",
     r"toonyou.yaml: third_party_dict.clip_skip: 12 is outside the text encoder's 12 layers.*0..11"),
    ("configs/toonyou.yaml", "clip_skip: 2", "clip_skip: -1", r"toonyou.yaml: third_party_dict.clip_skip: expected"),
    ("configs/toonyou.yaml", "toonyou_beta6", "toonyou_beta7",
     r"toonyou.yaml: third_party_dict.dreambooth: './models/Model/toonyou_beta7.safetensors': no such file"),
    ("configs/moxin.yaml", "MoXinV1", "MoXinV2", r"moxin.yaml: third_party_dict.lora_list\[0\].lora: .*no such file"),
    ("configs/base_config.yaml", "live2diff.ckpt", "live2diff_v2.ckpt",
     r"base_config.yaml: motion_module_path: './models/live2diff_v2.ckpt': no such file"),
    ("configs/base_config.yaml", "num_attention_heads                : 8", "num_attention_heads: 4",
     r"base_config.yaml: unet_additional_kwargs.motion_module_kwargs.num_attention_heads: 4, but this engine builds 8"),
    ("configs/base_config.yaml", "beta_end:      0.012", "beta_end: 0.02",
     r"base_config.yaml: noise_scheduler_kwargs.beta_end: 0.02, but this engine's LCM schedule uses 0.012"),
    ("configs/disneyPixar.yaml", "t_index_list: [30, 36, 42]", "t_index_list: [30, 36, 50]",
     r"disneyPixar.yaml: t_index_list: \[50\] outside the 50 steps"),
    ("configs/disneyPixar.yaml", "num_inference_steps: 50\n", "",
     r"disneyPixar.yaml: num_inference_steps: missing"),
    ("configs/disneyPixar.yaml", "base: \"./configs/base_config.yaml\"", "base: \"./configs/nowhere.yaml\"",
     r"disneyPixar.yaml: base: './configs/nowhere.yaml' is not a file"),
    ("configs/disneyPixar.yaml", "clip_skip: 2", "clip_skip: 2\n  text_embedding_dict: {tok: ./emb.pt}",
     r"disneyPixar.yaml: third_party_dict.text_embedding_dict: textual-inversion embeddings are not supported"),
    ("configs/pixart.yaml", "strength: 0.6", "strength: 0.6\n  oops: [", r"pixart.yaml: invalid YAML"),
])
def test_bad_configs_name_the_file_and_the_key(checkout, name, old, new, expected):
    _edit(checkout, name, old, new)
    style = name if name != "configs/base_config.yaml" else "configs/disneyPixar.yaml"
    with pytest.raises(AuthorsConfigError, match=expected):
        import_authors_config(checkout / style, root=checkout)


def test_missing_config_file(checkout):
    with pytest.raises(AuthorsConfigError, match=r"nope.yaml: no such config file"):
        import_authors_config(checkout / "configs/nope.yaml", root=checkout)


EXAMPLE_IMPORTS = {"felted": "kFelted", "toonyou": "toonyou", "pixar": "disneyPixar", "moxin": "moxin",
                   "origami": "origami", "pixart": "pixart"}


@pytest.mark.parametrize("style_name", sorted(EXAMPLE_IMPORTS))
def test_example_show_carries_the_authors_styles_as_imported(checkout, style_name):
    """profiles/example_show.toml's imported styles == import-config's output (paths from ~/Live2Diff)."""
    from live2diff_broadcast.config import load_profile

    show = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "example_show.toml", check_plugins=False)
    style = show.style(style_name)
    imported = import_authors_config(checkout / "configs" / f"{EXAMPLE_IMPORTS[style_name]}.yaml", root=checkout)
    want = imported.style

    def rel(path: str) -> Path:  # the file's place in their checkout
        p = Path(path)
        return p.relative_to(checkout.resolve()) if p.is_absolute() else p.relative_to("~/Live2Diff")

    assert style.prompt_template == want.get("prompt_template", "{}")
    assert style.t_index_list == want["t_index_list"] and style.clip_skip == want["clip_skip"]
    assert style.style_checkpoint is not None and rel(style.style_checkpoint) == rel(want["style_checkpoint"])
    assert [(rel(x.path), x.weight, x.file_alpha) for x in style.loras or []] == [
        (rel(x["path"]), x["weight"], x["file_alpha"]) for x in want["loras"]
    ]
    assert show.engine.window == imported.engine["window"] and show.engine.warmup == imported.engine["warmup"]
    assert show.engine.depth_resize == imported.engine["depth_resize"]
    assert show.engine.depth_normalise == imported.engine["depth_normalise"]
    assert show.models.live2diff_spatial == imported.models["live2diff_spatial"]
