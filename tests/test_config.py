import pytest

from live2diff_broadcast.config import ProfileError, load_profile


def test_defaults_build_a_stream_config():
    cfg = load_profile(None).stream_config()
    assert cfg.t_index_list == (30, 40) and cfg.causal.window == 16 and cfg.causal.warmup == 8


def test_unknown_key_named_with_file_and_path(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text("[engine]\nwidht = 512\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and "engine.widht" in str(err.value)


def test_environment_overrides_file(tmp_path, monkeypatch):
    path = tmp_path / "show.toml"
    path.write_text('[engine]\ndevice = "cuda"\n')
    monkeypatch.setenv("LIVE2DIFF_ENGINE__DEVICE", "cpu")
    assert load_profile(path).engine.device == "cpu"


def test_window_must_exceed_warmup(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text("[engine]\nwindow = 8\nwarmup = 8\n")
    with pytest.raises(ProfileError, match="window"):
        load_profile(path)


def test_binary_and_missing_files(tmp_path):
    binary = tmp_path / "show.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ProfileError, match="not a text file"):
        load_profile(binary)
    with pytest.raises(ProfileError, match="no such profile"):
        load_profile(tmp_path / "missing.toml")
