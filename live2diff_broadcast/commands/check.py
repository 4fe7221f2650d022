"""``check PROFILE``: is the show profile valid, and is every model it names here?

Validates the profile (schema, hotkeys, plugin settings), shows what each style runs (steps,
CLIP text layer, depth preprocessing: ``style_summary.py``), opens the source when it is one that
must open at the start of a show (a file: ``run`` would stop with the same error), then, per style
and component, says which referenced models are present (a local file / folder, or in the Hugging
Face cache) and how to fetch the missing ones. Presence comes from the weights store
(``ModelStore.locate``), the same lookup the engine uses when it loads, so "present" here means
the engine will find it.

Exit codes: 0 valid and every model present; 1 valid but models missing (``run`` downloads the
Hub ones when ``models.auto_download`` is on, and refuses to start, exit 2, on the others: local
files, or Hub files with downloads off; the listing says which); 2 invalid profile (also a
``clip_skip`` beyond the layers of the text encoder on disk) or a source that must open and cannot
(``run`` stops with the same error).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Profile, ProfileError, StyleSection, load_profile
from ..weights.manifest import profile_requirements
from ..weights.requirements import Requirement
from ..weights.store import Located, Missing, ModelStore
from .style_summary import style_run

if TYPE_CHECKING:
    from ..plugin_api import PluginRegistry

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_MISSING, EXIT_INVALID = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="validate a show profile and list, per style, which models are present or missing",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("profile", type=Path, help="show profile TOML")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class ComponentStatus:
    """One model a style needs: where the profile sets it and whether it is here."""

    requirement: Requirement
    field: str  # the profile field that names it, e.g. "styles[1].loras[0].path" or "models.vae"
    result: Located | Missing

    @property
    def present(self) -> bool:
        return isinstance(self.result, Located)


def run(args: argparse.Namespace) -> int:
    # 1. validate: every problem, with its field path, or nothing more to say
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(exc)
        return EXIT_INVALID
    store = None if profile.models.preset == "tiny" else ModelStore()
    if not _print_summary(args.profile, profile, store):
        return EXIT_INVALID
    problem = source_problem(profile)
    if problem is not None:
        print(f"source: {problem}")
        return EXIT_INVALID
    if store is None:
        print("models: preset 'tiny' (random weights, built in memory): no model files needed")
        return EXIT_OK
    # 2. every style's models, located once each (styles share most of them)
    print(f"Hugging Face cache: {store.cache_dir}{'  (offline)' if store.offline else ''}")
    per_style = {style.name: style_components(profile, style, store) for style in profile.styles}
    shared = _shared_keys(list(per_style.values()))
    # 3. report: shared components once, then what each style adds or overrides
    missing: dict[tuple[str, str], ComponentStatus] = {}
    first = next(iter(per_style.values()))
    print("models shared by every style:")
    for status in first:
        if _key(status) in shared:
            _print_status(status)
            if not status.present:
                missing[_key(status)] = status
    for style in profile.styles:
        own = [s for s in per_style[style.name] if _key(s) not in shared]
        print(f"style {style.name!r}:" + ("" if own else " nothing beyond the shared models"))
        for status in own:
            _print_status(status)
            if not status.present:
                missing[_key(status)] = status
    total = len({_key(s) for statuses in per_style.values() for s in statuses})
    if not missing:
        print(f"all {total} model components present")
        return EXIT_OK
    print(f"{len(missing)} of {total} model components missing")
    if any(s.requirement.source.repo_id and s.field.startswith("models.") for s in missing.values()):
        print(f"fetch the [models] ones with: live2diff-broadcast models --download --profile {args.profile}")
    fatal = [s for s in missing.values() if not downloadable(profile, s)]
    if fatal:
        print(f"{len(fatal)} of them will not be downloaded (a local path, or models.auto_download = false): "
              "`run` refuses to start until they are there")
    return EXIT_MISSING


def downloadable(profile: Profile, status: ComponentStatus) -> bool:
    """A missing component the engine would fetch when it loads (a Hub file, with auto_download on)."""
    return status.requirement.source.repo_id is not None and profile.models.auto_download


def model_problems(profile: Profile, store: ModelStore | None = None) -> list[str]:
    """The models a show would fail to load, one line each naming the profile field and the file: local
    files that are not there, and Hub files that are missing while auto_download is off (``run`` refuses to
    start on these; missing Hub files with auto_download on are downloaded by the engine)."""
    if profile.models.preset == "tiny":
        return []
    store = store or ModelStore()
    problems: dict[tuple[str, str], str] = {}
    for style in profile.styles:
        for status in style_components(profile, style, store):
            if isinstance(status.result, Missing) and not downloadable(profile, status):
                why = "not found" if status.requirement.source.repo_id is None else "not in the cache (auto_download = false)"
                problems[_key(status)] = f"{status.field}: {', '.join(status.result.files)}: {why}"
    return list(problems.values())


def source_problem(profile: Profile, registry: PluginRegistry | None = None) -> str | None:
    """Why the profile's source cannot be opened, when it is one that must open at the start of a show
    ([source] on_open_failure, else the plugin's retry_open: a file); None when it opens, or may retry."""
    from ..plugin_api import (
        discover_plugins,  # imports the plugins (OpenCV, PyAV): only when checking a source
    )

    section = profile.source
    cls = (registry or discover_plugins()).source(section.plugin)
    retry = cls.retry_open if section.on_open_failure == "auto" else section.on_open_failure == "retry"
    if retry:
        return None
    source = cls.create(section.settings)
    try:
        source.open()
    except Exception as exc:
        return f"the source cannot be opened: {exc}"
    finally:
        source.close("checked")
    return None


def style_components(profile: Profile, style: StyleSection, store: ModelStore) -> list[ComponentStatus]:
    """The models ``style`` loads ([models] with its overrides), each located by ``store``."""
    index = profile.styles.index(style)
    statuses = []
    for req in profile_requirements(profile.models_for(style)):
        statuses.append(ComponentStatus(req, _field_of(req.component, style, index), store.locate(req)))
    return statuses


def _field_of(component: str, style: StyleSection, index: int) -> str:
    """The profile field that sets ``component`` for this style."""
    if component == "base":
        return f"styles[{index}].base" if style.base is not None else "models.base"
    if component == "style":
        return f"styles[{index}].style_checkpoint" if style.style_checkpoint is not None else "models.style_checkpoint"
    if component.startswith("lora:"):
        j = component.split(":", 1)[1]
        return f"styles[{index}].loras[{j}].path" if style.loras is not None else f"models.loras[{j}].path"
    return f"models.{component}"


def _key(status: ComponentStatus) -> tuple[str, str]:
    return status.requirement.component, status.requirement.source.spec


def _shared_keys(per_style: list[list[ComponentStatus]]) -> set[tuple[str, str]]:
    keys = [{_key(s) for s in statuses} for statuses in per_style]
    return set.intersection(*keys) if keys else set()


def fetch_hint(status: ComponentStatus, missing: Missing) -> str:
    """How to get a missing component: the exact download command, or where the local file must be."""
    source = status.requirement.source
    if source.repo_id is None:
        return f"not found; put the file there or fix {status.field} in the profile"
    prefix = source.repo_id + "/"
    files = [f[len(prefix):] if f.startswith(prefix) else f for f in missing.files]
    revision = f" --revision {source.revision}" if source.revision else ""
    return f"fetch: hf download {source.repo_id} {' '.join(files)}{revision}"


def _print_status(status: ComponentStatus) -> None:
    req, result = status.requirement, status.result
    head = f"  {'present' if status.present else 'MISSING':<8} {req.component:<10} {req.source.spec}  ({status.field})"
    print(head)
    if isinstance(result, Located):
        print(f"           {result.root}")
    else:
        for path in result.files:
            print(f"           {path}")
        print(f"           {fetch_hint(status, result)}")


def _print_summary(path: Path, profile: Profile, store: ModelStore | None) -> bool:
    """The profile at a glance, each style with what it runs; False when a style cannot run (said why)."""
    default = profile.style().name
    styles = ", ".join(s.name + (" (default)" if s.name == default else "") for s in profile.styles)
    print(f"{path}: valid profile {profile.name!r}: {len(profile.styles)} style(s): {styles}")
    print(f"source {profile.source.plugin}, engine {profile.engine.width}x"
          f"{profile.engine.height}, steps {list(profile.engine.t_index_list)}")
    problems = []
    for style in profile.styles:
        print(f"  - {style.name}: seed {style.seed}, prompt {style.prompt_template.format(style.prompt)!r}")
        run = style_run(profile, style, store)
        for line in run.lines():
            print(f"      {line}")
        if run.problem:
            problems.append(run.problem)
    bindings = profile.hotkey_bindings()
    if bindings:
        print("hotkeys: " + ", ".join(
            f"{b.hotkey} -> {b.action + ' ' + repr(b.style) if b.style else b.action}" for b in bindings
        ))
    _print_sinks(profile)
    for problem in problems:
        print(f"{path}: invalid for these models: {problem}")
    return not problems


def _print_sinks(profile: Profile) -> None:
    """Every output, by the label the log and the status use."""
    sinks = profile.sink_sections()
    if len(sinks) > 1:
        print(f"{len(sinks)} sinks, each on its own thread (one failing never stalls the others):")
    for where, section in sinks:
        print(f"{'  - ' if len(sinks) > 1 else ''}{section.label(where)} {section.settings}")
