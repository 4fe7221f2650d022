"""Remote mode from another machine: a second network namespace joined to this one by a veth pair, with the
server bound to this side's address (a non-loopback control.host). Issue 18.1: a LAN client that claimed
``Host: 127.0.0.1`` got the token, an honest one was refused. Now the honest client (its Host in
control.allowed_hosts, the token on every request) is served, in plain HTTP, on the WebSocket and in a real
Chromium; a spoofed or foreign Host is refused; the page carries no token. Needs root and iproute2 (CI: both)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.server import ControlServer, RemoteModeError

from .consumer import Consumer

REPO = Path(__file__).resolve().parents[2]
IP = shutil.which("ip")
CI = os.environ.get("CI", "").lower() == "true"


def _ip(*args: str) -> None:
    subprocess.run([str(IP), *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """(namespace name, this side's address): ``ip netns exec NAME`` runs a command "on the other machine"."""
    if IP is None or os.geteuid() != 0:
        if CI:
            pytest.fail("remote-mode test needs root and iproute2 in CI (scripts/setup_system.sh)", pytrace=False)
        pytest.skip("needs root and iproute2 (ip netns)")
    tag = secrets.token_hex(3)
    name, here, there = f"l2d-{tag}", f"l2dh{tag}", f"l2dn{tag}"
    subnet = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", name)
        _ip("addr", "add", f"{subnet}.1/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", name, "addr", "add", f"{subnet}.2/30", "dev", there)
        _ip("-n", name, "link", "set", there, "up")
        _ip("-n", name, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        subprocess.run([str(IP), "netns", "del", name], capture_output=True)
        subprocess.run([str(IP), "link", "del", here], capture_output=True)
        if CI:
            raise
        pytest.skip(f"cannot make a network namespace here: {exc.stderr.strip()}")
    try:
        yield name, f"{subnet}.1"
    finally:
        subprocess.run([str(IP), "netns", "del", name], capture_output=True)  # takes the veth pair with it
        subprocess.run([str(IP), "link", "del", here], capture_output=True)


def test_remote_mode_from_a_second_network(netns: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    name, address = netns
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.live_status, host=address, port=0, allowed=[address, "stream-pc.test"],
                        controls=lambda: {"styles": [{"name": s, "hotkey": None} for s in ("anime", "oil painting", "sketch")],
                                          "hotkeys": {}})
    with caplog.at_level(logging.INFO):
        srv.start()
    try:
        assert srv.url == f"http://{address}:{srv.address[1]}/"
        browser = "--browser" if shutil.which("chromium") and shutil.which("chromedriver") else ""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("http_proxy", None)
        env.pop("HTTP_PROXY", None)
        result = subprocess.run([str(IP), "netns", "exec", name, sys.executable, "-m", "tests.control.netns_client",
                                 srv.url, srv.token, *([browser] if browser else [])],
                                capture_output=True, text=True, timeout=180, cwd=REPO, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        srv.stop()
        consumer.stop()
    page_status, page = seen["page"]
    assert page_status == 200 and srv.token not in page  # serves no token
    assert seen["status_no_token"] == 401 and seen["status"] == 200  # the token on every request
    assert seen["style"][0] == 200 and json.loads(seen["style"][1])["style"] == "sketch"  # honest client accepted
    assert seen["spoofed_loopback"][0] == 403 and "spoofed" in seen["spoofed_loopback"][1]
    assert seen["spoofed_localhost_page"] == 403
    assert seen["foreign_host"] == 403
    assert seen["allowed_name"] == 200
    assert seen["websocket"] == "state"
    if browser:
        assert seen["browser"] == {"connected": True, "switched": True, "url": srv.url}
    styles = [a.name for a in consumer.seen if hasattr(a, "name")]
    assert "anime" not in styles and styles[0] == "sketch"  # nothing the spoofed requests sent got through
    assert "reachable from OTHER MACHINES" in caplog.text


def test_remote_mode_needs_allowed_hosts() -> None:
    with pytest.raises(RemoteModeError, match="control.allowed_hosts"):
        ControlServer(ControlBus(), dict, host="0.0.0.0", port=0)
