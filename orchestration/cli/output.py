"""What the commands print: tables and key/value blocks for people, the API's JSON as it is
for `--json`, progress on stderr so that stdout stays parseable."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

# (header, row key or a function of the row)
Columns = list[tuple[str, Callable[[dict], Any] | str]]


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=False))

    def table(self, rows: list[dict], columns: Columns) -> None:
        print(render_table(rows, columns))

    def line(self, text: str = "") -> None:
        print(text)

    def progress(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def show(out: Output, data: Any, columns: Columns, single: bool = False) -> None:
    """A list (or with `single`, one object) as a table, or as JSON."""
    if out.as_json:
        out.json(data)
    elif single:
        out.table([data], columns)
    else:
        out.table(data, columns)


def deleted(out: Output, kind: str, ident: str) -> None:
    if out.as_json:
        out.json({"deleted": kind, "id": ident})
    else:
        out.line(f"Deleted {kind} {ident}.")


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\n", " ")


def render_table(rows: list[dict], columns: Columns) -> str:
    header = [name for name, _ in columns]
    body = [
        [cell(get(row) if callable(get) else row.get(get)) for _, get in columns] for row in rows
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def render_fields(pairs: Iterable[tuple[str, Any]]) -> str:
    pairs = list(pairs)
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in pairs)


def short_time(value: str | None) -> str | None:
    if not value:
        return None
    return value.replace("T", " ")[:19]
