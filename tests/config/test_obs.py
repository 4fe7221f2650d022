"""The profile's [obs] section: scene -> style names checked at load; no password in the file."""

from __future__ import annotations

import pytest

from live2diff_broadcast.config import ProfileError, parse_profile

STYLES = b'[[styles]]\nname = "anime"\nprompt = "a"\n[[styles]]\nname = "sketch"\nprompt = "b"\n'


def load(obs: bytes) -> object:
    return parse_profile(STYLES + obs, "show.toml", check_plugins=False)


def test_scenes_map_to_styles_or_passthrough() -> None:
    profile = load(b'[obs]\nenabled = true\nport = 4460\n[obs.scenes]\n"Main" = "anime"\n"BRB" = "passthrough"\n')
    assert profile.obs.scenes == {"Main": "anime", "BRB": "passthrough"}  # type: ignore[attr-defined]
    assert profile.obs.host == "127.0.0.1" and profile.obs.port == 4460  # type: ignore[attr-defined]


def test_a_scene_mapped_to_an_unknown_style_names_file_field_and_choices() -> None:
    with pytest.raises(ProfileError) as err:
        load(b'[obs.scenes]\n"Main" = "animee"\n')
    message = str(err.value)
    assert "show.toml" in message and "obs.scenes.'Main'" in message and "'animee' is not a style" in message
    assert "did you mean 'anime'" in message and "'passthrough'" in message


def test_the_password_is_refused_in_the_file_and_the_env_var_named() -> None:
    with pytest.raises(ProfileError, match="obs: password: not read from the profile file.*LIVE2DIFF_OBS_PASSWORD"):
        load(b'[obs]\npassword = "hunter2"\n')


def test_text_format_may_only_use_style() -> None:
    with pytest.raises(ProfileError, match="obs.text_format"):
        load(b'[obs]\ntext_format = "{scene}"\n')
    assert load(b'[obs]\ntext_format = "Style: {style}"\n').obs.text_format == "Style: {style}"  # type: ignore[attr-defined]


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ProfileError, match="obs.port"):
        load(b"[obs]\nport = 70000\n")
