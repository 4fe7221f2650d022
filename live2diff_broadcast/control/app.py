"""The control port's web app (Starlette): the OBS dock page, a read-only status, POST commands, a WebSocket.

Why Starlette (+ uvicorn, see ``server.py``): HTTP and WebSocket in one small, well-kept ASGI
toolkit (no template engine, ORM or validation layer we would not use), async so one thread serves
every open dock and pushes state to each without a thread per client, and a TestClient for tests.
aiohttp would do as well but brings its own server and client; FastAPI adds pydantic schemas we
do not need for five routes.

Routes (every request passes ``guard.check_origin``: right Host, same Origin or none)::

    GET  /            the dock page: no token in it; it takes one from its URL (#token=T) or asks
    GET  /status      telemetry + styles as JSON; read-only (no token, except in remote mode)
    GET  /help        the command list
    POST /command     {"command": "style anime"} (JSON) or the line as text/plain      } token
    POST /style/anime, /next, /prev, /passthrough/on, /rewarm  (path words = the command) } needed
    GET  /preview/output.jpg, /preview/input.jpg   the newest frame as a small JPEG        } token
    WS   /ws          first message {"token": T}; then {"command": "...", "id": N} -> result;
                      the server pushes {"type": "state", ...} on every change and at 4 Hz;
                      {"preview": ["output", "input"]} asks for live pictures, [] stops them
                      (``preview.py``: pushed as {"type": "preview", ...} while asked for)

Every command line goes through ``protocol.parse_command``, so a new command works on every
surface at once. ``/status`` needs no token on loopback: it changes nothing, a page of another site
cannot read it (no CORS headers; a rebinding Host is refused), and local programs can see the same
numbers in the terminal anyway; monitoring tools can read it without the secret. In remote mode
(``remote=True``) every request but the page needs the token.

Limits (``limits.py``): heads over 16 KiB are 431, bodies over 16 KiB 413, a body not in within
10 s 408, JSON nested deeper than 32 is 400; on the WebSocket a binary frame closes with 1003,
bad JSON with 1007, a refused or missing token with 1008, a message over 64 KiB with 1009 (the
server), and when more than 16 sockets wait for their token the oldest is closed with 1013.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .bus import ControlBus
from .guard import Refusal, check_origin, check_token, request_token
from .limits import (
    BODY_DEADLINE_S,
    MAX_BODY,
    MAX_HEAD,
    MAX_PENDING_WS,
    TOKEN_WAIT_S,
    WS_MAX_FIRST,
    JsonRefused,
    head_bytes,
    load_json,
)
from .preview import PreviewBroadcaster, PreviewFeeds
from .protocol import HELP, CommandError, Query, parse_command
from .throttle import ThrottledLog

logger = logging.getLogger(__name__)

PUSH_INTERVAL_S = 0.25  # state pushed to docks at most 4 times a second, plus on every change

StatusFn = Callable[[], dict[str, Any]]
ControlsFn = Callable[[], dict[str, Any]]


class _BodyTooLarge(Exception):
    pass


class ControlApp:
    """The ASGI app (``self.asgi``) and what it needs: the bus, status, the token, our Host names."""

    def __init__(self, bus: ControlBus, status: StatusFn, controls: ControlsFn, token: str,
                 hosts: Callable[[], frozenset[str]], result_timeout_s: float = 2.0, remote: bool = False,
                 preview: PreviewFeeds | None = None) -> None:
        self.bus, self.status, self.controls, self.token, self.hosts = bus, status, controls, token, hosts
        self.result_timeout_s, self.remote = result_timeout_s, remote
        self.log = ThrottledLog(logger)
        self.preview = PreviewBroadcaster(preview) if preview is not None else None
        self._page = resources.files(__package__).joinpath("dock.html").read_text(encoding="utf-8")
        self._wakers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._pending: OrderedDict[int, asyncio.Event] = OrderedDict()  # WebSockets awaiting their token
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

    # --- who may ask ---------------------------------------------------------------------------------

    def _check(self, conn: HTTPConnection, needs_token: bool) -> Refusal | None:
        """Head size, Host / Origin (``guard.py``) and, when ``needs_token``, the token. None: go ahead."""
        scope = conn.scope
        if head_bytes(scope.get("path", ""), scope.get("query_string", b""), scope.get("headers", ())) > MAX_HEAD:
            return Refusal(431, f"request head over {MAX_HEAD} bytes")
        peer = conn.client.host if conn.client is not None else None
        refusal = check_origin(conn.headers, self.hosts(), peer)
        if refusal is None and needs_token:
            refusal = check_token(request_token(conn.headers), self.token)
        return refusal

    def _refuse(self, refusal: Refusal) -> JSONResponse:
        self.log.warning(f"http {refusal.status}", "control port refused a request: %s", refusal.reason)
        return _json(refusal.status, {"ok": False, "error": refusal.reason})

    # --- HTTP --------------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """The dock page. It holds no token (it reads one from its own URL's #token=, or asks), so it is served
        to anyone with the right Host; the token never leaves this server in a response."""
        if (refusal := self._check(request, needs_token=False)) is not None:
            return self._refuse(refusal)
        nonce = secrets.token_urlsafe(16)
        config = json.dumps({"ws": "/ws"}).replace("<", "\\u003c")
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
        reading = request.method in ("GET", "HEAD")
        if (refusal := self._check(request, needs_token=self.remote or request.method == "POST")) is not None:
            return self._refuse(refusal)
        path = request.url.path
        if path.startswith("/preview/"):
            return await self._preview_picture(request, path)
        if reading:
            if path == "/status":
                return _json(200, {"ok": True, "status": self.status()})
            if path == "/help":
                return _json(200, {"ok": True, "help": HELP})
            return _json(405, {"ok": False, "error": f"{request.method} {path}: commands change the show and are "
                                                     "POST only (with the control token); GET serves /, /status, /help"},
                         headers={"Allow": "POST"})
        if request.method != "POST":
            return _json(405, {"ok": False, "error": f"{request.method} is not supported; use POST"}, headers={"Allow": "POST"})
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
            return self._refuse(refusal)
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
        try:
            data = await asyncio.wait_for(_read_body(request), BODY_DEADLINE_S)
        except _BodyTooLarge:
            return _json(413, {"ok": False, "error": f"request body over {MAX_BODY} bytes"})
        except TimeoutError:
            return _json(408, {"ok": False, "error": f"request body not received within {BODY_DEADLINE_S:.0f} s"},
                         headers={"Connection": "close"})
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _json(400, {"ok": False, "error": f"request body is not UTF-8 ({exc.reason} at byte {exc.start})"})
        if path.strip("/") != "command":
            return " ".join(path.strip("/").split("/", 1))  # /style/oil painting -> "style oil painting"
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                payload = load_json(text)
            except JsonRefused as exc:
                return _json(400, {"ok": False, "error": f"body: {exc}"})
            if not isinstance(payload, dict) or not isinstance(payload.get("command"), str):
                return _json(400, {"ok": False, "error": 'expected a JSON object {"command": "style NAME"}'})
            return str(payload["command"])
        return text

    # --- WebSocket ---------------------------------------------------------------------------------

    async def websocket(self, ws: WebSocket) -> None:
        if (refusal := self._check(ws, needs_token=False)) is not None:
            await ws.send_denial_response(self._refuse(refusal))  # the handshake gets the 4xx
            return
        await ws.accept()
        if await self._authenticate(ws):
            await self._session(ws)

    async def _authenticate(self, ws: WebSocket) -> bool:
        """The first message must be {"token": T}, within TOKEN_WAIT_S; else a close code that says why."""
        evicted = asyncio.Event()
        key = id(evicted)
        self._pending[key] = evicted
        while len(self._pending) > MAX_PENDING_WS:  # a flood of silent sockets: the oldest makes room
            self._pending.popitem(last=False)[1].set()
        try:
            message = await _first(ws, evicted)
        finally:
            self._pending.pop(key, None)
        if message is None:
            return await _close(ws, 1013 if evicted.is_set() else 1008, "too many sockets waiting for a token"
                                if evicted.is_set() else f"no token within {TOKEN_WAIT_S:.0f} s")
        if message["type"] == "websocket.disconnect":
            return False
        text = message.get("text")
        if text is None:
            return await _close(ws, 1003, 'binary frames are not accepted; send JSON text {"token": T}')
        if len(text) > WS_MAX_FIRST:
            return await _close(ws, 1009, f'the first message is {{"token": T}}, at most {WS_MAX_FIRST} characters')
        try:
            data = load_json(text)
        except JsonRefused as exc:
            return await _close(ws, 1007, str(exc))
        given = data.get("token") if isinstance(data, dict) else None
        if (refusal := check_token(given if isinstance(given, str) else None, self.token)) is not None:
            self.log.warning("ws token", "control WebSocket refused: %s", refusal.reason)
            await _send(ws, {"type": "error", "error": refusal.reason})
            return await _close(ws, 1008, "control token refused")
        return True

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
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    await _close(ws, 1003, 'binary frames are not accepted; send JSON text {"command": ...}')
                    return
                reply = await self._reply(text, id(ws), send)
                async with lock:
                    if not await _send(ws, reply):
                        return
                wake.set()
        except (RuntimeError, OSError):
            return  # the socket went away mid-send
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

    async def _reply(self, text: str, key: int, send: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """One message of an authenticated dock: a command, or {"preview": [feeds]} (the answer to send back)."""
        try:
            data = load_json(text)
        except JsonRefused as exc:
            return {"type": "result", "id": None, "ok": False, "error": str(exc)}
        ident = data.get("id") if isinstance(data, dict) else None
        command = data.get("command") if isinstance(data, dict) else None
        if isinstance(data, dict) and "preview" in data:
            return {"type": "result", "id": ident, **self._watch(key, data["preview"], send)}
        if not isinstance(command, str):
            return {"type": "result", "id": ident, "ok": False, "error": 'expected {"command": "style NAME", "id": N}'}
        return {"type": "result", "id": ident, **(await self.execute(command))[1]}

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
        except (RuntimeError, OSError):
            return
        except Exception:
            logger.exception("control WebSocket push failed")


async def _read_body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise _BodyTooLarge
    return bytes(data)


async def _first(ws: WebSocket, evicted: asyncio.Event) -> Mapping[str, Any] | None:
    """The first ASGI message of ``ws``; None when TOKEN_WAIT_S passed or ``evicted`` was set first."""
    receive = asyncio.ensure_future(ws.receive())
    gone = asyncio.ensure_future(evicted.wait())
    done, _ = await asyncio.wait({receive, gone}, timeout=TOKEN_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if receive in done and not evicted.is_set():
        return receive.result()
    receive.cancel()
    return None


async def _send(ws: WebSocket, data: dict[str, Any]) -> bool:
    try:
        await ws.send_text(json.dumps(data, default=str))
        return True
    except (RuntimeError, OSError):
        return False


async def _close(ws: WebSocket, code: int, reason: str) -> bool:
    """Close with ``code`` and a reason (trimmed to the 123 bytes a close frame carries); always False."""
    if ws.application_state == WebSocketState.CONNECTED:
        try:
            await ws.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))
        except (RuntimeError, OSError):
            pass
    return False


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
