"""``live2diff-broadcast check``: valid + present -> 0, valid + missing -> 1 with a listing, invalid -> 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.weights.requirements import DPT_FILES, SD15_FILES, TAESD_FILES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache of our own, offline, and a HOME without models."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return cache


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # presence is what check reports; contents are the loader's business
    return path


def _folder(root: Path, needs: tuple[tuple[str, ...], ...]) -> Path:
    for alternatives in needs:
        _touch(root / alternatives[0])
    return root


def _cache_hub_file(cache: Path, repo_id: str, filename: str) -> None:
    """A file as huggingface_hub stores it: refs/main -> snapshots/<commit>/<file>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    _touch(repo / "refs" / "main").write_text(commit)
    _touch(repo / "snapshots" / commit / filename)


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    m = tmp_path / "models"
    return {
        "base": _folder(m / "sd15", SD15_FILES),
        "vae": _folder(m / "taesd", TAESD_FILES),
        "depth": _folder(m / "dpt", DPT_FILES),
        "live2diff": _touch(m / "live2diff.safetensors"),
        "toon": _touch(m / "toon.safetensors"),
        "lora": _touch(m / "zaum.safetensors"),
    }


def _profile(tmp_path: Path, models: dict[str, Path], extra: str = "") -> Path:
    path = tmp_path / "show.toml"
    path.write_text(
        f"""
name = "check-test"
[models]
preset = "live2diff"
base = "{models['base']}"
vae = "{models['vae']}"
depth = "{models['depth']}"
live2diff = "{models['live2diff']}"
lcm_lora = "latent-consistency/lcm-lora-sdv1-5"

[[styles]]
name = "cartoon"
prompt = "a person"
style_checkpoint = "{models['toon']}"
hotkey = "ctrl+alt+1"

[[styles]]
name = "zaum"
prompt = "a person"
loras = [{{ path = "{models['lora']}", weight = 0.8 }}]
{extra}
""",
        encoding="utf-8",
    )
    return path


def test_valid_and_everything_present_is_0(tmp_path, models, _offline_hub, capsys):
    _cache_hub_file(_offline_hub, "latent-consistency/lcm-lora-sdv1-5", "pytorch_lora_weights.safetensors")
    assert main(["check", str(_profile(tmp_path, models))]) == 0
    out = capsys.readouterr().out
    assert "valid profile 'check-test'" in out and "all 7 model components present" in out
    assert "MISSING" not in out
    assert "present  lcm_lora" in out and "models--latent-consistency--lcm-lora-sdv1-5" in out  # found in the cache
    assert "ctrl+alt+1 -> style 'cartoon'" in out


def test_missing_models_are_1_and_listed_per_style(tmp_path, models, capsys):
    models["toon"].unlink()
    assert main(["check", str(_profile(tmp_path, models))]) == 1
    out = capsys.readouterr().out
    cartoon, zaum = out.split("style 'cartoon':")[1].split("style 'zaum':")
    assert "MISSING  style" in cartoon and str(models["toon"]) in cartoon
    assert "fix styles[0].style_checkpoint" in cartoon
    assert "present  lora:0" in zaum and "(styles[1].loras[0].path)" in zaum
    # the Hub component not in the (empty) cache: listed once, as shared, with its exact download command
    shared = out.split("style 'cartoon':")[0]
    assert "MISSING  lcm_lora" in shared
    assert "fetch: hf download latent-consistency/lcm-lora-sdv1-5 pytorch_lora_weights.safetensors" in shared
    assert "2 of 7 model components missing" in out
    assert "live2diff-broadcast models --download --profile" in out


def test_a_style_overriding_a_shared_model_lists_it_under_the_style(tmp_path, models, capsys):
    other = _folder(tmp_path / "models" / "other-sd15", [("unet/config.json",)])  # incomplete folder
    profile = _profile(tmp_path, models, f'base = "{other}"')  # appended to the zaum style
    assert main(["check", str(profile)]) == 1
    out = capsys.readouterr().out
    zaum = out.split("style 'zaum':")[1]
    assert "MISSING  base" in zaum and "(styles[1].base)" in zaum
    assert str(other / "unet" / "diffusion_pytorch_model.safetensors") in zaum


def test_invalid_profile_is_2(tmp_path, models, capsys):
    profile = _profile(tmp_path, models, 'strength = 0.4\nt_index_list = [30, 40]\nhotkye = "f5"\n')
    assert main(["check", str(profile)]) == 2
    out = capsys.readouterr().out
    assert "styles[1].hotkye: unknown key; did you mean 'hotkey'?" in out


def test_missing_empty_and_binary_files_are_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.toml")]) == 2
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["check", str(empty)]) == 2
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    assert main(["check", str(binary)]) == 2
    out = capsys.readouterr().out
    assert "no such profile file" in out and "empty profile" in out and "not a text file" in out


def test_tiny_preset_needs_no_models(capsys):
    assert main(["check", str(REPO / "profiles" / "default.toml")]) == 0
    assert "no model files needed" in capsys.readouterr().out


def test_example_show_is_valid_and_lists_what_to_fetch(capsys):
    assert main(["check", str(REPO / "profiles" / "example_show.toml")]) == 1  # nothing downloaded here
    out = capsys.readouterr().out
    for style in ("cartoon", "zaum", "vangogh", "felted", "toonyou", "pixar", "moxin", "origami", "pixart"):
        assert f"style {style!r}:" in out
    # what each style runs (the base is not downloaded here: the layer is named from the end)
    cartoon = out.split("  - cartoon:")[1].split("  - zaum:")[0]
    assert "steps [30, 36, 42] (3 per frame, 2 frame(s) of latency)" in cartoon
    assert "text: the 3rd from last CLIP layer (clip_skip 3)" in cartoon
    assert "depth: squashed to the depth model's square input (bilinear, the authors'), warmup frames " \
           "normalised jointly (the authors')" in cartoon
    assert "fetch: hf download Leoxing/Live2Diff live2diff.ckpt" in out
    assert "flat2DAnimerge_v45Sharp.safetensors" in out


def test_each_style_shows_its_text_layer_steps_and_depth(tmp_path, models, capsys):
    (models["base"] / "text_encoder" / "config.json").write_text('{"num_hidden_layers": 12}', encoding="utf-8")
    extra = 'clip_skip = 3\nt_index_list = [25, 31, 37, 43]\n[engine]\ndepth_resize = "letterbox"\ndepth_normalise = "per_frame"'
    main(["check", str(_profile(tmp_path, models, extra))])
    out = capsys.readouterr().out
    cartoon, zaum = out.split("  - cartoon:")[1].split("  - zaum:")
    assert "text: CLIP layer 11 of 12: the penultimate (clip_skip 2)" in cartoon  # the engine's default
    assert "text: CLIP layer 10 of 12: the 3rd from last (clip_skip 3)" in zaum
    assert "steps [30, 40] (2 per frame, 1 frame(s) of latency)" in cartoon
    assert "steps [25, 31, 37, 43] (4 per frame, 3 frame(s) of latency)" in zaum
    assert "depth: letterboxed to a square (bicubic, no distortion), every frame normalised on its own" in zaum


def test_a_text_layer_beyond_the_encoder_is_2(tmp_path, models, capsys):
    (models["base"] / "text_encoder" / "config.json").write_text('{"num_hidden_layers": 12}', encoding="utf-8")
    assert main(["check", str(_profile(tmp_path, models, "clip_skip = 13"))]) == 2
    out = capsys.readouterr().out
    assert "invalid for these models: styles[1].clip_skip: clip_skip 13 is outside this text encoder's 12 layers" in out


def test_tiny_preset_counts_the_tiny_encoders_layers(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text('[[styles]]\nname = "a"\nprompt = "x"\nclip_skip = 3\n', encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert "text: CLIP layer 1 of 3: the 3rd from last (clip_skip 3)" in capsys.readouterr().out
    path.write_text('[[styles]]\nname = "a"\nprompt = "x"\nclip_skip = 4\n', encoding="utf-8")
    assert main(["check", str(path)]) == 2


def test_check_lists_every_sink_by_the_label_the_log_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "show.toml"
    profile.write_text('[[styles]]\nname = "a"\nprompt = "b"\n'
                       '[[sinks]]\nplugin = "virtualcam"\n'
                       '[[sinks]]\nplugin = "file"\nname = "recording"\nsettings = { path = "show.mp4" }\n', encoding="utf-8")
    assert main(["check", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "2 sinks, each on its own thread" in out
    assert "  - sinks[0] virtualcam {}\n  - sinks[1] file 'recording' {'path': 'show.mp4'}\n" in out
    both = tmp_path / "both.toml"
    both.write_text(profile.read_text() + '[sink]\nplugin = "file"\nsettings = { path = "x.mp4" }\n', encoding="utf-8")
    assert main(["check", str(both)]) == 2
    assert f"{both}: invalid profile:\n  sink, sinks: a profile has either one [sink] table" in capsys.readouterr().out
