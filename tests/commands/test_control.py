"""`live2diff-broadcast control` as a shell user types it, against a real control server (and none)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.actions import BlendStyles, EditStyle
from live2diff_broadcast.control.server import ControlServer
from live2diff_broadcast.control.token import write_token
from tests.control.consumer import Consumer


@pytest.fixture(autouse=True)
def private_token_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("LIVE2DIFF_CONTROL_TOKEN", raising=False)


@pytest.fixture
def server() -> Iterator[tuple[ControlServer, Consumer]]:
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_several_argv_words_are_taken_as_the_shell_user_typed_them(server: tuple[ControlServer, Consumer]) -> None:
    srv, consumer = server
    port = str(srv.address[1])
    assert main(["control", "--port", port, "blend", "anime", "oil painting", "0.5"]) == 0
    assert main(["control", "--port", port, "blend anime 'oil painting' 0.25"]) == 0  # the one-string form too
    blends = [a for a in consumer.seen if isinstance(a, BlendStyles)]
    assert [(b.a, b.b, b.t) for b in blends] == [("anime", "oil painting", 0.5), ("anime", "oil painting", 0.25)]
    assert main(["control", "--port", port, "prompt", "a fox's den,", "at night"]) == 0
    edit = consumer.seen[-1]
    assert isinstance(edit, EditStyle) and edit.value == "a fox's den, at night"


def test_bad_values_are_refused_before_sending(server: tuple[ControlServer, Consumer], caplog: pytest.LogCaptureFixture) -> None:
    srv, consumer = server
    assert main(["control", "--port", str(srv.address[1]), "seed", "4.5"]) == 2
    assert "seed must be a whole number" in caplog.text and consumer.seen == []


@pytest.mark.parametrize("token_file", [False, True])
def test_nothing_listening_says_no_show_runs_on_that_port(token_file: bool, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    if token_file:  # a token left behind by a show that crashed
        write_token("ab" * 32, port)
    for command in (["next"], ["status"], ["style", "x"]):
        assert main(["control", "--port", str(port), *command]) == 2
    assert caplog.text.count(f"no show running on port {port}") == 3
    assert "token" not in caplog.text
