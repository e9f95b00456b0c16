"""orchestration.jsonsafe: strict JSON for every entry point that reads a client's JSON."""

from __future__ import annotations

import json

import pytest

from orchestration import jsonsafe

DEEP = 1000


@pytest.mark.parametrize(
    "text",
    [
        "[" * DEEP + "]" * DEEP,
        "[" * DEEP,  # unclosed
        '{"a":' * DEEP + "1" + "}" * DEEP,
        '{"inputs": [{"data": ' + "[" * DEEP + "]" * DEEP + "}]}",
    ],
)
def test_deep_nesting_is_refused_by_name(text):
    for raw in (text, text.encode()):
        with pytest.raises(jsonsafe.JSONError, match="nested too deeply"):
            jsonsafe.loads(raw)


def test_nesting_up_to_the_limit_parses_and_brackets_in_strings_do_not_count():
    limit = jsonsafe.MAX_DEPTH
    assert jsonsafe.loads("[" * limit + "]" * limit) is not None
    with pytest.raises(jsonsafe.JSONError):
        jsonsafe.loads("[" * (limit + 1) + "]" * (limit + 1))
    text = json.dumps({"raw": "[{" * 5000 + '\\"[' * 100})
    assert jsonsafe.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ('{"n": NaN}', "NaN"),
        ('{"n": Infinity}', "Infinity"),
        ('{"n": -Infinity}', "-Infinity"),
        ('{"n": 1e400}', "out of range"),
        ('{"n": -1e400}', "out of range"),
    ],
)
def test_non_standard_numbers_are_refused(text, word):
    with pytest.raises(jsonsafe.JSONError, match=word):
        jsonsafe.loads(text)


def test_ordinary_json_and_malformed_json():
    assert jsonsafe.loads(b'{"a": [1, 2.5, -3e10, "x", null, true]}') == {
        "a": [1, 2.5, -3e10, "x", None, True]
    }
    with pytest.raises(jsonsafe.JSONError, match="Malformed JSON"):
        jsonsafe.loads(b"{")
    with pytest.raises(jsonsafe.JSONError, match="UTF-8"):
        jsonsafe.loads(b"\xff\xfe\xfa")


def test_dumps_never_writes_non_standard_numbers():
    assert jsonsafe.dumps({"a": 1.5}) == '{"a": 1.5}'
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):
            jsonsafe.dumps({"a": value})
