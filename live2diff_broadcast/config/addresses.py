"""Whether a bind address keeps a listener on this machine: the profile's [control] check (remote mode needs
allowed_hosts), the control server, its Host guard and OSC. In config, the lowest layer that needs it."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback IPs (127.0.0.0/8, ::1); False for anything else, names included."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
