"""The control server on 127.0.0.1 (port 0): TCP lines and HTTP paths, answers as JSON."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.commands.control import send_command
from live2diff_broadcast.control import ActionResult, ControlBus, Rewarm, TogglePassthrough
from live2diff_broadcast.control.actions import STYLE_ACTIONS
from live2diff_broadcast.control.protocol import CommandError, parse_command
from live2diff_broadcast.control.server import ControlServer
from live2diff_broadcast.control.styles import StyleSelector

STYLES = ["anime", "oil painting", "sketch"]


class Consumer:
    """Stands in for the supervisor: resolves actions with the same StyleSelector."""

    def __init__(self, bus: ControlBus) -> None:
        self.bus, self.selector, self.passthrough = bus, StyleSelector(STYLES, "anime"), False
        self.seen: list[Any] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.bus.wait(0.05)
            for action, future in self.bus.take():
                self.seen.append(action)
                if isinstance(action, STYLE_ACTIONS):
                    future.set_result(self.selector.apply(action))
                elif isinstance(action, TogglePassthrough):
                    self.passthrough = not self.passthrough if action.on is None else action.on
                    future.set_result(ActionResult(True, "ok", passthrough=self.passthrough))
                else:
                    future.set_result(ActionResult(True, "re-warming"))

    def status(self) -> dict[str, Any]:
        return {"style": self.selector.target, "passthrough": self.passthrough, "frames_out": 7}

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)


@pytest.fixture
def server() -> Iterator[tuple[ControlServer, Consumer]]:
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, host="127.0.0.1", port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


def lines(port: int, *commands: str) -> list[dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile("rwb") as f:
        answers = []
        for command in commands:
            f.write(command.encode() + b"\n")
            f.flush()
            answers.append(json.loads(f.readline()))
        return answers


def test_listens_on_loopback_only_by_default(server: tuple[ControlServer, Consumer]) -> None:
    srv, _ = server
    host, port = srv.address
    assert host == "127.0.0.1" and port > 0


def test_tcp_lines_style_next_prev_status(server: tuple[ControlServer, Consumer]) -> None:
    srv, consumer = server
    answers = lines(srv.address[1], "style sketch", "next", "next", "prev", "style oil painting", "status")
    assert [a.get("style") for a in answers[:5]] == ["sketch", "anime", "oil painting", "anime", "oil painting"]
    assert all(a["ok"] for a in answers)
    assert answers[5]["status"] == {"style": "oil painting", "passthrough": False, "frames_out": 7}
    assert [a.origin for a in consumer.seen] == ["server"] * 5


def test_refusals_and_typos_are_answered_not_fatal(server: tuple[ControlServer, Consumer]) -> None:
    srv, _ = server
    unknown, typo, good = lines(srv.address[1], "style nope", "stlye anime", "passthrough on")
    assert unknown["ok"] is False and "nope" in unknown["message"] and "anime" in unknown["message"]
    assert typo["ok"] is False and "stlye" in typo["error"]
    assert good == {"ok": True, "message": "ok", "passthrough": True}


def test_http_paths_for_web_request_tools(server: tuple[ControlServer, Consumer]) -> None:
    srv, _ = server
    base = f"http://127.0.0.1:{srv.address[1]}"
    with urllib.request.urlopen(f"{base}/style/oil%20painting", timeout=5) as r:
        assert r.status == 200 and json.load(r)["style"] == "oil painting"
    with urllib.request.urlopen(f"{base}/status", timeout=5) as r:
        assert json.load(r)["status"]["style"] == "oil painting"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/style/nope", timeout=5)
    assert refused.value.code == 409
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(f"{base}/launch/rockets", timeout=5)
    assert bad.value.code == 400


def test_client_command(server: tuple[ControlServer, Consumer], capsys: pytest.CaptureFixture[str]) -> None:
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


def test_client_says_when_nothing_listens(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert main(["control", "--port", str(free), "next"]) == 2
    assert "is `live2diff-broadcast run` running" in caplog.text


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
