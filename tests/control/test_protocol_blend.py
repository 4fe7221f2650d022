"""The 'blend' and 'lora' commands every control surface shares (the control stage's answers to bad ones:
tests/runtime/test_control_stage.py)."""

from __future__ import annotations

import pytest

from live2diff_broadcast.control.actions import BlendStyles, SetLoraWeight
from live2diff_broadcast.control.protocol import CommandError, parse_command


def test_blend_and_lora_parse_with_quoted_names() -> None:
    action = parse_command("blend anime 'oil painting' 0.25")
    assert isinstance(action, BlendStyles) and (action.a, action.b, action.t) == ("anime", "oil painting", 0.25)
    lora = parse_command("lora ink 1")
    assert isinstance(lora, SetLoraWeight) and (lora.name, lora.weight) == ("ink", 1.0)


@pytest.mark.parametrize(("line", "message"), [
    ("blend a b 1.5", "blend position T must be a number in [0, 1], got '1.5'"),
    ("blend a b nan", "blend position T must be a number in [0, 1], got 'nan'"),
    ("blend a 0.5", "expected 'blend A B T'"),
    ("blend a 'b 0.5", "cannot read"),
    ("lora ink heavy", "LoRA weight W must be a number in [0, 1], got 'heavy'"),
])
def test_bad_blend_and_lora_commands_say_what_was_expected(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_command(line)
