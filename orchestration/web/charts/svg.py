"""Escaping and number formatting for SVG text and attribute values."""

from __future__ import annotations

from html import escape


def esc(value: object) -> str:
    """``value`` as text escaped for an element body or a double-quoted attribute."""
    return escape(str(value), quote=True)


def class_attr(*names: str) -> str:
    """An escaped class attribute value from the non-empty names."""
    return esc(" ".join(n.strip() for n in names if n and n.strip()))


def num(value: float) -> str:
    """A coordinate or number with at most 2 decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_value(value: float) -> str:
    """A data value for a label: whole numbers without decimals, else at most 2 decimals."""
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.2f}".rstrip("0").rstrip(".")
