"""``import-config STYLE.yaml [--base base_config.yaml]``: one of the Live2Diff authors' style configs
(open-mmlab/Live2Diff ``configs/*.yaml``, ``demo/demo_cfg*.yaml``) as a show profile that runs their
computation: ``[models]``, ``[engine]`` and one ``[[styles]]`` entry, every key of the config accounted
for in its comments (``config/authors_import.py`` has the mapping).

Relative paths in the config are resolved from ``--root`` (default: the current directory), as
their scripts resolve them from where they run; every file it names must exist. The profile is
printed, or written to ``--output``; ``--style-only`` prints the ``[[styles]]`` entry alone, to
paste into a profile that has the same ``[models]`` / ``[engine]``.

Exit codes: 0 imported; 2 the config cannot be imported (the message names the file and the key).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_INVALID = 0, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-config",
        help="turn one of the Live2Diff authors' YAML style configs into a show profile",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("config", type=Path, help="their style config, e.g. configs/toonyou.yaml")
    p.add_argument("--base", type=Path, default=None, help="the base config (default: the config's own 'base' key)")
    p.add_argument("--root", type=Path, default=None,
                   help="where the config's relative paths start (default: the current directory)")
    p.add_argument("--name", default=None, help="the style's name (default: the config file's stem)")
    p.add_argument("--prompt", default=None, help="what the scene is (the config's template wraps it)")
    p.add_argument("--output", "-o", type=Path, default=None, help="write the profile here instead of printing it")
    p.add_argument("--style-only", action="store_true", help="only the [[styles]] entry")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import ProfileError, parse_profile  # imported here: the CLI loads fast
    from ..config.authors_import import import_authors_config
    from ..config.authors_yaml import AuthorsConfigError

    # 1. read, check and map every key
    try:
        imported = import_authors_config(args.config, args.base, args.root, args.name, args.prompt)
    except AuthorsConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    # 2. the profile it makes must load like any other (a bug here is ours, not the user's)
    full = imported.toml()
    try:
        parse_profile(full.encode("utf-8"), args.output or f"<imported {args.config}>", check_plugins=False)
    except ProfileError as exc:
        print(f"{args.config}: the imported profile does not validate:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    # 3. out
    text = imported.toml(style_only=args.style_only)
    if args.output is None:
        sys.stdout.write(text)  # the notes are its comments
        return EXIT_OK
    args.output.write_text(text, encoding="utf-8")
    for line in imported.notes:
        logger.info("%s: %s", args.config.name, line)
    logger.info("wrote %s (style %r)", args.output, imported.style["name"])
    return EXIT_OK
