"""The show-profile schema: what a streamer's mistakes look like, and what a valid profile gives the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from live2diff_broadcast.config import Profile, ProfileError, load_profile, strength_to_t_index_list
from live2diff_broadcast.config.hotkeys import hotkey_signature
from live2diff_broadcast.plugin_api import PluginRegistry, discover_plugins

REPO = Path(__file__).resolve().parents[2]
STYLE = '[[styles]]\nname = "{name}"\nprompt = "a person"\n'


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return discover_plugins()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "show.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, registry: PluginRegistry | None = None) -> str:
    with pytest.raises(ProfileError) as err:
        load_profile(path, registry)
    message = str(err.value)
    assert message.startswith(str(path)), message  # every error names the file
    return message


class _KeyTable:
    """A stand-in for keyboard's OS key table (keyboard's own tests do the same): a few keys, no devices."""

    codes = {"left ctrl": 29, "right ctrl": 97, "left alt": 56, "right alt": 100, "1": 2, "2": 3, "p": 25}

    def map_name(self, name: str):  # noqa: ANN201 - keyboard's protocol: yields (scan_code, modifiers)
        if name not in self.codes:
            raise ValueError(f"no key named {name!r}")
        yield self.codes[name], ()


@pytest.fixture
def key_table(monkeypatch: pytest.MonkeyPatch) -> None:
    keyboard = pytest.importorskip("keyboard")  # optional (the hotkeys extra): only these tests need it
    monkeypatch.setattr(keyboard, "_os_keyboard", _KeyTable())


# --- valid profiles ---------------------------------------------------------------------------------


def test_defaults_build_a_stream_config():
    cfg = load_profile(None).stream_config()
    assert cfg.t_index_list == (30, 40) and cfg.causal.window == 16 and cfg.causal.warmup == 8


@pytest.mark.parametrize("name", ["default.toml", "example_show.toml"])
def test_shipped_profiles_are_valid(name: str, registry: PluginRegistry) -> None:
    profile = load_profile(REPO / "profiles" / name, registry)
    for style in profile.styles:
        profile.stream_config(style)  # every style gives a usable stream config


def test_example_show_has_the_papers_styles_on_hotkeys(registry: PluginRegistry) -> None:
    profile = load_profile(REPO / "profiles" / "example_show.toml", registry)
    styles = {s.name: s for s in profile.styles}
    assert set(styles) == {"cartoon", "zaum", "vangogh", "felted", "toonyou", "pixar", "moxin", "origami", "pixart"}
    assert "cartoon style" in styles["cartoon"].prompt_template
    assert "zaum, elysiumchar" in styles["zaum"].prompt_template
    assert "Starry Night by Van Gogh, lvngvncnt" in styles["vangogh"].prompt_template
    assert profile.models_for(styles["cartoon"]).style_checkpoint.endswith(".safetensors")
    assert [s.label(where) for where, s in profile.sink_sections()] == ["sinks[0] virtualcam", "sinks[1] file 'recording'"]
    zaum = profile.models_for(styles["zaum"])
    assert zaum.style_checkpoint is None and len(zaum.loras) == 1 and zaum.loras[0].weight == 0.8
    actions = {b.action for b in profile.hotkey_bindings()}
    assert actions == {"style", "next_style", "previous_style", "passthrough", "rewarm"}
    # every style runs the authors' way: their text layer (hidden_states[-3]) and their step lists
    assert {profile.stream_config(s).clip_skip for s in profile.styles} == {3}
    assert profile.stream_config(styles["cartoon"]).t_index_list == (30, 36, 42)
    assert profile.stream_config(styles["zaum"]).t_index_list == (25, 34, 43)
    assert (profile.engine.depth_resize, profile.engine.depth_normalise) == ("squash", "warmup_joint")


def test_environment_overrides_file(tmp_path, monkeypatch):
    path = _write(tmp_path, '[engine]\ndevice = "cuda"\nwidth = 256\n')
    monkeypatch.setenv("LIVE2DIFF_ENGINE__DEVICE", "cpu")
    profile = load_profile(path)
    assert profile.engine.device == "cpu" and profile.engine.width == 256  # the rest of the file stays


def test_bad_environment_value_names_the_variable(tmp_path, monkeypatch):
    path = _write(tmp_path, STYLE.format(name="a"))
    monkeypatch.setenv("LIVE2DIFF_ENGINE__WIDTH", "wide")
    message = _error(path)
    assert "engine.width" in message and "LIVE2DIFF_ENGINE__WIDTH" in message and "'wide'" in message


# --- strength / t_index_list ------------------------------------------------------------------------


def test_strength_mapping():
    assert strength_to_t_index_list(0.4, 2) == [30, 40]  # the reference's steps
    assert strength_to_t_index_list(1.0, 2) == [0, 25]  # from pure noise
    assert strength_to_t_index_list(0.5, 3) == [25, 33, 41]
    assert strength_to_t_index_list(0.04, 2) == [48, 49]
    with pytest.raises(ValueError, match="strength >= 0.04"):
        strength_to_t_index_list(0.02, 2)


def test_stream_config_honours_strength_and_t_index_list(tmp_path):
    path = _write(
        tmp_path,
        "[engine]\nt_index_list = [30, 40]\n"
        + STYLE.format(name="plain")
        + STYLE.format(name="strong") + "strength = 0.6\n"
        + STYLE.format(name="explicit") + "t_index_list = [10, 20, 30]\n",
    )
    profile = load_profile(path)
    steps = {s.name: profile.stream_config(s).t_index_list for s in profile.styles}
    assert steps == {"plain": (30, 40), "strong": (20, 35), "explicit": (10, 20, 30)}


def test_strength_and_t_index_list_together_is_an_error(tmp_path):
    path = _write(tmp_path, STYLE.format(name="a") + STYLE.format(name="b") + "strength = 0.4\nt_index_list = [30, 40]\n")
    message = _error(path)
    assert "styles[1]: strength (0.4) and t_index_list ([30, 40]) are alternatives" in message


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_out_of_range_strength(tmp_path, value):
    message = _error(_write(tmp_path, STYLE.format(name="a") + f"strength = {value}\n"))
    assert "styles[0].strength" in message and value in message


def test_strength_too_small_for_the_steps(tmp_path):
    message = _error(_write(tmp_path, STYLE.format(name="a") + "strength = 0.02\n"))
    assert "styles[0].strength" in message and "use strength >= 0.04" in message


def test_bad_t_index_list(tmp_path):
    message = _error(_write(tmp_path, STYLE.format(name="a") + "t_index_list = [40, 30]\n"))
    assert "styles[0].t_index_list: must be strictly increasing" in message
    message = _error(_write(tmp_path, "[engine]\nt_index_list = [30, 50]\n"))
    assert "engine.t_index_list" in message and "[0, 50)" in message


# --- missing fields, wrong types, unknown keys --------------------------------------------------------


def test_missing_required_fields(tmp_path):
    message = _error(_write(tmp_path, '[[styles]]\nname = "a"\n[source]\nsettings = {}\n'))
    assert "styles[0].prompt: required field is missing" in message
    assert "source.plugin: required field is missing" in message


def test_wrong_types_name_the_value(tmp_path):
    message = _error(_write(tmp_path, '[engine]\nwidth = "wide"\nwindow = 1.5\n' + STYLE.format(name="a") + 'seed = "x"\n'))
    assert "engine.width" in message and "got 'wide'" in message
    assert "engine.window" in message and "got 1.5" in message
    assert "styles[0].seed" in message and "got 'x'" in message
    message = _error(_write(tmp_path, 'styles = "cartoon"\n'))
    assert "styles: Input should be a valid list" in message


def test_literal_fields_say_what_is_allowed(tmp_path):
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'noise_mode = "random"\n'))
    assert "styles[0].noise_mode" in message and "'per_frame' or 'fixed'" in message


def test_unknown_key_named_with_file_and_path(tmp_path):
    path = _write(tmp_path, "[engine]\nwidht = 512\n")
    message = _error(path)
    assert "engine.widht: unknown key; did you mean 'width'?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('stlyes = []\n', "stlyes: unknown key; did you mean 'styles'?"),
        (STYLE.format(name="a") + STYLE.format(name="b") + 'hotkye = "f5"\n',
         "styles[1].hotkye: unknown key; did you mean 'hotkey'?"),
        (STYLE.format(name="a") + 'loras = [{ path = "x.safetensors", wieght = 0.5 }]\n',
         "styles[0].loras[0].wieght: unknown key; did you mean 'weight'?"),
        ('[hotkeys]\nnext_stlye = "f5"\n', "hotkeys.next_stlye: unknown key; did you mean 'next_style'?"),
        ('[models]\nstyle_chekpoint = "x"\n', "models.style_chekpoint: unknown key; did you mean 'style_checkpoint'?"),
    ],
)
def test_unknown_keys_suggest_the_nearest(tmp_path, text, expected):
    message = _error(_write(tmp_path, text))
    assert expected in message and "allowed:" in message


def test_style_names_and_default_style(tmp_path):
    message = _error(_write(tmp_path, 'default_style = "cartoom"\n' + STYLE.format(name="cartoon") + STYLE.format(name="cartoon")))
    assert "styles[1].name: 'cartoon' is already the name of styles[0]" in message
    assert "default_style: 'cartoom' is not a style; did you mean 'cartoon'?" in message


def test_prompt_template_must_hold_one_slot(tmp_path):
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'prompt_template = "cartoon style"\n'))
    assert "styles[0].prompt_template" in message
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'prompt_template = "{style}, {}"\n'))
    assert "styles[0].prompt_template" in message and "literal braces" in message


def test_model_source_must_name_a_file_in_a_repo(tmp_path):
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'style_checkpoint = "someone/toon-model"\n'))
    assert "styles[0].style_checkpoint: 'someone/toon-model' names a Hugging Face repo but no file" in message


def test_style_model_overrides(tmp_path):
    path = _write(
        tmp_path,
        '[models]\npreset = "live2diff"\nstyle_checkpoint = "./toon.safetensors"\n'
        'loras = [{ path = "./a.safetensors", weight = 0.5 }]\n'
        + STYLE.format(name="inherit")
        + STYLE.format(name="bare") + 'style_checkpoint = "none"\nloras = []\n'
        + STYLE.format(name="own") + 'base = "./sd15"\nloras = [{ path = "./b.safetensors", weight = 0.7 }]\n',
    )
    profile = load_profile(path)
    inherit, bare, own = (profile.models_for(s) for s in profile.styles)
    assert inherit == profile.models
    assert bare.style_checkpoint is None and bare.loras == []
    assert own.base == "./sd15" and own.style_checkpoint == "./toon.safetensors" and own.loras[0].weight == 0.7


def test_per_style_weights_under_the_tiny_preset_are_refused_not_ignored(tmp_path):
    message = _error(_write(
        tmp_path,
        '[models]\nstyle_checkpoint = "./toon.safetensors"\n'
        + STYLE.format(name="a") + 'loras = [{ path = "./b.safetensors" }]\n'
        + STYLE.format(name="b") + 'style_checkpoint = "none"\nloras = []\n',  # "no weights": nothing ignored
    ))
    assert "models.style_checkpoint: the tiny preset builds random-weight models and loads no model file" in message
    assert 'styles[0].loras: the tiny preset' in message and 'set models.preset = "live2diff"' in message
    assert "styles[1]" not in message


def test_the_engine_size_follows_the_preset_unless_set():
    assert (Profile().engine.width, Profile().engine.height) == (256, 144)  # tiny: several fps on a 2-core CPU
    real = Profile(models={"preset": "live2diff"})
    assert (real.engine.width, real.engine.height) == (768, 432)  # 16:9
    assert Profile(engine={"width": 512, "height": 512}).engine.width == 512
    assert Profile(**Profile().model_dump()).engine.height == 144  # a dump (the engine's copy) keeps it


# --- hotkeys ----------------------------------------------------------------------------------------


def test_duplicate_hotkeys_across_styles_and_actions(tmp_path):
    path = _write(
        tmp_path,
        '[hotkeys]\nrewarm = "Ctrl+Alt+1"\n'
        + STYLE.format(name="a") + 'hotkey = "ctrl+alt+1"\n'
        + STYLE.format(name="b") + 'hotkey = "f5"\n'
        + STYLE.format(name="c") + 'hotkey = "F5"\n',
    )
    message = _error(path)
    assert "styles[2].hotkey: 'F5' is already bound by styles[1].hotkey ('f5')" in message
    assert "hotkeys.rewarm: 'Ctrl+Alt+1' is already bound by styles[0].hotkey ('ctrl+alt+1')" in message


def test_unparseable_hotkey(tmp_path):
    pytest.importorskip("keyboard")  # the message is the library's own
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'hotkey = "ctrl+"\n'))
    assert "styles[0].hotkey: the keyboard library cannot parse 'ctrl+'" in message
    message = _error(_write(tmp_path, '[hotkeys]\npassthrough = ""\n'))
    assert "hotkeys.passthrough: empty hotkey" in message


def test_with_a_key_table_unknown_keys_and_key_order(tmp_path, key_table):
    assert hotkey_signature("Ctrl+Alt+1") == hotkey_signature("alt+ctrl+1") == hotkey_signature("control+alt+1")
    assert hotkey_signature("ctrl+1") != hotkey_signature("ctrl+2")
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'hotkey = "ctrl+nokey"\n'))
    assert "styles[0].hotkey: the keyboard library cannot parse 'ctrl+nokey': Key 'nokey' is not mapped" in message
    message = _error(_write(
        tmp_path, STYLE.format(name="a") + 'hotkey = "alt+ctrl+2"\n[hotkeys]\nnext_style = "Ctrl+Alt+2"\n'
    ))
    assert "hotkeys.next_style: 'Ctrl+Alt+2' is already bound by styles[0].hotkey" in message


def test_without_the_keyboard_library_hotkeys_still_compare(monkeypatch, tmp_path):
    import live2diff_broadcast.config.hotkeys as spec

    monkeypatch.setattr(spec, "_keyboard_module", lambda: None)
    assert hotkey_signature("Ctrl+1") == hotkey_signature("ctrl+1")
    message = _error(_write(tmp_path, STYLE.format(name="a") + 'hotkey = "ctrl+1"\n[hotkeys]\nrewarm = "CTRL+1"\n'))
    assert "hotkeys.rewarm: 'CTRL+1' is already bound" in message


# --- unreadable files and plugins -------------------------------------------------------------------


def test_binary_and_missing_files(tmp_path):
    binary = tmp_path / "show.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    assert "not a text file" in _error(binary)
    binary.write_bytes(b'name = "x"\x00\x00')  # valid UTF-8, but a NUL: not a profile
    assert "not a text file" in _error(binary)
    assert "no such profile" in _error(tmp_path / "missing.toml")
    assert "is a directory" in _error(tmp_path)


@pytest.mark.parametrize("text", ["", "\n  \n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    assert "empty profile" in _error(_write(tmp_path, text))


def test_invalid_toml_gives_the_line(tmp_path):
    message = _error(_write(tmp_path, "[engine\nwidth = 512\n"))
    assert "invalid TOML" in message and "line 1" in message


def test_window_must_exceed_warmup(tmp_path):
    assert "window" in _error(_write(tmp_path, "[engine]\nwindow = 8\nwarmup = 8\n"))


def test_unknown_plugin_suggests_the_installed_one(tmp_path, registry):
    message = _error(_write(tmp_path, STYLE.format(name="a") + '[source]\nplugin = "camra"\n'), registry)
    assert "source.plugin: no source plugin named 'camra'" in message and "did you mean 'camera'?" in message


def test_invalid_plugin_settings(tmp_path, registry):
    path = _write(tmp_path, STYLE.format(name="a") + '[sink]\nplugin = "file"\nsettings = { pth = "x.mp4", fps = "fast" }\n')
    message = _error(path, registry)
    assert "sink.settings.pth: plugin 'file': unknown key; did you mean 'path'?" in message
    assert "sink.settings.fps: plugin 'file'" in message and "'fast'" in message
    assert "sink.settings.path: plugin 'file': required field is missing" in message


def test_plugin_problems_are_reported_with_schema_problems(tmp_path, registry):
    message = _error(_write(tmp_path, '[engine]\nwidht = 1\n[source]\nplugin = "camra"\n'), registry)
    assert "engine.widht" in message and "source.plugin" in message


def test_plugin_check_can_be_skipped(tmp_path):
    path = _write(tmp_path, STYLE.format(name="a") + '[source]\nplugin = "not_installed_here"\n')
    assert load_profile(path, check_plugins=False).source.plugin == "not_installed_here"


def test_two_loras_answering_to_one_fader_name_are_refused(tmp_path):
    text = STYLE.format(name="a") + 'loras = [{ path = "a/ink.safetensors" }, { path = "b/ink.safetensors" }]\n'
    message = _error(_write(tmp_path, text))
    assert "styles[0].loras" in message and "two LoRAs answer to the fader name(s) ['ink']" in message
    named = ('[models]\npreset = "live2diff"\n' + STYLE.format(name="a")
             + 'loras = [{ path = "./a/ink.safetensors" }, { path = "./b/ink.safetensors", name = "ink2" }]\n')
    path = _write(tmp_path, named)
    assert [lora.fader_name for lora in load_profile(path).styles[0].loras or []] == ["ink", "ink2"]


# --- text layer and depth prior -------------------------------------------------------------------


def test_style_clip_skip_overrides_the_engines(tmp_path):
    path = _write(tmp_path, '[engine]\nclip_skip = 1\n' + STYLE.format(name="a") + "clip_skip = 3\n" + STYLE.format(name="b"))
    profile = load_profile(path)
    assert profile.stream_config(profile.style("a")).clip_skip == 3
    assert profile.stream_config(profile.style("b")).clip_skip == 1  # unset: the engine's
    message = _error(_write(tmp_path, STYLE.format(name="a") + "clip_skip = 0\n"))
    assert "styles[0].clip_skip" in message and "0" in message


def test_depth_defaults_are_the_authors_and_options_are_checked(tmp_path):
    cfg = load_profile(None).stream_config()
    assert (cfg.depth_resize, cfg.depth_normalise) == ("squash", "warmup_joint")
    text = '[engine]\ndepth_resize = "letterbox"\ndepth_normalise = "per_frame"\n' + STYLE.format(name="a")
    cfg = load_profile(_write(tmp_path, text)).stream_config()
    assert (cfg.depth_resize, cfg.depth_normalise) == ("letterbox", "per_frame")
    message = _error(_write(tmp_path, '[engine]\ndepth_resize = "crop"\n' + STYLE.format(name="a")))
    assert "engine.depth_resize" in message and "'crop'" in message and "letterbox" in message
