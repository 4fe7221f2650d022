"""The control app in-process (Starlette TestClient): the same refusals as the real server, and the guard rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.app import ControlApp
from live2diff_broadcast.control.guard import allowed_hosts, check_origin

from .consumer import Consumer

TOKEN = "t" * 43
BASE = "http://127.0.0.1:7878"


@pytest.fixture
def app() -> Iterator[tuple[TestClient, Consumer]]:
    bus = ControlBus()
    consumer = Consumer(bus)
    control = ControlApp(bus, consumer.status, dict, TOKEN, lambda: allowed_hosts("127.0.0.1", 7878))
    with TestClient(control.asgi, base_url=BASE) as client:
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
    assert consumer.seen == []
    assert client.post("/style/sketch", headers={**ok, "Origin": BASE}).json()["style"] == "sketch"


def test_websocket_refusals(app: tuple[TestClient, Consumer]) -> None:
    client, consumer = app
    ours = {"Host": "127.0.0.1:7878", "Origin": BASE}
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws", headers={**ours, "Origin": "http://evil.example"}):
        pass
    assert refused.value.code == 1008 and "Origin" in refused.value.reason
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


@pytest.mark.parametrize(("headers", "refused"), [
    ({"host": "127.0.0.1:7878"}, False),
    ({"host": "LOCALHOST:7878", "origin": "http://localhost:7878"}, False),
    ({"host": "[::1]:7878"}, False),
    ({"host": "127.0.0.1:7878", "origin": "http://localhost:7878"}, True),  # another origin than the Host
    ({"host": "127.0.0.1"}, True),  # no port: not how a browser names us
    ({}, True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-site"}, True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-origin"}, False),
])
def test_guard_rules(headers: dict[str, str], refused: bool) -> None:
    assert (check_origin(headers, allowed_hosts("127.0.0.1", 7878)) is not None) is refused
