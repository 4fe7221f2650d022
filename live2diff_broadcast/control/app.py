"""The control port's web app (Starlette): the OBS dock page, a read-only status, POST commands, a WebSocket.

Why Starlette (+ uvicorn, see ``server.py``): HTTP and WebSocket in one small, well-kept ASGI
toolkit (no template engine, ORM or validation layer we would not use), async so one thread serves
every open dock and pushes state to each without a thread per client, and a TestClient for tests.
aiohttp would do as well but brings its own server and client; FastAPI adds pydantic schemas we
do not need for five routes.

Routes (every request passes ``guard.check_origin``: right Host, same Origin or none)::

    GET  /            the dock page (token embedded: only our own origin can load and read it)
    GET  /status      telemetry + styles as JSON; read-only, no token (see below)
    GET  /help        the command list
    POST /command     {"command": "style anime"} (JSON) or the line as text/plain      } token
    POST /style/anime, /next, /prev, /passthrough/on, /rewarm  (path words = the command) } needed
    GET  /preview/output.jpg, /preview/input.jpg   the newest frame as a small JPEG        } token
    WS   /ws          first message {"token": T}; then {"command": "...", "id": N} -> result;
                      the server pushes {"type": "state", ...} on every change and at 4 Hz;
                      {"preview": ["output", "input"]} asks for live pictures, [] stops them
                      (``preview.py``: pushed as {"type": "preview", ...} while asked for)

Every command line goes through ``protocol.parse_command``, so a new command works on every
surface at once. ``/status`` needs no token: it changes nothing, a page of another site cannot
read it (no CORS headers; a rebinding Host is refused), and local programs can see the same
numbers in the terminal anyway; monitoring tools can read it without the secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .bus import ControlBus
from .guard import Refusal, check_origin, check_token, request_token
from .preview import PreviewBroadcaster, PreviewFeeds
from .protocol import HELP, CommandError, Query, parse_command

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # a command is a line; anything bigger is refused unread (413)
PUSH_INTERVAL_S = 0.25  # state pushed to docks at most 4 times a second, plus on every change
TOKEN_WAIT_S = 5.0
READ_ONLY = ("/", "/status", "/help")

StatusFn = Callable[[], dict[str, Any]]
ControlsFn = Callable[[], dict[str, Any]]


class ControlApp:
    """The ASGI app (``self.asgi``) and what it needs: the bus, status, the token, our Host names."""

    def __init__(self, bus: ControlBus, status: StatusFn, controls: ControlsFn, token: str,
                 hosts: Callable[[], frozenset[str]], result_timeout_s: float = 2.0,
                 preview: PreviewFeeds | None = None) -> None:
        self.bus, self.status, self.controls, self.token, self.hosts = bus, status, controls, token, hosts
        self.result_timeout_s = result_timeout_s
        self.preview = PreviewBroadcaster(preview) if preview is not None else None
        self._page = resources.files(__package__).joinpath("dock.html").read_text(encoding="utf-8")
        self._wakers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.asgi = Starlette(routes=[
            Route("/", self.page, methods=["GET", "HEAD"]),
            WebSocketRoute("/ws", self.websocket),
            Route("/{path:path}", self.http, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        ])

    # --- commands ----------------------------------------------------------------------------------

    async def execute(self, line: str) -> tuple[int, dict[str, Any]]:
        """One command line -> (HTTP status, JSON body): 200 done, 400 not a command, 409 refused, 503 no answer."""
        try:
            command = parse_command(line, origin="server")
        except CommandError as exc:
            return 400, {"ok": False, "error": str(exc)}
        if isinstance(command, Query):
            return (200, {"ok": True, "help": HELP}) if command.what == "help" else (200, {"ok": True, "status": self.status()})
        future = self.bus.post(command)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.result_timeout_s)
        except TimeoutError:
            return 503, {"ok": False, "error": f"no answer from the broadcast within {self.result_timeout_s:.1f} s"}
        self.changed()
        body: dict[str, Any] = {"ok": result.ok, "message": result.message}
        if result.style is not None:
            body["style"] = result.style
        if result.passthrough is not None:
            body["passthrough"] = result.passthrough
        return (200 if result.ok else 409), body

    def changed(self, _event: object = None) -> None:
        """Something changed (a bus event, a command): wake every dock's push loop. Any thread."""
        for loop, event in list(self._wakers):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed: the server stopped
                self._wakers.discard((loop, event))

    def state(self) -> dict[str, Any]:
        feeds = list(self.preview.feeds.names) if self.preview is not None else []
        return {"type": "state", "status": self.status(), "controls": self.controls(), "preview": feeds}

    # --- HTTP --------------------------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        refusal = check_origin(request.headers, self.hosts())
        return None if refusal is None else _refuse(refusal)

    async def page(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        nonce = secrets.token_urlsafe(16)
        config = json.dumps({"token": self.token, "ws": "/ws"}).replace("<", "\\u003c")
        html = self._page.replace("__CONFIG__", config).replace("__NONCE__", nonce)
        return HTMLResponse(html, headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                                       "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                       "base-uri 'none'; form-action 'none'",
            "X-Frame-Options": "DENY",  # no other page may frame the dock and trick clicks
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        })

    async def http(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        path = request.url.path
        if path.startswith("/preview/"):
            return await self._preview_picture(request, path)
        if request.method in ("GET", "HEAD"):
            if path == "/status":
                return _json(200, {"ok": True, "status": self.status()})
            if path == "/help":
                return _json(200, {"ok": True, "help": HELP})
            return _json(405, {"ok": False, "error": f"{request.method} {path}: commands change the show and are "
                                                     "POST only (with the control token); GET serves /, /status, /help"},
                         headers={"Allow": "POST"})
        if request.method != "POST":
            return _json(405, {"ok": False, "error": f"{request.method} is not supported; use POST"}, headers={"Allow": "POST"})
        if (refusal := check_token(request_token(request.headers), self.token)) is not None:
            return _refuse(refusal)
        line = await self._command_line(request, path)
        if isinstance(line, Response):
            return line
        status, body = await self.execute(line)
        return _json(status, body)

    async def _preview_picture(self, request: Request, path: str) -> Response:
        """GET /preview/FEED.jpg: the newest frame of FEED as a JPEG; it shows the show, so it needs the token."""
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"ok": False, "error": f"{request.method} {path}: GET only"}, headers={"Allow": "GET"})
        if (refusal := check_token(request_token(request.headers), self.token)) is not None:
            return _refuse(refusal)
        feed = path.removeprefix("/preview/").removesuffix(".jpg")
        names = self.preview.feeds.names if self.preview is not None else ()
        if feed not in names or not path.endswith(".jpg"):
            return _json(404, {"ok": False, "error": f"no preview {path}; pictures: "
                                                     + ", ".join(f"/preview/{n}.jpg" for n in names)})
        assert self.preview is not None
        frame = await asyncio.to_thread(self.preview.feeds.encode, feed)
        if frame is None:
            return _json(503, {"ok": False, "error": f"no {feed} frame yet"})
        return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _command_line(self, request: Request, path: str) -> str | Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            return _json(413, {"ok": False, "error": f"request body over {MAX_BODY} bytes (or unreadable Content-Length)"})
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                return _json(413, {"ok": False, "error": f"request body over {MAX_BODY} bytes"})
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _json(400, {"ok": False, "error": f"request body is not UTF-8 ({exc.reason} at byte {exc.start})"})
        if path.strip("/") != "command":
            return " ".join(path.strip("/").split("/", 1))  # /style/oil painting -> "style oil painting"
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                payload = json.loads(text)
            except json.JSONDecodeError as exc:
                return _json(400, {"ok": False, "error": f"body is not JSON: {exc}"})
            if not isinstance(payload, dict) or not isinstance(payload.get("command"), str):
                return _json(400, {"ok": False, "error": 'expected a JSON object {"command": "style NAME"}'})
            return str(payload["command"])
        return text

    # --- WebSocket ---------------------------------------------------------------------------------

    async def websocket(self, ws: WebSocket) -> None:
        refusal = check_origin(ws.headers, self.hosts())
        if refusal is not None:
            _refuse(refusal)  # logged (throttled); the handshake itself is refused below
            await ws.close(code=1008, reason=refusal.reason[:120])  # before accept: the handshake gets 403
            return
        await ws.accept()
        try:
            first = await asyncio.wait_for(ws.receive_text(), TOKEN_WAIT_S)
            given = _field(first, "token")
        except (TimeoutError, WebSocketDisconnect):
            given = None
        if (token_refusal := check_token(given, self.token)) is not None:
            await ws.send_json({"type": "error", "error": token_refusal.reason})
            await ws.close(code=1008)
            return
        await self._session(ws)

    async def _session(self, ws: WebSocket) -> None:
        wake = asyncio.Event()
        waker = (asyncio.get_running_loop(), wake)
        self._wakers.add(waker)
        lock = asyncio.Lock()
        pusher = asyncio.create_task(self._push(ws, wake, lock))

        async def send(data: dict[str, Any]) -> bool:  # the preview's pictures, between the pushes and replies
            async with lock:
                try:
                    await ws.send_text(json.dumps(data))
                    return True
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return False

        try:
            while True:
                message = await ws.receive_text()
                command, ident = _field(message, "command"), _field(message, "id", any_type=True)
                feeds = _field(message, "preview", any_type=True)
                reply: dict[str, Any]
                if feeds is not None:
                    reply = self._watch(id(ws), feeds, send)
                elif command is None:
                    reply = {"ok": False, "error": 'expected {"command": "style NAME", "id": N}'}
                else:
                    reply = (await self.execute(command))[1]
                async with lock:
                    await ws.send_json({"type": "result", "id": ident, **reply})
                wake.set()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._wakers.discard(waker)
            pusher.cancel()
            if self.preview is not None:
                self.preview.forget(id(ws))

    def _watch(self, key: int, feeds: Any, send: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """A dock's {"preview": [feeds]}: start / change / stop its pictures (``preview.py``)."""
        if self.preview is None:
            return {"ok": False, "error": "this control port has no preview"}
        if not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds) or len(feeds) > 2:
            return {"ok": False, "error": 'expected {"preview": ["output"]}, ["output", "input"] or [] (off)'}
        error = self.preview.watch(key, feeds, send)
        if error is not None:
            return {"ok": False, "error": error}
        return {"ok": True, "message": f"preview: {', '.join(feeds) or 'off'}"}

    async def _push(self, ws: WebSocket, wake: asyncio.Event, lock: asyncio.Lock) -> None:
        last = ""
        try:
            while True:
                text = json.dumps(self.state(), default=str)
                if text != last:
                    async with lock:
                        await ws.send_text(text)
                    last = text
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), PUSH_INTERVAL_S)
                except TimeoutError:
                    pass
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        except Exception:
            logger.exception("control WebSocket push failed")


def _field(message: str, name: str, any_type: bool = False) -> Any:
    try:
        data = json.loads(message)
    except json.JSONDecodeError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if any_type or isinstance(value, str) else None


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


_last_logged: dict[int, float] = {}
LOG_EVERY_S = 10.0  # a flood of refused requests logs one warning per kind per 10 s, not one each


def _refuse(refusal: Refusal) -> JSONResponse:
    now = time.monotonic()
    if now - _last_logged.get(refusal.status, -LOG_EVERY_S) >= LOG_EVERY_S:
        _last_logged[refusal.status] = now
        logger.warning("control port refused a request: %s", refusal.reason)
    else:
        logger.debug("control port refused a request: %s", refusal.reason)
    return _json(refusal.status, {"ok": False, "error": refusal.reason})
