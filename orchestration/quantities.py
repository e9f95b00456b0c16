"""Kubernetes-style quantities: CPU cores ("500m", "2") and memory bytes ("512Mi", "1G").

Plain Python, no Django: used by upload validation, models and forms alike.

- ``parse_cpu`` accepts cores as a number or a string: "2", "0.5", "500m" (millicores).
- ``parse_memory`` accepts bytes as a number or a string with a binary suffix (Ki Mi Gi Ti Pi
  Ei, powers of 1024), a decimal suffix (k M G T P E, powers of 1000) or an exponent ("129e6").
  Fractions of a byte round up, as Kubernetes does.
- ``format_cpu`` / ``format_memory`` give short strings that the parsers read back exactly.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

__all__ = ["MAX_MEMORY_BYTES", "format_cpu", "format_memory", "parse_cpu", "parse_memory"]

# Kubernetes stores quantities as int64.
MAX_MEMORY_BYTES = 2**63 - 1

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_CPU_RE = re.compile(rf"^\+?(?P<num>{_NUMBER})(?P<suffix>m|[eE][+-]?\d{{1,3}})?$")
_MEMORY_RE = re.compile(
    rf"^\+?(?P<num>{_NUMBER})(?P<suffix>[KMGTPE]i|[eE][+-]?\d{{1,3}}|[kMGTPE])?$"
)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}

_CPU_HELP = "use cores such as 2 or 0.5, or millicores such as 500m"
_MEMORY_HELP = (
    "use bytes such as 134217728, or a number with a suffix: Ki, Mi, Gi, Ti, Pi, Ei "
    "(powers of 1024) or k, M, G, T, P, E (powers of 1000), such as 512Mi or 1G"
)


def _number_input(value: object, kind: str, help_text: str) -> Decimal | str:
    """A number passed as int/float becomes a Decimal; a string is returned stripped."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{value!r} is not a {kind} quantity: {help_text}")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"an empty value is not a {kind} quantity: {help_text}")
        if text.startswith("-"):
            raise ValueError(f"{value!r} is not a {kind} quantity: it must not be negative")
        return text
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a {kind} quantity: {help_text}")
    number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    if number < 0:
        raise ValueError(f"{value!r} is not a {kind} quantity: it must not be negative")
    return number


def parse_cpu(value: str | int | float) -> float:
    """CPU cores from a Kubernetes quantity: "500m" -> 0.5, "2" -> 2.0, 1.5 -> 1.5."""
    parsed = _number_input(value, "CPU", _CPU_HELP)
    if isinstance(parsed, Decimal):
        return float(parsed)
    match = _CPU_RE.match(parsed)
    if not match:
        raise ValueError(f"{value!r} is not a CPU quantity: {_CPU_HELP}")
    number = Decimal(match["num"])
    suffix = match["suffix"]
    if suffix == "m":
        number = number / 1000
    elif suffix:
        number = number.scaleb(int(suffix[1:]))
    return float(number)


def _memory_hint(text: str) -> str:
    """A suggestion for common mistakes: "500m" (millibytes), "512MB", "1gi"."""
    match = re.match(rf"^\+?({_NUMBER})\s*([A-Za-z]+)$", text)
    if not match:
        return ""
    number, suffix = match.groups()
    if suffix == "m":
        return f"; 'm' means thousandths of a byte: did you mean {number}M or {number}Mi?"
    stripped = suffix[:-1] if suffix[-1] in "bB" and len(suffix) > 1 else suffix
    for candidate in (*_BINARY, *_DECIMAL):
        if stripped.lower() == candidate.lower():
            binary = candidate[0].upper() + "i" if candidate != "k" else "Ki"
            decimal = "k" if candidate[0] in "kK" else candidate[0].upper()
            return f"; did you mean {number}{binary} or {number}{decimal}?"
    return ""


def parse_memory(value: str | int | float) -> int:
    """Bytes from a Kubernetes quantity: "512Mi", "1Gi", "1G", "129e6", "128974848"."""
    parsed = _number_input(value, "memory", _MEMORY_HELP)
    if isinstance(parsed, Decimal):
        number = parsed
    else:
        match = _MEMORY_RE.match(parsed)
        if not match:
            hint = _memory_hint(parsed)
            raise ValueError(
                f"{value!r} is not a memory quantity: {hint[2:] if hint else _MEMORY_HELP}"
            )
        number = Decimal(match["num"])
        suffix = match["suffix"]
        if suffix in _BINARY:
            number *= _BINARY[suffix]
        elif suffix in _DECIMAL:
            number *= _DECIMAL[suffix]
        elif suffix:
            number = number.scaleb(int(suffix[1:]))
    try:
        if number > MAX_MEMORY_BYTES:
            raise ValueError(
                f"{value!r} is too large a memory quantity "
                f"(the largest is {MAX_MEMORY_BYTES} bytes, just under 8Ei)"
            )
        return int(number.to_integral_value(rounding=ROUND_CEILING))
    except InvalidOperation:  # pragma: no cover - guarded by the regex and the bound above
        raise ValueError(f"{value!r} is not a memory quantity: {_MEMORY_HELP}") from None


def _trim(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_memory(num_bytes: int) -> str:
    """A short exact form of a byte count: 536870912 -> "512Mi", 1610612736 -> "1.5Gi".

    Picks the shortest of plain bytes, a binary unit (with up to 3 decimals) and an exact
    decimal unit; parse_memory() reads the result back to the same number.
    """
    if isinstance(num_bytes, bool) or not isinstance(num_bytes, int):
        if isinstance(num_bytes, float) and num_bytes.is_integer():
            num_bytes = int(num_bytes)
        else:
            raise ValueError(f"{num_bytes!r} is not a whole number of bytes")
    if num_bytes < 0:
        raise ValueError(f"{num_bytes!r} is not a memory size: it must not be negative")
    candidates = [str(num_bytes)]
    for suffix, unit in _BINARY.items():
        if num_bytes >= unit and (num_bytes * 1000) % unit == 0:
            candidates.append(_trim(Decimal(num_bytes) / unit) + suffix)
    for suffix, unit in _DECIMAL.items():
        if num_bytes >= unit and num_bytes % unit == 0:
            candidates.append(f"{num_bytes // unit}{suffix}")
    # min() keeps the first of equal lengths: plain bytes, then binary, then decimal units.
    return min(candidates, key=len)


def format_cpu(cores: float | int) -> str:
    """Cores as Kubernetes writes them: 2 -> "2", 0.5 -> "500m", 1.5 -> "1500m"."""
    if isinstance(cores, bool) or not isinstance(cores, int | float | Decimal):
        raise ValueError(f"{cores!r} is not a number of CPU cores")
    if isinstance(cores, float) and not math.isfinite(cores):
        raise ValueError(f"{cores!r} is not a number of CPU cores")
    if cores < 0:
        raise ValueError(f"{cores!r} is not a number of CPU cores: it must not be negative")
    number = Decimal(repr(cores)) if isinstance(cores, float) else Decimal(cores)
    # Float arithmetic leaves noise (0.1 + 0.2); nanocores are far finer than any scheduler.
    number = number.quantize(Decimal("1e-9")) if number < 10**12 else number
    if number == number.to_integral_value():
        return str(int(number))
    millis = number * 1000
    if millis == millis.to_integral_value():
        return f"{int(millis)}m"
    return _trim(number)
