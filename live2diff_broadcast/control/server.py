"""The local control port: HTTP + WebSocket (``app.py``) served by uvicorn in a background thread.

127.0.0.1 only unless the profile's ``control.host`` says otherwise (then a loud warning). One
port serves the OBS dock page (``GET /``), ``/status``, POST commands and the dock's WebSocket;
see ``app.py`` for the routes and ``guard.py`` for who may use them.

The old line-based TCP protocol on the same port is gone: it could not carry a token or an
Origin check without growing its own framing and auth, and every tool it served (Stream Deck,
Streamer.bot, scripts, the ``control`` command) can send an HTTP POST with a header.

Bounds (a flood must not take the show down): request heads are capped by h11 (16 KiB), bodies
by the app (16 KiB), WebSocket messages at 64 KiB, at most 512 connections at once (more get
503), idle keep-alive connections are closed after 5 s. The server runs its own event loop in
a daemon thread; ``stop()`` shuts it down within ~2 s and removes the token file.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from .app import ControlApp
from .bus import ControlBus
from .guard import allowed_hosts
from .loopback import is_loopback
from .preview import PreviewFeeds
from .token import new_token, remove_token, write_token

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
MAX_CONNECTIONS = 512
WS_MAX_BYTES = 64 * 1024


def _no_controls() -> dict[str, Any]:
    return {}


class _Throttle(logging.Filter):
    """uvicorn logs every malformed request ("Invalid HTTP request received."): one per message per 10 s."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s, self._last = every_s, dict[str, float]()

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), str(record.msg)
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return False
        self._last[key] = now
        return True


_uvicorn_log = logging.getLogger("uvicorn.error")
_uvicorn_log.addFilter(_Throttle())
_uvicorn_log.setLevel(logging.WARNING)  # its INFO lines (started, shutting down) would repeat ours


class ControlServer:
    """``start()`` binds (OSError naming the port when it cannot) and serves; ``stop()`` is idempotent."""

    def __init__(
        self,
        bus: ControlBus,
        status: Callable[[], dict[str, Any]],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        result_timeout_s: float = 2.0,
        controls: Callable[[], dict[str, Any]] = _no_controls,
        token: str | None = None,
        port_field: str = "control.port",
        preview: PreviewFeeds | None = None,
    ) -> None:
        self.bus, self.status, self.host, self.port = bus, status, host, port
        self.token = token or new_token()
        self.port_field = port_field
        self.token_file: Path | None = None
        self._bound_port = port
        self.app = ControlApp(bus, status, controls, self.token, lambda: allowed_hosts(self.host, self._bound_port),
                              result_timeout_s, preview=preview)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 -> the one the OS chose)."""
        return self.host, self._bound_port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self._bound_port}/"

    def start(self) -> tuple[str, int]:
        sock = self._bind()
        self._bound_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app.asgi, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio",
            ws_max_size=WS_MAX_BYTES, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5,
            timeout_graceful_shutdown=1, server_header=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=self._serve, args=(server, sock), name="control-server", daemon=True)
        self._thread.start()
        for _ in range(500):  # up to 5 s for the loop to start
            if server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            self.stop()
            raise OSError(f"control server on {self.host}:{self._bound_port} did not start (see the log above)")
        self._unsubscribe = self.bus.subscribe(self.app.changed)
        self.token_file = write_token(self.token, self._bound_port)
        host, port = self.address
        if not is_loopback(host):
            logger.warning("!!! control server on %s:%d is reachable from OTHER MACHINES (profile control.host): anyone "
                           "who can reach it and has the token can switch styles; set control.host = \"127.0.0.1\" "
                           "to keep it local !!!", host, port)
        logger.info("control server: %s (OBS dock: Docks > Custom Browser Docks, this URL); token in %s "
                    "(try: live2diff-broadcast control --port %d status)", self.url, self.token_file, port)
        return host, port

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old sockets linger
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(
                f"control server cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); another program "
                f"(or another `run`) uses it: set another {self.port_field} in the profile (or --control-port)"
            ) from exc
        sock.setblocking(False)
        return sock

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except Exception:
            logger.exception("control server stopped with an error; the show goes on without it")
        finally:
            sock.close()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        server, self._server = self._server, None
        if server is not None:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                logger.warning("control server thread did not stop within 5 s")
            self._thread = None
        if self.token_file is not None:
            remove_token(self.token_file)
            self.token_file = None
