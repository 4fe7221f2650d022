"""Resolution from local paths and the Hugging Face cache; offline gives one listing error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from live2diff_broadcast.config import ModelsSection
from live2diff_broadcast.weights.errors import MissingWeightsError
from live2diff_broadcast.weights.loader import load_components
from live2diff_broadcast.weights.manifest import profile_requirements
from live2diff_broadcast.weights.requirements import requirement
from live2diff_broadcast.weights.source import parse_source
from live2diff_broadcast.weights.store import Located, ModelStore


def test_sources() -> None:
    s = parse_source("Leoxing/Live2Diff/live2diff.ckpt")
    assert (s.repo_id, s.filename) == ("Leoxing/Live2Diff", "live2diff.ckpt")
    s = parse_source("madebyollin/taesd@main")
    assert (s.repo_id, s.filename, s.revision) == ("madebyollin/taesd", None, "main")
    assert parse_source("./styles/toon.safetensors").is_local


def test_offline_empty_cache_lists_everything_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        load_components(ModelsSection(preset="live2diff"))
    message = str(err.value)
    for expected in (
        "offline", str(tmp_path / "hf" / "hub"),
        "stable-diffusion-v1-5/stable-diffusion-v1-5/unet/diffusion_pytorch_model.safetensors",
        "latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors",
        "madebyollin/taesd/config.json", "Leoxing/Live2Diff/live2diff.ckpt", "Intel/dpt-hybrid-midas/config.json",
        "live2diff-broadcast models --download",
    ):
        assert expected in message


def test_models_command_offline_prints_listing_not_traceback(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[models]\npreset = "live2diff"\n', encoding="utf-8")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "live2diff_broadcast.cli", "models", "--download", "--profile", str(profile)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr + run.stdout
    assert "MISSING  live2diff" in run.stdout and f"--profile {profile}" in run.stdout


def test_resolves_files_from_the_hub_cache_layout(tmp_path: Path) -> None:
    """A file in the standard cache layout (models--owner--name/snapshots/<commit>/...) is found offline."""
    repo = tmp_path / "hub" / "models--madebyollin--taesd"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snap / "config.json").write_text("{}")
    (snap / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 10)
    store = ModelStore(cache_dir=tmp_path / "hub", offline=True)
    found = store.locate(requirement("vae", "madebyollin/taesd"))
    assert isinstance(found, Located) and found.root == snap and found.size_bytes == 12


def test_profile_requirements_cover_styles_and_loras() -> None:
    models = ModelsSection(style_checkpoint="./toon.safetensors", loras=[{"path": "a/b/c.safetensors", "weight": 0.7}])
    names = [r.component for r in profile_requirements(models)]
    assert names == ["base", "lcm_lora", "vae", "live2diff", "depth", "style", "lora:0"]


def test_an_unreachable_hub_is_tried_once_then_everything_missing_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    attempts: list[str] = []

    def no_network(self: ModelStore, req: object) -> Located:
        attempts.append(str(req))
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(ModelStore, "download", no_network)
    with pytest.raises(MissingWeightsError) as err:
        load_components(ModelsSection(preset="live2diff"))
    assert len(attempts) == 1
    message = str(err.value)
    assert "unreachable" in message and "Leoxing/Live2Diff/live2diff.ckpt" in message and "madebyollin/taesd" in message
