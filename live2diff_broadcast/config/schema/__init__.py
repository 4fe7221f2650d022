"""Show profiles: one TOML file per show, validated at the edge.

A profile names the models, the engine settings, the styles, the hotkeys, the source and the
sink or sinks (see ``profiles/example_show.toml`` for every field with comments). Layout::

    name, default_style
    [models]      weights shared by every style (ModelsSection)
    [engine]      resolution, denoising steps (t_index_list), window / warmup, device, backend
    [hotkeys]     next_style, previous_style, passthrough (toggle), rewarm  (ACTIONS)
    [control]     host, port of the local control port (dock page, commands)
    [[styles]]    name, prompt, negative_prompt, prompt_template, base / style_checkpoint / loras
                  (override [models] for this style), strength OR t_index_list, clip_skip, seed, guidance,
                  noise_mode, hotkey
    [source] / [sink]   plugin + settings (checked against the plugin's declared Settings at load)
    [[sinks]]     several outputs at once instead of [sink] (not both): plugin, name, settings each
    [obs]         OBS scene -> style over obs-websocket (config/obs.py)
    [output]      output frame rate, how long the last restyled frame is held (applied live)
    [watchdog]    when a silent or stuck engine process is replaced (applied live)

Strength: a style may give ``strength`` in (0, 1] instead of ``t_index_list``. It keeps the
engine's step count n = len(engine.t_index_list) and denoises k = round(50 * strength) of the
50-step LCM schedule (t_index i is timestep 999 - 20 i): t_index_list = [50 - k + (i * k) // n for
i in range(n)]. Strength 0.4 with 2 steps is the reference's [30, 40]; strength 1.0 starts from
pure noise (index 0). k must be >= n. Giving both strength and t_index_list is an error.

clip_skip (engine default, a style may override it) picks the CLIP text layer counted from the end,
as AUTOMATIC1111 and civitai's "Clip skip" do: 1 = the last layer, 2 = the penultimate, 3 = the
third from last (then CLIP's final layer norm). The Live2Diff authors' YAML configs count the
layers *skipped* instead (their ``hidden_states[-(clip_skip + 1)]``): their ``clip_skip: 2`` is our
3; ``live2diff-broadcast import-config`` converts it (engine/text.py).

Hotkeys are keyboard-library strings ("ctrl+alt+1"); they are compared after the library's own
parsing, so "Ctrl+1" and "ctrl+1" are the same key and may be bound once only.

Environment variables override fields: ``LIVE2DIFF_ENGINE__DEVICE=cpu`` sets ``engine.device``.
Every section rejects unknown keys and suggests the nearest valid one; every error names the
file, the field path (``styles[2].hotkey``), the value and what is allowed.

One file per section: ``models.py`` ([models] and LoRAs), ``engine.py``, ``styles.py``,
``steps.py`` (t_index_list and strength), ``control.py`` ([hotkeys], [control]), ``plugins.py``
([source] / [sink] / [[sinks]]), ``output.py`` ([output]), ``watchdog.py`` ([watchdog]), ``profile.py`` (the
root and its cross-section checks) and ``loading.py`` (file -> Profile, ProfileError). Every public name is re-exported here.
"""

from .control import ControlSection, HotkeysSection
from .engine import EngineSection
from .loading import ProfileError, load_profile, parse_profile, read_profile_bytes
from .models import LoraSection, ModelsSection
from .output import OutputSection
from .plugins import PluginSection, SinkSection, SourceSection, plugin_problems
from .profile import Profile
from .steps import TIndexList, strength_to_t_index_list
from .styles import StyleSection
from .watchdog import WatchdogSection

__all__ = [
    "ControlSection",
    "EngineSection",
    "HotkeysSection",
    "LoraSection",
    "ModelsSection",
    "OutputSection",
    "PluginSection",
    "Profile",
    "ProfileError",
    "SinkSection",
    "SourceSection",
    "StyleSection",
    "TIndexList",
    "WatchdogSection",
    "load_profile",
    "parse_profile",
    "plugin_problems",
    "read_profile_bytes",
    "strength_to_t_index_list",
]
