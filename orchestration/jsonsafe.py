"""Strict JSON in and out, for every entry point that reads a client's JSON.

Python's `json` accepts what other parsers refuse (`NaN`, `Infinity`, `1e400` read as
infinity) and writes it back out, and a deeply nested document makes its parser, or any
recursive walk of the result, raise `RecursionError`. `loads` refuses all of these with a
`JSONError` whose message names the problem; `dumps` never writes non-standard numbers.

This module imports nothing from the project, so any layer can use it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# Deeper than any real request (Clarifai data objects nest a handful of levels), and far
# below the interpreter's recursion limit, so later recursive code is safe too.
MAX_DEPTH = 64


class JSONError(ValueError):
    """The text is not strict JSON, or nests deeper than allowed; the message says which."""


def _constant(name: str):
    raise JSONError(f"Non-standard number {name}: JSON has no NaN or Infinity")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JSONError(f"Number out of range: {text[:40]} does not fit a 64-bit float")
    return value


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON, at most `max_depth` arrays and objects deep."""
    opens = _opens(raw)
    if opens <= max_depth and not _long_digits(raw):
        # orjson is strict already (no NaN, no Infinity, no 1e400) and many times faster;
        # it reads integers past 64 bits as floats, so those (rare) take the path below.
        # What it refuses, the standard parser reads again to name the problem.
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    if opens > max_depth:
        # Only a document with that many brackets can be too deep: check it before
        # parsing, which recurses once per level.
        _check_depth(raw, max_depth)
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_float)
    except JSONError:
        raise
    except RecursionError:
        raise JSONError(f"JSON nested too deeply: at most {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise JSONError(f"Malformed JSON: not UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise JSONError(f"Malformed JSON: {exc}") from None
    return value


def dumps(value: Any, **kwargs) -> str:
    """json.dumps that raises ValueError rather than write NaN or Infinity."""
    return json.dumps(value, allow_nan=False, **kwargs)


def dumpb(value: Any) -> bytes:
    """Compact JSON bytes, fast, for values read by `loads` or built from them.

    orjson writes NaN as null instead of refusing it, so a value that may hold floats
    from elsewhere goes through `dumps`.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # Integers past 64 bits, which `loads` keeps exact.
        return dumps(value, separators=(",", ":")).encode()


_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def _long_digits(raw: bytes | bytearray | str) -> bool:
    pattern = _LONG_DIGITS if isinstance(raw, str) else _LONG_DIGITS_BYTES
    return pattern.search(raw) is not None


# A whole string literal (skipped: brackets inside it do not nest) or one bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_TOKENS_BYTES = re.compile(_TOKENS.pattern.encode(), re.DOTALL)


def _opens(raw: bytes | bytearray | str) -> int:
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def _check_depth(raw: bytes | bytearray | str, max_depth: int) -> None:
    """Raise JSONError when brackets outside strings nest deeper than max_depth.

    The regular expression skips string contents in C, so the loop runs once per string
    or bracket; malformed text is left for the parser to describe.
    """
    tokens = _TOKENS.finditer(raw) if isinstance(raw, str) else _TOKENS_BYTES.finditer(raw)
    opening = "[{" if isinstance(raw, str) else (ord("["), ord("{"))
    closing = "]}" if isinstance(raw, str) else (ord("]"), ord("}"))
    depth = 0
    for token in tokens:
        first = token.group()[0]
        if first in opening:
            depth += 1
            if depth > max_depth:
                raise JSONError(f"JSON nested too deeply: at most {max_depth} levels")
        elif first in closing:
            depth -= 1
