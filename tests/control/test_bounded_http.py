"""Connection bounds of the control port on a real server (uvicorn on 127.0.0.1, raw sockets): a connection
that sends no complete request head is closed after the deadline, however it trickles; idle sockets cannot
lock the port (issue 18.2: 511 of them got everyone a 503); heads and bodies are capped as documented."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from live2diff_broadcast.commands.control import send_command
from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.limits import MAX_HEAD
from live2diff_broadcast.control.server import HEAD_DEADLINE_S, MAX_WAITING, ControlServer

from .conftest import wait_for
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
    srv = ControlServer(bus, consumer.status, port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing ``sock`` within ``timeout`` s; None if it is still open."""
    sock.settimeout(timeout)
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return got


def test_a_silent_connection_is_closed_after_the_deadline(server: Server) -> None:
    srv, _ = server
    with socket.create_connection(srv.address, timeout=5) as silent:
        assert closed_by_server(silent, HEAD_DEADLINE_S + 10) == b""
    assert srv.waiting.timed_out == 1


def test_a_head_sent_a_byte_at_a_time_is_closed_after_the_deadline(server: Server) -> None:
    """Slowloris: bytes keep coming (each used to restart uvicorn's timer), the head never completes."""
    srv, _ = server
    head = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 1000
    stop = time.monotonic() + HEAD_DEADLINE_S + 15
    with socket.create_connection(srv.address, timeout=5) as slow:
        try:
            for byte in head:
                slow.sendall(bytes([byte]))
                time.sleep(0.2)
                assert time.monotonic() < stop, "the server kept a head that never completed"
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us: the point
    assert srv.waiting.timed_out == 1


def test_a_kept_alive_connection_is_closed_after_the_deadline(server: Server) -> None:
    srv, _ = server
    port = srv.address[1]
    with socket.create_connection(srv.address, timeout=5) as conn:
        conn.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            answer += conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        assert closed_by_server(conn, HEAD_DEADLINE_S + 10) == b""


def test_six_hundred_idle_sockets_do_not_lock_the_port(server: Server) -> None:
    """600 sockets that never send a request: the server keeps at most MAX_WAITING of them, /status and a style
    switch (the `control` CLI's own client) still answer, and a dock's WebSocket opened before stays live."""
    srv, consumer = server
    port = srv.address[1]
    url = f"ws://127.0.0.1:{port}/ws"
    pushes: list[dict[str, Any]] = []
    dock_done = threading.Event()
    dock_error: list[BaseException] = []

    async def dock() -> None:
        try:
            async with websockets.connect(url, proxy=None, open_timeout=10) as ws:
                await ws.send(json.dumps({"token": srv.token}))
                while not dock_done.is_set():
                    try:
                        pushes.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                    except TimeoutError:
                        pass
        except BaseException as exc:  # reported by the assertion below
            dock_error.append(exc)

    dock_thread = threading.Thread(target=asyncio.run, args=(dock(),))
    dock_thread.start()
    wait_for("the dock's first state", lambda: bool(pushes), timeout=10)
    idle: list[socket.socket] = []
    try:
        for _ in range(600):
            idle.append(socket.create_connection(srv.address, timeout=10))
        wait_for("the server to close the oldest idle sockets", lambda: len(srv.waiting) <= MAX_WAITING, timeout=10)
        assert send_command("status", port=port)["status"]["style"] == "anime"
        answer = send_command("style sketch", port=port)
        assert answer["ok"] and answer["style"] == "sketch" and consumer.selector.target == "sketch"
        wait_for(f"the new style pushed to the dock during the flood {dock_error}",
                 lambda: any(p["status"]["style"] == "sketch" for p in pushes), timeout=10)
        closed = sum(closed_by_server(s, 0.05) is not None for s in idle)
        assert closed >= 600 - MAX_WAITING  # the server closed them; the attacker's sockets are the old ones
        assert srv.waiting.evicted >= 600 - MAX_WAITING
    finally:
        for s in idle:
            s.close()
        dock_done.set()
        dock_thread.join(10)


def test_a_full_head_over_the_limit_is_431(server: Server) -> None:
    """Issue 18.2: a 60 KB head arriving at once was accepted (h11's limit only counts incomplete heads)."""
    srv, consumer = server
    port = srv.address[1]
    with socket.create_connection(srv.address, timeout=10) as conn:
        conn.sendall(b"POST /next HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\nX-Pad: %s\r\n"
                     b"Content-Length: 0\r\n\r\n" % (port, srv.token.encode(), b"a" * 60_000))
        assert (closed_by_server(conn, 10) or b"").startswith(b"HTTP/1.1 431")
    assert consumer.seen == []


def test_an_incomplete_head_over_the_limit_is_400(server: Server) -> None:
    srv, _ = server
    with socket.create_connection(srv.address, timeout=10) as conn:
        conn.sendall(b"GET /status HTTP/1.1\r\nX-Pad: " + b"a" * (MAX_HEAD + 100))
        assert (closed_by_server(conn, 10) or b"").startswith(b"HTTP/1.1 400")


def test_a_body_that_does_not_arrive_is_408(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("live2diff_broadcast.control.app.BODY_DEADLINE_S", 1.0)
    srv, consumer = server
    port = srv.address[1]
    with socket.create_connection(srv.address, timeout=10) as conn:
        conn.sendall(b"POST /command HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Length: 100\r\n\r\nstyle" % (port, srv.token.encode()))
        assert (closed_by_server(conn, 15) or b"").startswith(b"HTTP/1.1 408")
    assert consumer.seen == []
