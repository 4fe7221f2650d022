"""``plugins``: list installed sources and sinks, their settings, and why any failed to load."""

from __future__ import annotations

import argparse

from ..plugin_api import SINK_GROUP, SOURCE_GROUP, PluginRegistry, discover_plugins


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plugins",
        help="list installed source and sink plugins",
        description="Every plugin registered in the entry-point groups "
        f"{SOURCE_GROUP!r} and {SINK_GROUP!r}, built-in or third-party.",
    )
    p.add_argument("--settings", action="store_true", help="also list each plugin's settings and defaults")
    p.set_defaults(func=run)


def format_registry(registry: PluginRegistry, with_settings: bool = False) -> str:
    lines: list[str] = []
    for title, table in (("Sources", registry.sources), ("Sinks", registry.sinks)):
        lines.append(f"{title}:")
        for name, cls in sorted(table.items()):
            lines.append(f"  {name:<14} {cls.description}")
            if with_settings:
                for field_name, info in cls.Settings.model_fields.items():
                    default = "(required)" if info.is_required() else f"= {info.default!r}"
                    lines.append(f"      {field_name} {default}  {info.description or ''}".rstrip())
        if not table:
            lines.append("  (none)")
    if registry.failures:
        lines.append("Failed to load:")
        for key, why in sorted(registry.failures.items()):
            lines.append(f"  {key}: {why}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    registry = discover_plugins()
    print(format_registry(registry, with_settings=args.settings))
    return 1 if registry.failures else 0
