"""Watching a show profile while the show runs: re-validate on every edit, never break the show.

API (no extra dependency; plain polling)::

    watcher = ProfileWatcher(path)              # loads and validates now; ProfileError if invalid
    running = watcher.current                   # the last VALID profile (never an invalid one)

    # between frames / on a timer (cheap: one stat(); the file is read only when it changed)
    result = watcher.poll()                     # None | Profile | ProfileError
    if isinstance(result, Profile):             # valid new content: watcher.current is now it
        changes = diff_profiles(running, result)   # reload.py
        for line in changes.describe(): logger.info("profile: %s", line)
        if changes.restart: ...                 # source / sink / engine / models: restart that stage
        ...                                     # else apply changes.styles_* in place; running = result
    elif isinstance(result, ProfileError):      # show str(result) to the user; watcher.current is unchanged
        ...

    for result in watcher.watch(interval_s=0.5, stop=stop_event): ...   # the same, as a blocking iterator

Change detection: the file's (mtime_ns, size) is compared on each poll; when it differs (or the
last read was within ``RACY_S`` of the mtime, so a same-size rewrite in the same clock tick is not
missed) the bytes are read and hashed (SHA-256), and only new content is validated, from those
exact bytes. Each distinct content is reported once: an invalid save gives one ProfileError, not
one per poll; a touch or a save of identical bytes gives nothing. A file that disappears gives one
ProfileError (the show keeps its profile); when it comes back it is validated again. A valid
profile is returned whenever the content changes to valid content, even if it equals the running
one (so a UI can clear a shown error): ``diff_profiles`` then reports nothing to do.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..plugin_api import PluginRegistry, discover_plugins
from .schema import Profile, ProfileError, parse_profile, read_profile_bytes

logger = logging.getLogger(__name__)

RACY_S = 2.0  # a file modified this close to our last read is re-hashed even if its stat looks the same



@dataclass(frozen=True)
class _Seen:
    stat: tuple[int, int] | None  # (mtime_ns, size); None: the file was missing / unreadable
    digest: str | None
    read_at_ns: int  # wall clock (time.time_ns) of the read: compared with the file's mtime only


class ProfileWatcher:
    """Polls one profile file; ``current`` is always the last valid profile."""

    def __init__(
        self,
        path: str | Path,
        profile: Profile | None = None,
        registry: PluginRegistry | None = None,
        check_plugins: bool = True,
    ) -> None:
        """Read the file now. ``profile``: the running one (else the file is validated now, raising
        ProfileError if invalid). Plugin settings are checked against ``registry`` (discovered once)."""
        self.path = Path(path)
        self.check_plugins = check_plugins
        self.registry = registry if registry is not None or not check_plugins else discover_plugins()
        raw = read_profile_bytes(self.path)
        self.current = profile if profile is not None else self._parse(raw)
        self._seen = _Seen(self._stat(), _digest(raw), time.time_ns())
        self._lock = threading.Lock()  # poll (the watch thread) against expect (the show's own save)

    def poll(self) -> Profile | ProfileError | None:
        """One check: None (no new content), the new valid Profile, or why the new content is invalid."""
        with self._lock:
            return self._poll()

    def _poll(self) -> Profile | ProfileError | None:
        stat = self._stat()
        if stat == self._seen.stat and not self._racy(stat):
            return None
        read_at = time.time_ns()
        try:
            raw = read_profile_bytes(self.path)
        except ProfileError as exc:
            previous, self._seen = self._seen, _Seen(None, None, read_at)
            return exc if previous.digest is not None else None  # report a vanished file once
        digest = _digest(raw)
        previous, self._seen = self._seen, _Seen(stat, digest, read_at)
        if digest == previous.digest:
            return None
        try:
            profile = self._parse(raw)
        except ProfileError as exc:
            logger.warning("profile %s changed but is invalid; keeping the running profile:\n%s", self.path, exc)
            return exc
        self.current = profile
        logger.info("profile %s changed and is valid", self.path)
        return profile

    @contextmanager
    def own_write(self, raw: bytes, profile: Profile) -> Iterator[None]:
        """The show itself writes ``raw`` inside this block (``config/save.py``): no poll runs meanwhile (it
        would see the old file as new), and afterwards ``raw`` counts as seen, so the save is not reported
        back as an edit (the show already runs it). Any later different content is. A failed write
        (an exception in the block) changes nothing."""
        with self._lock:
            yield
            self.current = profile
            self._seen = _Seen(None, _digest(raw), time.time_ns())

    def watch(self, interval_s: float = 0.5, stop: threading.Event | None = None) -> Iterator[Profile | ProfileError]:
        """``poll`` every ``interval_s`` until ``stop`` is set, yielding each result that is not None."""
        stop = stop or threading.Event()
        while not stop.is_set():
            result = self.poll()
            if result is not None:
                yield result
            stop.wait(interval_s)

    def _parse(self, raw: bytes) -> Profile:
        return parse_profile(raw, self.path, self.registry, self.check_plugins)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _racy(self, stat: tuple[int, int] | None) -> bool:
        return stat is not None and stat[0] >= self._seen.read_at_ns - int(RACY_S * 1e9)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- what changed ---------------------------------------------------------------------------------
