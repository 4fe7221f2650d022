"""Live edits on top of a profile: validated as the file would be, kept per style, reconciled on reload."""

from __future__ import annotations

import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.config.live_edits import LiveEditError, LiveEdits


def profile(**style1: object) -> Profile:
    return Profile(styles=[{"name": "a", "prompt": "anime", "strength": 0.4},
                           {"name": "b", "prompt": "sketch", "seed": 3, **style1}])


def test_edits_override_their_own_style_only_and_revert() -> None:
    p, edits = profile(), LiveEdits()
    style = edits.set(p, "a", "prompt", "a red fox")
    assert style.prompt == "a red fox" and style.strength == 0.4
    edits.set(p, "a", "seed", 9)
    edits.set(p, "a", "guidance", 1.5)
    running = edits.effective(p)
    assert (running.style("a").prompt, running.style("a").seed, running.style("a").guidance) == ("a red fox", 9, 1.5)
    assert running.style("b") == p.style("b") and p.style("a").prompt == "anime"  # the file's profile is untouched
    assert edits.as_dict() == {"a": {"prompt": "a red fox", "seed": 9, "guidance": 1.5}}
    assert edits.revert("a") == ["guidance", "prompt", "seed"]
    assert edits.effective(p) is p and edits.revert("a") == []


def test_strength_and_t_index_are_alternatives_and_an_edit_back_to_the_file_is_no_edit() -> None:
    p, edits = profile(), LiveEdits()
    style = edits.set(p, "a", "t_index_list", (20, 35))
    assert style.t_index_list == [20, 35] and style.strength is None
    assert edits.effective(p).t_index_list(edits.style(p, "a")) == (20, 35)
    style = edits.set(p, "a", "strength", 0.6)
    assert style.strength == 0.6 and style.t_index_list is None and edits.of("a") == {"strength": 0.6}
    edits.set(p, "a", "strength", 0.4)  # the file's own value: nothing left to save
    assert edits.of("a") == {}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("strength", 0.01, "strength 0.01 denoises 1 of the 50 schedule steps, fewer than the 2 denoising steps"),
    ("strength", 1.5, "strength: Input should be less than or equal to 1, got 1.5"),
    ("prompt", None, "prompt: Input should be a valid string"),
    ("guidance", 12.0, "guidance: Input should be less than or equal to 10"),
    ("t_index_list", (40, 30), "t_index_list: Value error, must be strictly increasing"),
    ("hotkey", "ctrl+1", "'hotkey' is not a live parameter"),
])
def test_an_edit_the_file_could_not_hold_is_refused_and_changes_nothing(field: str, value: object, message: str) -> None:
    p, edits = profile(), LiveEdits()
    edits.set(p, "a", "seed", 5)
    with pytest.raises(LiveEditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        edits.set(p, "a", field, value)
    assert edits.of("a") == {"seed": 5}


def test_a_reload_lets_the_file_s_newer_value_win_and_drops_removed_styles() -> None:
    p, edits = profile(), LiveEdits()
    edits.set(p, "a", "prompt", "a red fox")
    edits.set(p, "a", "seed", 9)
    edits.set(p, "b", "guidance", 2.0)
    new = Profile(styles=[{"name": "a", "prompt": "watercolor", "strength": 0.4}])  # a's prompt edited, b removed
    lines = edits.reconcile(p, new)
    assert "style 'a': the profile's new prompt replaces the live edit" in lines
    assert any("style 'b' is gone from the profile" in line for line in lines)
    assert edits.as_dict() == {"a": {"seed": 9}}  # the seed edit stays: the file did not change the seed
    assert edits.style(new, "a").prompt == "watercolor"
