"""Show profiles: the typed schema (``schema/``, one file per section), its error messages (``errors.py``), hotkey
syntax (``hotkeys.py``), and live reload (``watch.py`` polls the file, ``reload.py`` says what an
edit changes and what must restart).

The schema's public names are re-exported here: ``from live2diff_broadcast.config import Profile``.
"""

from .schema import (
    EngineSection,
    HotkeysSection,
    LoraSection,
    ModelsSection,
    OutputSection,
    PluginSection,
    Profile,
    ProfileError,
    SinkSection,
    SourceSection,
    StyleSection,
    WatchdogSection,
    load_profile,
    parse_profile,
    plugin_problems,
    read_profile_bytes,
    strength_to_t_index_list,
)

__all__ = [
    "EngineSection",
    "HotkeysSection",
    "LoraSection",
    "ModelsSection",
    "OutputSection",
    "PluginSection",
    "SinkSection",
    "Profile",
    "ProfileError",
    "SourceSection",
    "StyleSection",
    "WatchdogSection",
    "load_profile",
    "parse_profile",
    "plugin_problems",
    "read_profile_bytes",
    "strength_to_t_index_list",
]
