"""The control app's refusals on a real server (uvicorn on 127.0.0.1, httpx, websockets): deep JSON is a 400
and WebSocket frames it cannot take end with a close frame and a code, never a 500 or a dropped socket
(issue 18.4); a bounded hypothesis fuzz pass over the HTTP routes finds no 5xx. The guard rules and the
in-process app (Starlette TestClient) are checked too."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.app import ControlApp
from live2diff_broadcast.control.guard import allowed_hosts, check_origin
from live2diff_broadcast.control.limits import MAX_JSON_DEPTH, MAX_PENDING_WS, json_depth
from live2diff_broadcast.control.server import ControlServer

from .consumer import Consumer

TOKEN = "t" * 43
BASE = "http://127.0.0.1:7878"
Server = tuple[ControlServer, Consumer]


@pytest.fixture(autouse=True)
def private_token_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


@pytest.fixture
def server() -> Iterator[Server]:
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


def post(srv: ControlServer, body: bytes | str, content_type: str = "application/json") -> httpx.Response:
    with httpx.Client(base_url=srv.url, trust_env=False, timeout=10) as c:
        return c.post("/command", content=body, headers={"Authorization": f"Bearer {srv.token}", "Content-Type": content_type})


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


# --- deep JSON over HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 8_000])
def test_deep_json_with_a_valid_token_is_400_not_500(server: Server, caplog: pytest.LogCaptureFixture, depth: int) -> None:
    """Before: 500 and a traceback (the parser recursed past Python's limit)."""
    srv, consumer = server
    r = post(srv, "[" * depth + "]" * depth)
    assert r.status_code == 400 and f"nested {depth} deep" in r.json()["error"]
    nest = min(depth, 1200)  # objects take more bytes per level: stay under the 16 KiB body limit
    r = post(srv, '{"command": ' * nest + '"next"' + "}" * nest)
    assert r.status_code == 400 and f"nested {nest} deep" in r.json()["error"]
    no_tracebacks(caplog)
    assert consumer.seen == []
    assert post(srv, json.dumps({"command": "next"})).json()["style"] == "oil painting"  # and the server goes on


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth('{"command": "style [[[{{{"}') == 1
    assert json_depth(r'["\"[[[", [1]]') == 2
    assert json_depth("[" * 40) == 40


# --- WebSocket frames -------------------------------------------------------------------------------


def ws_run(srv: ControlServer, script: Any) -> Any:
    """Run ``script(ws)`` on a real WebSocket to the server; return what it returns."""
    async def go() -> Any:
        url = f"ws://127.0.0.1:{srv.address[1]}/ws"
        async with websockets.connect(url, open_timeout=10, proxy=None, max_size=None) as ws:
            return await script(ws)

    return asyncio.run(go())


def closed_with(srv: ControlServer, *frames: str | bytes) -> tuple[int | None, str, list[Any]]:
    """Send ``frames``, read until the server closes: (the close code it SENT, its reason, messages before)."""
    async def script(ws: Any) -> tuple[int | None, str, list[Any]]:
        got: list[Any] = []
        for frame in frames:
            await ws.send(frame)
        try:
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        except websockets.exceptions.ConnectionClosed as closed:
            rcvd = closed.rcvd  # None: the socket was dropped without a close frame (issue 18.4)
            return (rcvd.code, rcvd.reason, got) if rcvd is not None else (None, "", got)

    result: tuple[int | None, str, list[Any]] = ws_run(srv, script)
    return result


def test_binary_first_frame_is_closed_with_1003(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    srv, consumer = server
    code, reason, _ = closed_with(srv, b"\x00\x01binary")
    assert code == 1003 and "binary" in reason
    no_tracebacks(caplog)
    assert consumer.seen == []


@pytest.mark.parametrize("frame", ['{"token": ' * 45 + '"x"' + "}" * 45, "[" * 500, "not json"])
def test_bad_json_first_frame_is_closed_with_1007(server: Server, caplog: pytest.LogCaptureFixture, frame: str) -> None:
    srv, _ = server
    code, reason, _ = closed_with(srv, frame)
    assert code == 1007 and ("nested" in reason or "not JSON" in reason)
    no_tracebacks(caplog)


def test_long_first_frame_and_huge_frames_are_closed_with_1009(server: Server) -> None:
    srv, _ = server
    assert closed_with(srv, json.dumps({"token": "x" * 5000}))[0] == 1009
    assert closed_with(srv, '{"token": ' * 600 + '"x"' + "}" * 600)[0] == 1009  # deep AND long: the length speaks first
    assert closed_with(srv, json.dumps({"token": srv.token}), "x" * (65 * 1024))[0] == 1009  # the server's 64 KiB


def test_wrong_or_missing_token_is_closed_with_1008(server: Server) -> None:
    srv, consumer = server
    code, _, got = closed_with(srv, json.dumps({"token": "nope"}), json.dumps({"command": "next"}))
    assert code == 1008 and got[0]["type"] == "error" and "wrong control token" in got[0]["error"]
    code, reason, _ = closed_with(srv)  # says nothing: closed after TOKEN_WAIT_S
    assert code == 1008 and "no token" in reason
    assert consumer.seen == []


def test_in_session_bad_frames(server: Server) -> None:
    """After the token: deep JSON is answered with an error and the session goes on; a binary frame closes it (1003)."""
    srv, consumer = server

    async def script(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
        await ws.send(json.dumps({"token": srv.token}))
        await ws.send("[" * 5000 + "]" * 5000)
        await ws.send(json.dumps({"command": "next", "id": 7}))
        results: list[dict[str, Any]] = []
        while len(results) < 2:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "result":
                results.append(message)
        await ws.send(b"\x01\x02")
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed as closed:
            return results, closed.rcvd.code if closed.rcvd else None

    results, code = ws_run(srv, script)
    assert results[0]["ok"] is False and "nested 5000 deep" in results[0]["error"]
    assert results[1]["id"] == 7 and results[1]["style"] == "oil painting"
    assert code == 1003 and len(consumer.seen) == 1


def test_sockets_waiting_for_a_token_are_capped(server: Server) -> None:
    """40 sockets that never send their token: the oldest are closed with 1013 at once (not after 5 s each),
    and a dock that sends its token still gets in."""
    srv, consumer = server
    url = f"ws://127.0.0.1:{srv.address[1]}/ws"

    async def go() -> tuple[list[int | None], dict[str, Any]]:
        silent = [await websockets.connect(url, proxy=None, open_timeout=10) for _ in range(40)]
        async with websockets.connect(url, proxy=None, open_timeout=10) as dock:
            await dock.send(json.dumps({"token": srv.token}))
            state = json.loads(await asyncio.wait_for(dock.recv(), 10))
        codes: list[int | None] = []
        for ws in silent[:40 - MAX_PENDING_WS]:
            try:
                await asyncio.wait_for(ws.recv(), 3)
            except websockets.exceptions.ConnectionClosed as closed:
                codes.append(closed.rcvd.code if closed.rcvd else None)
        for ws in silent:
            await ws.close()
        return codes, state

    codes, state = asyncio.run(go())
    assert codes == [1013] * (40 - MAX_PENDING_WS)
    assert state["type"] == "state" and consumer.seen == []


# --- fuzz over the HTTP routes ----------------------------------------------------------------------

_words = st.sampled_from(["style", "next", "prev", "passthrough", "on", "rewarm", "command", "status", "help", "blend",
                          "lora", "sketch", "%20", "..", "%ff", "ws", ""])
_methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
_bodies = st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode),
                    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                                 lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.sampled_from(["command", "id", "token"]),
                                                                         inner, max_size=3)),
                                 max_leaves=30).map(lambda v: json.dumps(v).encode()),
                    st.integers(1, 3000).map(lambda n: b"[" * n))
_header_values = st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=60).map(lambda v: v.strip().encode("latin-1"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(method=_methods, words=st.lists(_words, max_size=4), body=_bodies, with_token=st.booleans(),
       content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", ""]),
       extra=st.dictionaries(st.sampled_from(["Origin", "Sec-Fetch-Site", "X-Live2Diff-Token", "Authorization", "Host"]),
                             _header_values, max_size=2))
def test_fuzz_routes_never_answer_5xx(server: Server, method: str, words: list[str], body: bytes, with_token: bool,
                                      content_type: str, extra: dict[str, bytes]) -> None:
    srv, _ = server
    headers: dict[str, str | bytes] = {"Content-Type": content_type, **extra}
    if with_token:
        headers["Authorization"] = f"Bearer {srv.token}"
    with httpx.Client(base_url=srv.url, trust_env=False, timeout=10) as c:
        r = c.request(method, "/" + "/".join(words).lstrip("/"), content=body if method not in ("GET", "HEAD") else None,
                      headers=headers)
        assert r.status_code < 500, (r.status_code, r.text[:300])
        assert c.get("/status").status_code == 200


# --- the guard and the app in-process ---------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[tuple[TestClient, Consumer]]:
    bus = ControlBus()
    consumer = Consumer(bus)
    control = ControlApp(bus, consumer.status, dict, TOKEN, lambda: allowed_hosts("127.0.0.1", 7878))
    with TestClient(control.asgi, base_url=BASE, client=("127.0.0.1", 50000)) as client:
        yield client, consumer
    consumer.stop()


def test_refusals(app: tuple[TestClient, Consumer]) -> None:
    client, consumer = app
    assert client.get("/style/sketch").status_code == 405
    assert client.post("/style/sketch").status_code == 401
    assert client.post("/style/sketch", headers={"X-Live2Diff-Token": "wrong"}).status_code == 403
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/style/sketch", headers={**ok, "Origin": "http://evil.example"}).status_code == 403
    assert client.post("/style/sketch", headers={**ok, "Host": "evil.example:7878"}).status_code == 403
    assert client.post("/style/sketch", headers={**ok, "X-Big": "a" * 17_000}).status_code == 431
    assert consumer.seen == []
    assert client.post("/style/sketch", headers={**ok, "Origin": BASE}).json()["style"] == "sketch"


def test_websocket_refusals(app: tuple[TestClient, Consumer]) -> None:
    client, consumer = app
    ours = {"Host": "127.0.0.1:7878", "Origin": BASE}
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("/ws", headers={**ours, "Origin": "http://evil.example"}):
        pass
    assert refused.value.status_code == 403 and "Origin" in refused.value.json()["error"]
    with client.websocket_connect("/ws", headers=ours) as ws:
        ws.send_json({"command": "next"})  # no token first: refused and closed
        assert "token" in ws.receive_json()["error"]
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    with client.websocket_connect("/ws", headers=ours) as ws:
        ws.send_json({"token": TOKEN})
        assert ws.receive_json()["type"] == "state"
        ws.send_json({"command": "next", "id": 1})
        reply = ws.receive_json()
        while reply["type"] != "result":
            reply = ws.receive_json()
        assert reply["style"] == "oil painting"
    assert len(consumer.seen) == 1


@pytest.mark.parametrize(("headers", "peer", "refused"), [
    ({"host": "127.0.0.1:7878"}, "127.0.0.1", False),
    ({"host": "LOCALHOST:7878", "origin": "http://localhost:7878"}, "127.0.0.1", False),
    ({"host": "[::1]:7878"}, "::1", False),
    ({"host": "127.0.0.1:7878", "origin": "http://localhost:7878"}, "127.0.0.1", True),  # another origin than the Host
    ({"host": "127.0.0.1"}, "127.0.0.1", True),  # no port: not how a browser names us
    ({}, "127.0.0.1", True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-site"}, "127.0.0.1", True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-origin"}, "127.0.0.1", False),
    ({"host": "127.0.0.1:7878"}, "10.0.0.2", True),  # a loopback name from another machine: spoofed
    ({"host": "localhost:7878"}, "192.168.1.9", True),
    ({"host": "stream-pc.local:7878"}, "192.168.1.9", False),  # an allowed name
    ({"host": "stream-pc.local:7878", "origin": "http://stream-pc.local:7878"}, "192.168.1.9", False),
    ({"host": "evil.example:7878"}, "192.168.1.9", True),
])
def test_guard_rules(headers: dict[str, str], peer: str, refused: bool) -> None:
    hosts = allowed_hosts("0.0.0.0", 7878, ["stream-pc.local"])
    assert (check_origin(headers, hosts, peer) is not None) is refused
