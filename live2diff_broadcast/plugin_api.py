"""The plugin interface: sources pull frames in, sinks publish them.

Built-in plugins (``plugins/``) register exactly as a third-party package would, through
entry points in the groups below::

    [project.entry-points."live2diff_broadcast.sources"]
    my_source = "my_package.module:MySource"

Lifecycle: ``create`` (constructor, settings validated) -> ``open`` -> ``read``/``write`` ... ->
``close(reason)`` (idempotent). Settings are a pydantic model declared on the class, with
defaults; unknown settings are rejected at creation, never at the first frame.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from .media.frames import Frame

logger = logging.getLogger(__name__)

SOURCE_GROUP = "live2diff_broadcast.sources"
SINK_GROUP = "live2diff_broadcast.sinks"


class PluginSettings(BaseModel):
    """Base for a plugin's declared settings: typed, defaulted, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid")


class PluginError(RuntimeError):
    """A plugin could not be created, opened or used; the message names the plugin."""


class EndOfStream(Exception):  # noqa: N818 - named for what it signals, like aiortc's MediaStreamError
    """Raised by ``Source.read`` when a finite source (a file played once) has no more frames."""


@dataclass(frozen=True)
class DeviceQuery:
    """What ``Source.list_devices`` may look at; every field has a quick, safe default."""

    timeout_s: float = 2.0  # the longest one plugin may spend looking
    extra_ips: str = ""  # comma-separated hosts to ask directly (networks without mDNS)
    max_index: int = 4  # for indexed devices (cameras): probe indices 0..max_index-1


@dataclass(frozen=True)
class DeviceInfo:
    """One device a source can open: ``settings`` are what to pass to ``create`` to open it."""

    name: str
    settings: dict[str, Any]
    detail: str = ""


class _Plugin(ABC):  # noqa: B024 - the shared base of Source and Sink; they declare the abstract methods
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Settings: ClassVar[type[PluginSettings]] = PluginSettings

    def __init__(self, settings: PluginSettings) -> None:
        self.settings = settings
        self._closed = False

    @classmethod
    def create(cls, settings: dict[str, Any] | None = None) -> Self:
        """Validate ``settings`` against ``Settings`` and construct the plugin."""
        try:
            parsed = cls.Settings(**(settings or {}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise PluginError(f"plugin {cls.name!r}: invalid settings: {problems}") from None
        return cls(parsed)

    def close(self, reason: str = "stopped") -> None:
        """Release the device or connection. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        logger.info("%s %r closed: %s", type(self).__name__, self.name, reason)
        self._close()

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Override to release resources; called once by ``close``."""


class Source(_Plugin):
    """Pulls frames from a camera, a network stream, a file or a generator."""

    # When ``open`` fails at the start of a show: True, keep retrying with backoff (NO SIGNAL meanwhile: a
    # camera being plugged in, an NDI sender starting later); False, stop the start with the error (a file
    # that is missing or unreadable will not fix itself). The profile's [source] on_open_failure overrides it.
    retry_open: ClassVar[bool] = True

    @abstractmethod
    def open(self) -> None:
        """Connect to the device; raise PluginError with a clear message if it is not there."""

    @abstractmethod
    def read(self, timeout: float) -> Frame | None:
        """The next frame, stamped with ``now_ns()`` at ingest; None if none came within ``timeout`` s.

        Raises EndOfStream when a finite source has nothing more to give.
        """

    @property
    def fps(self) -> float:
        """Nominal frame rate (used to pace sinks)."""
        return 30.0

    @classmethod
    def list_devices(cls, query: DeviceQuery) -> list[DeviceInfo]:
        """Devices this source can open right now (cameras, network senders); none by default."""
        return []


class Sink(_Plugin):
    """Publishes frames: a virtual camera, an NDI source, a file, a preview."""

    @abstractmethod
    def open(self, width: int, height: int, fps: float) -> None:
        """Prepare to receive frames of this size and rate; raise PluginError if refused."""

    @abstractmethod
    def write(self, frame: Frame) -> None:
        """Publish one frame (any size: the sink scales to its own resolution)."""

    @property
    def detail(self) -> str:
        """What the sink is really doing, for the status (e.g. the codec a stream sink sends); "" = its name."""
        return ""

    @property
    def dropped(self) -> int:
        """Frames ``write`` took but never published (a latest-frame-wins sender thread replaced them)."""
        return 0


@dataclass
class PluginRegistry:
    sources: dict[str, type[Source]] = field(default_factory=dict)
    sinks: dict[str, type[Sink]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # "group:name" -> why it failed to load

    def source(self, name: str) -> type[Source]:
        return self._get(self.sources, name, "source", SOURCE_GROUP)

    def sink(self, name: str) -> type[Sink]:
        return self._get(self.sinks, name, "sink", SINK_GROUP)

    def _get(self, table: dict[str, Any], name: str, kind: str, group: str) -> Any:
        if name in table:
            return table[name]
        failure = self.failures.get(f"{group}:{name}")
        if failure is not None:
            raise PluginError(f"{kind} plugin {name!r} is installed but failed to load: {failure}")
        raise PluginError(f"no {kind} plugin named {name!r}; installed: {sorted(table)}")


def discover_plugins() -> PluginRegistry:
    """One pass over the entry points; a plugin that fails to import is recorded, not fatal."""
    registry = PluginRegistry()
    tables: tuple[tuple[str, dict[str, Any], type[_Plugin]], ...] = (
        (SOURCE_GROUP, registry.sources, Source),
        (SINK_GROUP, registry.sinks, Sink),
    )
    for group, table, base in tables:
        for ep in entry_points(group=group):
            try:
                cls = ep.load()
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise TypeError(f"{ep.value} is not a {base.__name__} subclass")
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not break the others
                logger.warning("plugin %s:%s failed to load: %s", group, ep.name, exc, exc_info=True)
                registry.failures[f"{group}:{ep.name}"] = f"{type(exc).__name__}: {exc}"
                continue
            table[ep.name] = cls
    return registry
