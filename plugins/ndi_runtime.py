"""The NDI runtime (ndi-python), shared by the NDI source and sink: initialised once per user, found lazily."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import ModuleType

from live2diff_broadcast.plugin_api import PluginError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_users = 0


def acquire(plugin: str) -> ModuleType:
    """Import NDIlib and initialise it (counted); raise PluginError naming ``plugin`` if unavailable."""
    global _users
    try:
        import NDIlib as ndi  # noqa: N813 - the binding's own name
    except ImportError as exc:
        raise PluginError(
            f"{plugin}: the NDI binding is not installed ({exc}); install it with "
            "`pip install 'live2diff-broadcast[ndi]'` (ndi-python bundles the NDI runtime)"
        ) from None
    with _lock:
        if _users == 0 and not ndi.initialize():
            raise PluginError(f"{plugin}: the NDI runtime failed to initialise (this CPU may be unsupported)")
        _users += 1
    return ndi


def release() -> None:
    """Drop one user; the runtime stays loaded (NDI cannot be safely re-initialised in one process)."""
    global _users
    with _lock:
        _users = max(0, _users - 1)


@dataclass(frozen=True)
class FoundSource:
    name: str  # full NDI name, "HOST (Name)"
    url_address: str  # "IP:PORT" to connect to directly


def find_sources(ndi: ModuleType, extra_ips: str, timeout: float, wanted: str | None = None) -> list[FoundSource]:
    """NDI sources visible within ``timeout`` s (mDNS plus ``extra_ips``); returns early once ``wanted`` shows.

    Names are copied out before the finder is destroyed (its source records die with it).
    """
    create = ndi.FindCreate()
    create.show_local_sources = True
    if extra_ips:
        create.extra_ips = extra_ips
    finder = ndi.find_create_v2(create)
    if finder is None:
        raise PluginError("NDI: could not create a source finder")
    try:
        deadline = time.monotonic() + timeout
        sources: list[FoundSource] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return sources
            ndi.find_wait_for_sources(finder, int(min(remaining, 0.2) * 1000))
            sources = [FoundSource(str(s.ndi_name), str(s.url_address or "")) for s in ndi.find_get_current_sources(finder)]
            if wanted is not None and any(matches(s.name, wanted) for s in sources):
                return sources
    finally:
        ndi.find_destroy(finder)


def matches(full_name: str, wanted: str) -> bool:
    """NDI names read "HOST (Name)": match the full name, or just the part in brackets."""
    if full_name == wanted:
        return True
    return full_name.endswith(")") and "(" in full_name and full_name[full_name.index("(") + 1 : -1] == wanted
