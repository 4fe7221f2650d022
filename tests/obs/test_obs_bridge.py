"""The OBS bridge's bad inputs: each gives one clear warning, the bridge keeps retrying, nothing crashes.

Unreachable OBS and a port held by something that is not obs-websocket use plain sockets; the
wrong and the missing password use a real OBS with authentication on.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from live2diff_broadcast.config.obs import ObsSection
from live2diff_broadcast.control.bus import ControlBus
from live2diff_broadcast.control.obs_bridge import ObsBridge

from .conftest import RunningObs
from .harness import free_port


def warnings_after(caplog: pytest.LogCaptureFixture, bridge: ObsBridge, seconds: float) -> list[str]:
    bridge.start()
    try:
        time.sleep(seconds)
        assert bridge._thread is not None and bridge._thread.is_alive(), "the bridge thread died"
    finally:
        bridge.stop()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.endswith("obs_bridge")]


def bridge(port: int, password: str = "") -> ObsBridge:
    section = ObsSection(enabled=True, port=port, reconnect_max_s=1, connect_timeout_s=1)
    return ObsBridge(ControlBus(), lambda: section, password=password)


def test_unreachable_obs_is_one_warning_with_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    with caplog.at_level(logging.DEBUG):
        said = warnings_after(caplog, bridge(port), 3.0)
    assert len(said) == 1, said
    assert f"127.0.0.1:{port}" in said[0] and "connection refused" in said[0] and "WebSocket" in said[0]
    retries = [r for r in caplog.records if r.levelno == logging.DEBUG and "connection refused" in r.getMessage()]
    assert retries, "expected quiet retries after the first warning"


@pytest.fixture
def not_obs_port() -> Iterator[int]:
    """A port held by a plain HTTP-ish server: something else took OBS's port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_a_port_in_use_by_something_else_is_named(caplog: pytest.LogCaptureFixture, not_obs_port: int) -> None:
    with caplog.at_level(logging.INFO):
        said = warnings_after(caplog, bridge(not_obs_port), 2.5)
    assert len(said) == 1, said
    assert "is not obs-websocket 5" in said[0] and "another program" in said[0]


def test_wrong_password_against_a_real_obs(caplog: pytest.LogCaptureFixture, real_obs_with_password: RunningObs) -> None:
    with caplog.at_level(logging.INFO):
        said = warnings_after(caplog, bridge(real_obs_with_password.port, "not-the-password"), 3.0)
    assert len(said) == 1, said
    assert "refused the password in LIVE2DIFF_OBS_PASSWORD" in said[0]
    assert "not-the-password" not in caplog.text, "the password must never reach the log"


def test_missing_password_against_a_real_obs(caplog: pytest.LogCaptureFixture, real_obs_with_password: RunningObs) -> None:
    with caplog.at_level(logging.INFO):
        said = warnings_after(caplog, bridge(real_obs_with_password.port), 2.0)
    assert len(said) == 1, said
    assert "requires a password" in said[0] and "LIVE2DIFF_OBS_PASSWORD" in said[0]


def test_right_password_connects_and_follows_the_scene(real_obs_with_password: RunningObs) -> None:
    client = real_obs_with_password.client()
    client.create_scene("Sketchy")
    section = ObsSection(enabled=True, port=real_obs_with_password.port, scenes={"Sketchy": "sketch"})
    bus = ControlBus()
    b = ObsBridge(bus, lambda: section, password=real_obs_with_password.password)
    b.start()
    try:
        assert b.connected.wait(30), "the bridge did not connect with the right password"
        client.set_current_program_scene("Sketchy")
        deadline = time.monotonic() + 15
        names: list[str] = []
        while "sketch" not in names:
            assert time.monotonic() < deadline, f"no SelectStyle('sketch') posted; got {names}"
            bus.wait(0.2)
            names += [getattr(a, "name", "") for a, _ in bus.take() if getattr(a, "origin", "") == "obs"]
    finally:
        b.stop()
        client.disconnect()
