"""The request-level limits: JSON depth is measured before parsing (brackets in strings do not count) and deep or
broken JSON is a JsonRefused naming the depth, never a RecursionError; head sizes add up as sent."""

from __future__ import annotations

import pytest

from live2diff_broadcast.control.limits import MAX_JSON_DEPTH, JsonRefused, head_bytes, json_depth, load_json


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth('{"command": "style [[[{{{"}') == 1
    assert json_depth(r'["\"[[[", [1]]') == 2  # an escaped quote does not end the string
    assert json_depth("[" * 40) == 40 and json_depth("no brackets") == 0


@pytest.mark.parametrize("text", ["[" * (MAX_JSON_DEPTH + 1), "[" * 100_000 + "]" * 100_000, '{"a": ' * 5000 + "1" + "}" * 5000])
def test_deep_json_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(JsonRefused, match="nested .* deep, over the limit of 32"):
        load_json(text)


def test_json_at_the_limit_and_broken_json() -> None:
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    assert load_json('{"command": "next"}') == {"command": "next"}
    with pytest.raises(JsonRefused, match="not JSON"):
        load_json("{nope")


def test_head_bytes() -> None:
    assert head_bytes("/status", b"", [(b"host", b"127.0.0.1:7878")]) == len("/status") + 4 + 14 + 4
