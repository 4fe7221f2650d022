"""The control server for real (uvicorn on 127.0.0.1, port 0): POST commands with the token, every refusal."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from live2diff_broadcast.cli import main
from live2diff_broadcast.commands.control import send_command
from live2diff_broadcast.control import ControlBus, Rewarm, TogglePassthrough
from live2diff_broadcast.control.protocol import CommandError, parse_command
from live2diff_broadcast.control.server import ControlServer

from .consumer import Consumer

Server = tuple[ControlServer, Consumer]


@pytest.fixture(autouse=True)
def private_token_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("LIVE2DIFF_CONTROL_TOKEN", raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, host="127.0.0.1", port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


def client(srv: ControlServer, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=srv.url, trust_env=False, timeout=5, headers=headers)


def auth(srv: ControlServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.token}"}


def test_loopback_only_and_token_file_is_user_only(server: Server) -> None:
    srv, _ = server
    host, port = srv.address
    assert host == "127.0.0.1" and port > 0
    path = srv.token_file
    assert path is not None and path.name == f"control-{port}.token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert path.read_text() == f"Authorization: Bearer {srv.token}\n" and len(srv.token) >= 40  # curl -H @file
    srv.stop()
    assert not path.exists()


def test_post_commands_with_token(server: Server) -> None:
    srv, consumer = server
    with client(srv, **auth(srv)) as c:
        r = c.post("/command", json={"command": "style sketch"})
        assert r.status_code == 200 and r.json()["style"] == "sketch"
        assert c.post("/style/oil%20painting").json()["style"] == "oil painting"
        assert c.post("/next").json()["style"] == "sketch"
        assert c.post("/passthrough/on").json() == {"ok": True, "message": "ok", "passthrough": True}
        assert c.post("/command", content="rewarm", headers={"Content-Type": "text/plain"}).json()["ok"]
        assert c.post("/command", json={"command": "status"}).json()["status"]["style"] == "sketch"
    assert [a.origin for a in consumer.seen] == ["server"] * 5
    with client(srv, **{"X-Live2Diff-Token": srv.token}) as c:
        assert c.post("/prev").json()["style"] == "oil painting"


def test_status_is_read_only_and_needs_no_token(server: Server) -> None:
    srv, consumer = server
    with client(srv) as c:
        assert c.get("/status").json()["status"] == {"style": "anime", "passthrough": False, "frames_out": 7}
        assert "style NAME" in c.get("/help").json()["help"]
    assert consumer.seen == []


def test_get_cannot_change_the_show(server: Server) -> None:
    """An <img src=http://127.0.0.1:7878/style/x> in any web page: refused, nothing posted."""
    srv, consumer = server
    with client(srv, **auth(srv)) as c:  # not even with the token
        for path in ("/style/sketch", "/next", "/passthrough/on", "/command"):
            r = c.get(path)
            assert r.status_code == 405 and r.headers["allow"] == "POST" and "POST only" in r.json()["error"]
        assert c.get("/status").json()["status"]["style"] == "anime"
    assert consumer.seen == []


def test_post_without_or_with_a_wrong_token_is_refused(server: Server) -> None:
    srv, consumer = server
    with client(srv) as c:
        r = c.post("/style/sketch")
        assert r.status_code == 401 and "token" in r.json()["error"]
        r = c.post("/style/sketch", headers={"Authorization": "Bearer " + "x" * 43})
        assert r.status_code == 403 and "wrong control token" in r.json()["error"]
        r = c.post("/style/sketch", headers={"Authorization": f"Basic {srv.token}"})
        assert r.status_code == 401
    assert consumer.seen == []


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1"])
def test_foreign_origin_is_refused_even_with_the_token(server: Server, origin: str) -> None:
    srv, consumer = server
    with client(srv, **auth(srv), Origin=origin.replace(":1", f":{srv.address[1] + 1}")) as c:
        r = c.post("/style/sketch")
        assert r.status_code == 403 and "Origin" in r.json()["error"]
        assert c.get("/").status_code == 403  # the page (with its token) is not served to them either
    assert consumer.seen == []


def test_same_origin_and_cross_site_fetch_metadata(server: Server) -> None:
    srv, _ = server
    same = f"http://127.0.0.1:{srv.address[1]}"
    with client(srv, **auth(srv), Origin=same) as c:
        assert c.post("/style/sketch").status_code == 200
    with client(srv, **auth(srv), **{"Sec-Fetch-Site": "cross-site"}) as c:
        assert c.post("/style/anime").status_code == 403


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost.evil.example:{port}"])
def test_dns_rebinding_host_is_refused(server: Server, host: str) -> None:
    srv, consumer = server
    port = srv.address[1]
    with client(srv, **auth(srv), Host=host.format(port=port)) as c:
        r = c.post("/style/sketch")
        assert r.status_code == 403 and "DNS rebinding" in r.json()["error"]
        page = c.get("/")
        assert page.status_code == 403 and srv.token not in page.text
        assert c.get("/status").status_code == 403
    assert consumer.seen == []
    for good in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        with client(srv, Host=good) as c:
            assert c.get("/status").status_code == 200


def test_dock_page_holds_no_token_and_a_strict_policy(server: Server) -> None:
    """Issue 18.1: any local process that sent the right Host got the page with the token in it."""
    srv, _ = server
    with client(srv) as c:
        r = c.get("/")
    assert r.status_code == 200 and srv.token not in r.text and "__CONFIG__" not in r.text
    assert 'id="token-box"' in r.text  # it asks for the token instead
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def ws_exchange(url: str, origin: str | None, *messages: str, read: int = 2,
                until: Any = None) -> list[dict[str, Any]]:
    """Send ``messages``, then read ``read`` messages (or, with ``until``, until ``until(received)`` holds)."""
    async def go() -> list[dict[str, Any]]:
        headers = {"Origin": origin} if origin else {}
        async with websockets.connect(url, additional_headers=headers, open_timeout=5, proxy=None) as ws:
            for m in messages:
                await ws.send(m)
            got: list[dict[str, Any]] = []
            while (until(got) is False) if until is not None else len(got) < read:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            return got

    return asyncio.run(go())


def test_websocket_state_push_and_commands(server: Server) -> None:
    srv, _ = server
    port = srv.address[1]
    url = f"ws://127.0.0.1:{port}/ws"
    first, = ws_exchange(url, f"http://127.0.0.1:{port}", json.dumps({"token": srv.token}), read=1)
    assert first["type"] == "state" and first["status"]["style"] == "anime"
    def done(got: list[dict[str, Any]]) -> bool:  # the result, and a pushed state in the new style (any order)
        return any(m["type"] == "result" for m in got) and any(
            m["type"] == "state" and m["status"]["style"] == "sketch" for m in got)

    got = ws_exchange(url, None, json.dumps({"token": srv.token}), json.dumps({"command": "style sketch", "id": 3}),
                      until=done)
    result = next(m for m in got if m["type"] == "result")
    assert result["id"] == 3 and result["style"] == "sketch"
    assert any(m["type"] == "state" and m["status"]["style"] == "sketch" for m in got)


def test_websocket_from_a_foreign_origin_or_without_token_is_refused(server: Server) -> None:
    srv, consumer = server
    port = srv.address[1]
    url = f"ws://127.0.0.1:{port}/ws"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        ws_exchange(url, "http://evil.example", json.dumps({"token": srv.token}))
    assert refused.value.response.status_code == 403
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        got = ws_exchange(url, None, json.dumps({"token": "nope"}), json.dumps({"command": "next"}), read=2)
        assert got[0]["type"] == "error"
    assert consumer.seen == []


def test_bad_input_is_answered_and_the_server_lives_on(server: Server) -> None:
    srv, _ = server
    with client(srv, **auth(srv)) as c:
        assert c.post("/launch/rockets").status_code == 400
        assert c.post("/style/nope").status_code == 409
        r = c.post("/command", content=b"style \xff\xfe", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and "UTF-8" in r.json()["error"]
        assert c.post("/command", content=b"x" * (1 << 20)).status_code == 413
        assert c.post("/command", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
        with socket.create_connection(srv.address, timeout=5) as raw:  # a 1 MB header line
            raw.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * (1 << 20) + b"\r\n\r\n")
            assert raw.recv(64).startswith(b"HTTP/1.1 4")
        assert c.post("/next").json()["style"] == "oil painting"


def test_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = ControlServer(ControlBus(), dict, port=port)
        with pytest.raises(OSError, match=rf"127.0.0.1:{port}.*control.port"):
            srv.start()
        srv.stop()


def test_client_command(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    srv, consumer = server
    port = str(srv.address[1])
    assert main(["control", "--port", port, "style", "oil", "painting"]) == 0
    assert "oil painting" in capsys.readouterr().out
    assert main(["control", "--port", port, "rewarm"]) == 0
    assert isinstance(consumer.seen[-1], Rewarm)
    assert main(["control", "--port", port, "status"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["style"] == "oil painting"
    assert main(["control", "--port", port, "style", "nope"]) == 1
    assert main(["control", "--port", port, "warp", "9"]) == 2  # caught before sending


def test_client_without_a_token_says_where_it_looked(server: Server, caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    srv, consumer = server
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "elsewhere"))
    assert main(["control", "--port", str(srv.address[1]), "next"]) == 2
    assert "no control token" in caplog.text
    assert main(["control", "--port", str(srv.address[1]), "--token", srv.token, "next"]) == 0
    assert len(consumer.seen) == 1


def test_client_says_when_nothing_listens(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert main(["control", "--port", str(free), "--token", "t", "next"]) == 2
    assert f"no show running on port {free}" in caplog.text


def test_no_answer_in_time_is_an_error_not_a_hang() -> None:
    srv = ControlServer(ControlBus(), dict, port=0, result_timeout_s=0.2)  # nobody consumes
    srv.start()
    try:
        answer = send_command("next", port=srv.address[1])
    finally:
        srv.stop()
    assert answer["ok"] is False and "no answer" in answer["error"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("passthrough", TogglePassthrough(None)), ("passthrough off", TogglePassthrough(False)), ("rewarm", Rewarm())],
)
def test_parse_command(line: str, expected: object) -> None:
    got = parse_command(line)
    assert type(got) is type(expected) and getattr(got, "on", None) == getattr(expected, "on", None)


@pytest.mark.parametrize("line", ["", "style", "next 3", "passthrough maybe"])
def test_parse_command_errors_say_what_was_expected(line: str) -> None:
    with pytest.raises(CommandError, match="expected|needs|takes"):
        parse_command(line)


def test_a_flood_of_huge_lines_leaves_the_server_answering(server: Server) -> None:
    """Many connections sending megabytes of non-HTTP garbage or oversized bodies at once (the chaos case, scaled down)."""
    import threading

    srv, _ = server
    port = srv.address[1]

    def flood(i: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                head = b"POST /command HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 2097152\r\n\r\n" % port
                s.sendall((head if i % 2 else b"style ") + b"\xff" * (2 << 20))
                s.recv(64)
        except OSError:
            pass  # the server may close on us mid-send: that is the point

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    with client(srv, **auth(srv)) as c:
        assert c.post("/next").json()["style"] == "oil painting"
    for t in threads:
        t.join(30)
    with client(srv, **auth(srv)) as c:
        assert c.post("/next").json()["style"] == "sketch"


def test_tokens_can_always_be_passed_on_the_command_line() -> None:
    from live2diff_broadcast.control.token import new_token

    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens) and all(len(t) == 64 and not t.startswith("-") for t in tokens)
