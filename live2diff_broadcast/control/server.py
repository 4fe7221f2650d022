"""A small local control endpoint for Stream Deck, Streamer.bot, scripts: line-based TCP and HTTP
on the same port, 127.0.0.1 only unless the user asks for another address.

TCP: send one command per line (see ``protocol``), get one JSON object per line back::

    $ printf 'style anime\\nstatus\\n' | nc 127.0.0.1 7878

HTTP (for tools that only do web requests): ``GET /style/anime``, ``/next``, ``/prev``,
``/passthrough/on``, ``/rewarm``, ``/status``; the answer is the same JSON object, with status
200 (done), 400 (not a command) or 409 (refused, e.g. an unknown style).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socketserver
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import unquote

from .bus import ControlBus
from .protocol import HELP, CommandError, Query, parse_command

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
_HTTP_VERBS = ("GET ", "POST ", "HEAD ")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class ControlServer:
    """``start()`` binds and serves in a daemon thread; ``stop()`` is idempotent."""

    def __init__(
        self,
        bus: ControlBus,
        status: Callable[[], dict[str, Any]],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        result_timeout_s: float = 2.0,
    ) -> None:
        self.bus, self.status, self.host, self.port = bus, status, host, port
        self.result_timeout_s = result_timeout_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 -> the one the OS chose)."""
        if self._server is None:
            return self.host, self.port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> tuple[str, int]:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30.0  # an idle client is dropped

            def handle(self) -> None:
                owner._serve(self)

        try:
            server = _Server((self.host, self.port), Handler)
        except OSError as exc:
            raise OSError(
                f"control server cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "choose another --control-port, or --no-control-server"
            ) from exc
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="control-server", daemon=True)
        self._thread.start()
        host, port = self.address
        if not _is_loopback(host):
            logger.warning("control server on %s:%d is reachable from other machines: anyone who can reach it "
                           "can switch styles (use --control-host 127.0.0.1 to keep it local)", host, port)
        logger.info("control server listening on %s:%d (try: live2diff-broadcast control --port %d status)", host, port, port)
        return host, port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    # --- one connection --------------------------------------------------------------------------

    def _serve(self, handler: socketserver.StreamRequestHandler) -> None:
        try:
            first = handler.rfile.readline(4096).decode("utf-8", "replace")
            if first.startswith(_HTTP_VERBS):
                self._serve_http(handler, first)
                return
            line = first
            while line:
                if line.strip():
                    _, body = self.execute(line)
                    handler.wfile.write(json.dumps(body).encode() + b"\n")
                    handler.wfile.flush()
                line = handler.rfile.readline(4096).decode("utf-8", "replace")
        except (TimeoutError, ConnectionError):
            pass  # the client went away or idled out

    def _serve_http(self, handler: socketserver.StreamRequestHandler, request_line: str) -> None:
        while handler.rfile.readline(4096).strip():  # headers: not needed
            pass
        parts = request_line.split()
        path = unquote(parts[1] if len(parts) > 1 else "/").split("?", 1)[0].strip("/")
        words = path.split("/", 1)
        status, body = self.execute(" ".join(words) if path else "help")
        data = json.dumps(body).encode() + b"\n"
        reason = {200: "OK", 400: "Bad Request", 409: "Conflict", 503: "Service Unavailable"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        handler.wfile.write(head.encode() + (b"" if request_line.startswith("HEAD ") else data))
        handler.wfile.flush()

    def execute(self, line: str) -> tuple[int, dict[str, Any]]:
        """One command -> (HTTP-like status, JSON body)."""
        try:
            command = parse_command(line, origin="server")
        except CommandError as exc:
            return 400, {"ok": False, "error": str(exc)}
        if isinstance(command, Query):
            if command.what == "help":
                return 200, {"ok": True, "help": HELP}
            return 200, {"ok": True, "status": self.status()}
        future = self.bus.post(command)
        try:
            result = future.result(timeout=self.result_timeout_s)
        except FutureTimeout:
            return 503, {"ok": False, "error": f"no answer from the broadcast within {self.result_timeout_s:.1f} s"}
        body: dict[str, Any] = {"ok": result.ok, "message": result.message}
        if result.style is not None:
            body["style"] = result.style
        if result.passthrough is not None:
            body["passthrough"] = result.passthrough
        return (200 if result.ok else 409), body


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
