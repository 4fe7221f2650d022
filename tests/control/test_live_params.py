"""Live parameter commands: the same value checks, with the same reasons, from text commands and OSC."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.actions import EditStyle, RevertStyle, SaveProfile
from live2diff_broadcast.control.osc import parse_osc
from live2diff_broadcast.control.protocol import CommandError, command_line, parse_command
from live2diff_broadcast.control.server import ControlServer

from .consumer import Consumer


@pytest.mark.parametrize(("line", "osc", "field", "value"), [
    ("prompt a red fox, (watercolor:1.2)", ("/live2diff/prompt", ("a red fox, (watercolor:1.2)",)), "prompt",
     "a red fox, (watercolor:1.2)"),
    ("strength 0.55", ("/live2diff/strength", (0.55,)), "strength", 0.55),
    ("t_index 20 35", ("/live2diff/t_index", (20, 35)), "t_index_list", (20, 35)),
    ("seed 7", ("/live2diff/seed", (7,)), "seed", 7),
    ("guidance 1.5", ("/live2diff/guidance", (1.5,)), "guidance", 1.5),
])
def test_text_and_osc_make_the_same_edit(line: str, osc: tuple[str, tuple[object, ...]], field: str, value: object) -> None:
    for action in (parse_command(line), parse_osc(*osc)):
        assert isinstance(action, EditStyle) and (action.field, action.value) == (field, value)
    assert isinstance(parse_command("revert"), RevertStyle) and isinstance(parse_osc("/live2diff/save", ()), SaveProfile)


@pytest.mark.parametrize(("line", "osc", "reason"), [
    ("prompt   ", ("/live2diff/prompt", ("",)), "prompt must be some text"),
    ("strength 1.5", ("/live2diff/strength", (1.5,)), "strength S must be a number in (0, 1]"),
    ("strength 0", ("/live2diff/strength", (0.0,)), "strength S must be a number in (0, 1]"),
    ("strength nan", ("/live2diff/strength", ("nan",)), "strength S must be a number in (0, 1]"),
    ("seed 4.5", ("/live2diff/seed", (4.5,)), "seed must be a whole number"),
    ("seed 4.0", ("/live2diff/seed", (4.0,)), "seed must be a whole number"),
    ("seed -1", ("/live2diff/seed", (-1,)), "seed must be a whole number in [0, 9223372036854775807]"),
    ("guidance 11", ("/live2diff/guidance", (11.0,)), "guidance G must be a number in [0, 10]"),
    ("t_index 40 30", ("/live2diff/t_index", (40, 30)), "t_index must be strictly increasing"),
    ("t_index 30 x", ("/live2diff/t_index", (30, "x")), "t_index steps must be whole numbers"),
])
def test_bad_values_are_refused_with_the_same_reason_everywhere(line: str, osc: tuple[str, tuple[object, ...]],
                                                                reason: str) -> None:
    escaped = reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(CommandError, match=escaped):
        parse_command(line)
    with pytest.raises(CommandError, match=escaped):
        parse_osc(*osc)


def test_the_negative_prompt_is_refused_with_why() -> None:
    with pytest.raises(CommandError, match="never uses one; 'guidance G' is its live guidance knob"):
        parse_command("negative blurry")


@pytest.mark.parametrize(("words", "line"), [
    (["blend", "cartoon", "van gogh", "0.5"], "blend cartoon 'van gogh' 0.5"),
    (["blend cartoon 'van gogh' 0.5"], "blend cartoon 'van gogh' 0.5"),
    (["style", "oil", "painting"], "style oil painting"),
    (["style", "oil painting"], "style oil painting"),
    (["prompt", "a fox's den, at night"], "prompt a fox's den, at night"),
    (["lora", "paint 'wash'", "0.3"], "lora 'paint '\"'\"'wash'\"'\"'' 0.3"),
    (["t_index", "20", "35"], "t_index 20 35"),
])
def test_argv_words_become_the_command_a_shell_user_meant(words: list[str], line: str) -> None:
    assert command_line(words) == line
    parse_command(line)


def test_blend_with_a_spaced_name_from_argv_parses_to_three_arguments() -> None:
    action = parse_command(command_line(["blend", "cartoon", "van gogh", "0.5"]))
    assert (action.a, action.b, action.t) == ("cartoon", "van gogh", 0.5)  # type: ignore[union-attr]
    lora = parse_command(command_line(["lora", "paint 'wash'", "0.3"]))
    assert lora.name == "paint 'wash'"  # type: ignore[union-attr]


def test_the_http_api_refuses_bad_values_with_the_reason(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, port=0)
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=5,
                          headers={"Authorization": f"Bearer {srv.token}"}) as c:
            for line, reason in (("seed 4.5", "seed must be a whole number"), ("prompt", "prompt must be some text"),
                                 ("strength 3", "strength S must be a number in (0, 1]")):
                answer = c.post("/command", json={"command": line})
                assert answer.status_code == 400 and reason in answer.json()["error"], answer.json()
            assert c.post("/command", json={"command": "prompt a fox"}).status_code == 200
    finally:
        srv.stop()
        consumer.stop()
    assert [type(a).__name__ for a in consumer.seen] == ["EditStyle"]
