"""What a saved profile changes in a running show, and what waits for the next start.

* styles (prompts, strength / steps, seed, models, hotkeys, added / removed): applied live, as a
  new SetStyle for the style on air (models prepared in the background) and re-bound hotkeys;
* [engine] (except t_index_list, which reaches the styles) and [models] preset / vae / depth:
  the engine process restarts; passthrough covers while it loads;
* [source]: the source reconnects (NO SIGNAL for that moment);
* [sink] and engine.width / height: at the next start. The sink is opened at the model size, and
  reopening it mid-show would drop the virtual camera / NDI source that OBS or viewers hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Profile
from .watch import diff_profiles


@dataclass(frozen=True)
class ReloadPlan:
    profile: Profile  # what runs from now on (``new`` with the next-start-only parts kept as they were)
    restart_engine: bool
    restart_source: bool
    lines: tuple[str, ...]  # what changed and what happens, for the log and the control server


def plan_reload(old: Profile, new: Profile) -> ReloadPlan:
    changes = diff_profiles(old, new)
    lines = [line for line in changes.describe()]
    keep: dict[str, object] = {}
    if "sink" in changes.restart:
        keep["sink"] = old.sink
        lines.append("[sink] changes apply at the next start (reopening it would drop what OBS / viewers hold)")
    engine = new.engine
    if (engine.width, engine.height) != (old.engine.width, old.engine.height):
        engine = engine.model_copy(update={"width": old.engine.width, "height": old.engine.height})
        lines.append(f"engine size {new.engine.width}x{new.engine.height} applies at the next start "
                     f"(the output stays {old.engine.width}x{old.engine.height} while streaming)")
        keep["engine"] = engine
    restart_engine = (
        old.engine.model_dump(exclude={"t_index_list"}) != engine.model_dump(exclude={"t_index_list"})
        or "models" in changes.restart
    )
    if restart_engine:
        lines.append("restarting the engine process (passthrough while it loads)")
    restart_source = "source" in changes.restart
    if restart_source:
        lines.append("reconnecting the source")
    return ReloadPlan(new.model_copy(update=keep) if keep else new, restart_engine, restart_source, tuple(lines))
