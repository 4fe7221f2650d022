"""The 'blend' and 'lora' commands every control surface shares, and the supervisor's answers to bad ones."""

from __future__ import annotations

import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.control.actions import BlendStyles, SetLoraWeight
from live2diff_broadcast.control.protocol import CommandError, parse_command
from live2diff_broadcast.plugin_api import PluginSettings
from live2diff_broadcast.runtime.messages import style_message
from live2diff_broadcast.runtime.supervisor import Supervisor
from tests.runtime.harness import FakeSource, RecordingSink


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


def test_the_supervisor_refuses_bad_blends_with_the_reason() -> None:
    profile = Profile(styles=[{"name": "s0", "prompt": "a"}, {"name": "s1", "prompt": "b", "strength": 0.6},
                              {"name": "s3", "prompt": "c", "t_index_list": [10, 20, 30]}])
    sup = Supervisor(profile, lambda: FakeSource(PluginSettings()), lambda: RecordingSink(PluginSettings()))
    sup._sent = style_message(profile, "s0")
    unknown = sup._control(BlendStyles("s0", "nope", 0.5))
    assert not unknown.ok and "no style named 'nope'; styles: s0, s1, s3" in unknown.message
    out_of_range = sup._control(BlendStyles("s0", "s1", 2.0))
    assert not out_of_range.ok and "must be a number in [0, 1]" in out_of_range.message
    steps = sup._control(BlendStyles("s0", "s3", 0.5))
    assert not steps.ok and "cannot blend styles with 2 and 3 denoising steps" in steps.message
    no_engine = sup._control(BlendStyles("s0", "s1", 0.5))  # valid, but no engine runs in this test
    assert not no_engine.ok and "restarting" in no_engine.message
    assert not sup._control(SetLoraWeight("ink", 3.0)).ok
    no_lora = sup._control(SetLoraWeight("ink", 0.5))
    assert not no_lora.ok and "no LoRA named 'ink' in style 's0'; its LoRAs: none (the tiny preset loads no LoRAs)" in no_lora.message
