"""[hotkeys] and [control]: the action hotkeys and the local control port."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from ..addresses import is_loopback
from ..hotkeys import Hotkey
from .base import Section

_HOST_NAME = re.compile(r"[A-Za-z0-9._-]{1,253}")


def _host_name(name: str) -> bool:
    """A DNS name or an IPv4 address, or an IPv6 address (brackets optional); no scheme, port or wildcard."""
    if ":" in name:
        try:
            return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).version == 6
        except ValueError:
            return False
    return bool(_HOST_NAME.fullmatch(name)) and name != "0.0.0.0"


class HotkeysSection(Section):
    """Hotkeys for actions (a style's own hotkey selects that style); unset = no hotkey."""

    next_style: Hotkey | None = None  # the next style in the profile's order (wraps around)
    previous_style: Hotkey | None = None
    passthrough: Hotkey | None = None  # toggle: show the source as is instead of the AI output
    rewarm: Hotkey | None = None  # re-warm the current style on the recent frames (after a scene cut)


class ControlSection(Section):
    """The local control port (dock page, /status, POST commands): this machine only unless host says otherwise."""

    host: str = Field(default="127.0.0.1", min_length=1)  # "0.0.0.0" opens it to the network: needs allowed_hosts
    port: int = Field(default=7878, ge=0, le=65535)  # 0: any free port (logged)
    # Remote mode (host not loopback): the names other machines use to reach this one, e.g.
    # ["192.168.1.20", "stream-pc.local"]; a request naming any other Host is refused (DNS rebinding, spoofing).
    allowed_hosts: list[str] = Field(default_factory=list, max_length=32)
    # A user-only file that keeps the token across runs (created when missing), so a pasted OBS dock URL keeps
    # working; unset: a new token every run. Delete the file to rotate the token.
    token_file: str | None = Field(default=None, min_length=1)

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _host_name(name) or name.strip("[]") == "::":
                raise ValueError(f"{name!r} is not a host name or address (no scheme, port or wildcard), "
                                 "e.g. \"192.168.1.20\" or \"stream-pc.local\"")
        return names

    @model_validator(mode="after")
    def _remote_needs_allowed_hosts(self) -> ControlSection:
        if not is_loopback(self.host) and not self.allowed_hosts:
            raise ValueError(f"host = {self.host!r} opens the control port to the network; list the names other "
                             "machines use to reach this one in allowed_hosts, e.g. allowed_hosts = "
                             "[\"192.168.1.20\", \"stream-pc.local\"] (every request then needs the token)")
        return self
