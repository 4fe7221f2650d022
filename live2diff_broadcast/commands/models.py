"""``models``: what the profile's models are, where they are, their size; ``--download`` fetches the missing."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import ProfileError, load_profile
from ..weights.errors import WeightsError
from ..weights.manifest import profile_requirements
from ..weights.store import Located, ModelStore

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the model files a profile needs (present or missing, where, size); --download fetches them",
        description="Each component resolves from a local path or a Hugging Face repo id; downloads go into "
        "the standard Hugging Face cache (HF_HOME / HF_HUB_CACHE).",
    )
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in settings)")
    p.add_argument("--download", action="store_true", help="download every missing Hub file (progress bars)")
    p.set_defaults(func=run)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
        reqs = profile_requirements(profile.models)
    except (ProfileError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    store = ModelStore()
    print(f"Hugging Face cache: {store.cache_dir}{'  (offline)' if store.offline else ''}")
    missing = 0
    for req in reqs:
        result = store.locate(req)
        if isinstance(result, Located) or not args.download:
            pass
        elif req.source.repo_id is None or store.offline:
            logger.error("%s: cannot download %s (%s)", req.component, req.source.spec,
                         "offline" if store.offline else "a local path")
        else:
            try:
                result = store.download(req)
            except WeightsError as exc:
                logger.error("%s", exc)
            except Exception as exc:  # noqa: BLE001 - network / Hub errors: report, go on with the others
                logger.error("%s: download of %s failed: %s", req.component, req.source.spec, exc)
        if isinstance(result, Located):
            print(f"  present  {req.component:<10} {req.source.spec}\n           {result.root}  ({_size(result.size_bytes)})")
        else:
            missing += 1
            print(f"  MISSING  {req.component:<10} {req.source.spec}\n           " + "\n           ".join(result.files))
    if missing:
        where = f" --profile {args.profile}" if args.profile else ""
        print(f"{missing} component(s) missing; fetch them with: live2diff-broadcast models --download{where}")
        return 1
    return 0
