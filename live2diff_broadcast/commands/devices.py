"""``devices``: cameras and NDI senders visible now, with the settings that open each one."""

from __future__ import annotations

import argparse
import json
import logging

from ..plugin_api import DeviceQuery, discover_plugins

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "devices",
        help="list cameras and NDI sources you can use as input",
        description="Asks every installed source plugin for the devices it can open (cameras are "
        "probed by index with a timeout; NDI senders are found by mDNS and --extra-ips).",
    )
    p.add_argument("--extra-ips", default="", help="comma-separated hosts to ask for NDI sources (no mDNS)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds each plugin may spend looking (default 2)")
    p.add_argument("--max-index", type=int, default=4, help="probe camera indices 0..N-1 (default 4)")
    p.add_argument("--source", action="append", default=None, help="only ask this source plugin (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.max_index < 0:
        logger.error("--timeout must be > 0 and --max-index >= 0, got %s and %s", args.timeout, args.max_index)
        return 2
    query = DeviceQuery(timeout_s=args.timeout, extra_ips=args.extra_ips, max_index=args.max_index)
    registry = discover_plugins()
    wanted = args.source or sorted(registry.sources)
    status = 0
    listed = 0
    for name in wanted:
        if name not in registry.sources:
            logger.error("no source plugin named %r; installed: %s", name, sorted(registry.sources))
            status = 2
            continue
        try:
            devices = registry.sources[name].list_devices(query)
        except Exception as exc:  # noqa: BLE001 - one plugin's failure must not hide the others' devices
            print(f"{name}: could not list devices: {exc}")
            status = 1
            continue
        if not devices:
            continue
        print(f"{name}:")
        listed += len(devices)
        for device in devices:
            detail = f"  [{device.detail}]" if device.detail else ""
            print(f"  {device.name}{detail}  settings: {json.dumps(device.settings)}")
    if listed == 0:
        print("no devices found" + ("" if args.extra_ips else " (for NDI without mDNS, pass --extra-ips)"))
    return status
