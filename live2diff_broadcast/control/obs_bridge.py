"""OBS as a control input: the program scene picks the style (obs-websocket 5, obsws-python).

On connect and on every ``CurrentProgramSceneChanged`` the scene is looked up in ``[obs.scenes]``
(config/obs.py): a style name posts ``SelectStyle``, "passthrough" posts passthrough on (and the
next mapped scene turns it off again); a scene not in the table leaves the style as it is (said
once per scene). An optional Text source shows the style on air (``StyleApplied``).

OBS may be closed, restarted or never started: the bridge runs on its own thread, says what is
wrong ONCE as a warning with the fix (nothing listening, no answer, not obs-websocket, a wrong
or missing password), retries with backoff up to ``reconnect_max_s``, and never stops the show.
The password comes from ``LIVE2DIFF_OBS_PASSWORD``, never from the profile.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from ..config.obs import PASSTHROUGH, PASSWORD_ENV, ObsSection
from ..media.backoff import Backoff
from .actions import Event, SelectStyle, StyleApplied, TogglePassthrough
from .bus import ControlBus

logger = logging.getLogger(__name__)

ORIGIN = "obs"


class ObsUnavailable(Exception):  # noqa: N818 - a state, reported once, not a crash
    """Why the bridge cannot talk to OBS right now; ``kind`` groups repeats of the same reason."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ObsBridge:
    """Follows OBS's program scene; ``start``/``stop`` like the other controls."""

    def __init__(
        self,
        bus: ControlBus,
        settings: Callable[[], ObsSection],
        password: str = "",
        current_style: Callable[[], str] = lambda: "",
    ) -> None:
        self.bus, self._settings, self._password, self._current_style = bus, settings, password, current_style
        s = settings()
        self.address = f"{s.host}:{s.port}"
        self._backoff = Backoff(0.5, s.reconnect_max_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._reported: str | None = None  # the kind of the last problem warned about
        self._unmapped_said: set[str] = set()
        self._passthrough_ours = False  # passthrough was turned on by an OBS scene
        self._text: str | None = None  # text waiting to be shown in the text source
        self._text_warned = False
        self.connected = threading.Event()
        self.scene: str | None = None  # the program scene last seen

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            import obsws_python  # noqa: F401
        except ImportError:
            logger.warning("[obs] is enabled but obsws-python is not installed: pip install "
                           "'live2diff-broadcast[obs]'; the other controls still work")
            return
        # obsws-python logs the password at INFO and a traceback per refused connection: we say it ourselves
        logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
        self._unsubscribe = self.bus.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._run, name="obs-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # --- the bridge thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except ObsUnavailable as exc:
                self._report(exc)
            except Exception as exc:  # noqa: BLE001 - any library surprise: report, retry, never crash
                self._report(ObsUnavailable("error", f"OBS connection at {self.address} failed: "
                                            f"{type(exc).__name__}: {exc}"))
            self.connected.clear()
            self._stop.wait(self._backoff.next())

    def _session(self) -> None:
        """Connect, follow the scene until OBS goes away (returns) or the bridge stops."""
        req, events = self._connect()
        try:
            version = req.get_version()
            self._backoff.reset()
            self._reported = None
            logger.info("connected to OBS %s (obs-websocket %s) at %s: following its program scene",
                        version.obs_version, version.obs_web_socket_version, self.address)
            self._check_scene_names(req)
            self._text = self._current_style() or None
            self.connected.set()
            self._on_scene(req.get_current_program_scene().current_program_scene_name)
            while not self._stop.is_set():
                self._flush_text(req)
                if not events.worker.is_alive():  # OBS closed the connection (quit, crash, restart)
                    raise ObsUnavailable("lost", f"lost the connection to OBS at {self.address}; reconnecting")
                self._wake.wait(0.5)
                self._wake.clear()
        finally:
            for client in (events, req):
                try:
                    client.disconnect()
                except Exception:  # noqa: BLE001 - the socket may already be gone
                    pass

    def _connect(self) -> tuple[Any, Any]:
        import obsws_python as obs
        from obsws_python.error import OBSSDKError
        from websocket import WebSocketException

        s = self._settings()
        kwargs = dict(host=s.host, port=s.port, password=self._password, timeout=s.connect_timeout_s)
        try:
            req = obs.ReqClient(**kwargs)
        except ConnectionRefusedError:
            raise ObsUnavailable("refused", f"OBS is not reachable at {self.address} (connection refused): start OBS "
                                 "and enable Tools > WebSocket Server Settings > Enable WebSocket server, or fix "
                                 "[obs] host/port; retrying in the background") from None
        except (TimeoutError, OSError) as exc:
            raise ObsUnavailable("timeout", f"OBS at {self.address} did not answer within {s.connect_timeout_s:g} s "
                                 f"({type(exc).__name__}: {exc}); retrying in the background") from None
        except OBSSDKError as exc:
            raise self._auth_problem(exc) from None
        except (WebSocketException, ValueError) as exc:
            raise ObsUnavailable("not-obs", f"{self.address} answered but is not obs-websocket 5 "
                                 f"({type(exc).__name__}: {exc}): is another program using that port? "
                                 "Check [obs] port against OBS's WebSocket Server Settings") from None
        try:
            events = obs.EventClient(subs=obs.Subs.SCENES, **kwargs)
        except Exception:
            req.disconnect()
            raise
        events.callback.register(self._make_scene_callback())
        return req, events

    def _auth_problem(self, exc: Exception) -> ObsUnavailable:
        if "no password" in str(exc):
            return ObsUnavailable("no-password", f"OBS at {self.address} requires a password: set the environment "
                                  f"variable {PASSWORD_ENV} to OBS's WebSocket Server password")
        if self._password:
            return ObsUnavailable("password", f"OBS at {self.address} refused the password in {PASSWORD_ENV}: copy "
                                  "it again from OBS's Tools > WebSocket Server Settings > Show Connect Info")
        return ObsUnavailable("identify", f"OBS at {self.address} refused the connection: {exc}")

    def _report(self, exc: ObsUnavailable) -> None:
        """Warn once per kind of problem; repeats of the same one are debug lines."""
        if exc.kind != self._reported:
            logger.warning("%s", exc)
            self._reported = exc.kind
        else:
            logger.debug("%s", exc)

    # --- scenes -> actions -----------------------------------------------------------------------

    def _make_scene_callback(self) -> Callable[[Any], None]:
        def on_current_program_scene_changed(data: Any) -> None:  # obsws-python dispatches by this name
            self._on_scene(data.scene_name)

        return on_current_program_scene_changed

    def _on_scene(self, scene: str) -> None:
        self.scene = scene
        target = self._settings().scenes.get(scene)
        if target is None:
            if scene not in self._unmapped_said:
                self._unmapped_said.add(scene)
                logger.info("OBS scene %r is not in [obs.scenes]: the style stays as it is", scene)
            return
        if target == PASSTHROUGH:
            logger.info("OBS scene %r: passthrough on", scene)
            self._passthrough_ours = True
            self.bus.post(TogglePassthrough(on=True, origin=ORIGIN))
            return
        logger.info("OBS scene %r: style %r", scene, target)
        if self._passthrough_ours:
            self._passthrough_ours = False
            self.bus.post(TogglePassthrough(on=False, origin=ORIGIN))
        self.bus.post(SelectStyle(target, origin=ORIGIN))

    def _check_scene_names(self, req: Any) -> None:
        names = [s["sceneName"] for s in req.get_scene_list().scenes]
        for scene in self._settings().scenes:
            if scene not in names:
                logger.warning("[obs.scenes] names scene %r, which OBS does not have (its scenes: %s); check the "
                               "spelling (names are case-sensitive)", scene, ", ".join(names))

    # --- the style on air -> the text source -------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StyleApplied):
            self._text = event.style
            self._wake.set()

    def _flush_text(self, req: Any) -> None:
        s = self._settings()
        style, self._text = self._text, None
        if s.text_source is None or style is None:
            return
        try:
            req.set_input_settings(s.text_source, {"text": s.text_format.format(style=style)}, True)
        except Exception as exc:  # noqa: BLE001 - a missing text source must not end the session
            if not self._text_warned:
                self._text_warned = True
                logger.warning("cannot show the style in OBS text source %r (%s): create a Text source with that "
                               "name, or unset [obs] text_source", s.text_source, exc)


def start_obs_bridge(bus: ControlBus, settings: Callable[[], ObsSection], current_style: Callable[[], str]) -> ObsBridge:
    """The bridge for ``run``: ``settings`` reads the live profile's [obs] (a saved profile's new scene
    table applies at the next scene change), the password comes from the environment."""
    bridge = ObsBridge(bus, settings, password=os.environ.get(PASSWORD_ENV, ""), current_style=current_style)
    bridge.start()
    return bridge
