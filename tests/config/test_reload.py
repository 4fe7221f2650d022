"""diff_profiles: what a saved profile changes in the running show (styles live, stages restart)."""

from __future__ import annotations

from live2diff_broadcast.config.reload import diff_profiles
from tests.config.test_watch import BASE, _profile


def test_diff_styles_added_removed_and_steps(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(
        BASE.replace('name = "zaum"\nprompt = "a person"\nstrength = 0.4', 'name = "vangogh"\nprompt = "a person"')
        .replace("[sink]", '[[styles]]\nname = "zaum"\nprompt = "a person"\nstrength = 0.6\n[sink]'),
        tmp_path,
    )
    changes = diff_profiles(old, new)
    assert changes.styles_added == ("vangogh",) and changes.styles_removed == ()
    assert changes.styles_stream_changed == ("zaum",)  # strength 0.4 -> 0.6: other steps
    assert any("steps [30, 40] -> [20, 35]" in line for line in changes.describe())
    assert not changes.restart and not changes.prompt_only


def test_diff_strength_to_the_same_explicit_steps_is_no_change(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(BASE.replace("strength = 0.4", "t_index_list = [30, 40]"), tmp_path)
    assert diff_profiles(old, new).empty


def test_diff_engine_steps_reach_the_styles_not_a_restart(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(BASE.replace("[engine]", "[engine]\nt_index_list = [20, 40]"), tmp_path)
    changes = diff_profiles(old, new)
    assert changes.styles_stream_changed == ("cartoon",) and not changes.restart  # zaum: strength, 2 steps still


REAL = BASE.replace("[engine]", '[models]\npreset = "live2diff"\n[engine]')  # per-style weights need real models


def test_diff_models_hotkeys_and_restarts(tmp_path):
    old = _profile(REAL, tmp_path)
    text = (
        REAL.replace('hotkey = "ctrl+alt+1"', 'hotkey = "ctrl+alt+1"\nstyle_checkpoint = "./toon.safetensors"')
        .replace('rewarm = "ctrl+alt+r"', 'rewarm = "ctrl+alt+w"')
        .replace("width = 64", "width = 128")
        .replace('"out.mp4"', '"other.mp4"')
    )
    changes = diff_profiles(old, _profile(text, tmp_path))
    assert changes.styles_models_changed == ("cartoon",)
    assert changes.hotkeys_changed and changes.styles_hotkey_changed == ()
    assert changes.restart == ("sink", "engine")
    shared = _profile(REAL.replace("[models]", '[models]\nloras = [{ path = "./a.safetensors" }]'), tmp_path)
    assert diff_profiles(old, shared).styles_models_changed == ("cartoon", "zaum")  # [models] reaches every style
    vae = _profile(REAL.replace("[models]", '[models]\nvae = "./taesd"'), tmp_path)
    assert diff_profiles(old, vae).restart == ("models",)


def test_diff_hotkey_spelling_is_no_change(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(BASE.replace('hotkey = "ctrl+alt+1"', 'hotkey = "Ctrl+Alt+1"'), tmp_path)
    changes = diff_profiles(old, new)
    assert changes.empty and changes.describe() == ["no change"]


def test_diff_a_styles_text_layer_is_a_prompt_change(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(BASE.replace("strength = 0.4", "strength = 0.4\nclip_skip = 3"), tmp_path)
    changes = diff_profiles(old, new)
    assert changes.styles_prompt_changed == ("zaum",) and not changes.restart
    assert any("clip_skip 2 -> 3" in line for line in changes.describe())


def test_output_and_watchdog_apply_live(tmp_path):
    old = _profile(BASE, tmp_path)
    new = _profile(BASE + "[output]\nhold_s = 5.0\n[watchdog]\nstuck_s = 120\n", tmp_path)
    changes = diff_profiles(old, new)
    assert changes.live == ("output", "watchdog") and not changes.restart
    assert "[output] changed (applied live)" in changes.describe()
