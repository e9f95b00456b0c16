"""Checking 1/model.py by parsing it, never importing it: one model class with a
predict(self, inputs) method, found the way the runner finds it, and whether it also
streams (a generate(self, inputs) method)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import UploadError
from .tree import MODEL_FILE, read_text


@dataclass(frozen=True)
class ModelCode:
    name: str  # the model class
    streams: bool  # it (or a class of this file it inherits from) defines generate()


def check_model_code(root: Path) -> ModelCode:
    """Parse 1/model.py (never import it) and describe its model class."""
    text = read_text(
        root, MODEL_FILE, "not found: the model class goes in 1/model.py, in a folder named 1"
    )
    try:
        tree = ast.parse(text, filename=MODEL_FILE)
    except SyntaxError as exc:
        raise UploadError(MODEL_FILE, f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UploadError(MODEL_FILE, f"cannot be parsed as Python ({exc})") from None

    classes = [node for node in _statements(tree.body) if isinstance(node, ast.ClassDef)]
    # Like the runner: classes with predict are the candidates, or, when none has it,
    # classes with generate (a streaming-only model); a helper class with a generate
    # method beside a predict model is not a second model.
    method = "predict"
    defs, candidates = _classes_with(classes, method)
    if not candidates:
        method = "generate"
        defs, candidates = _classes_with(classes, method)
    if not candidates:
        raise UploadError(
            MODEL_FILE,
            "defines no class with a predict method; "
            "expected a class with def predict(self, inputs) -> list[dict] "
            "(or, for a streaming model, def generate(self, inputs) that yields lists)",
        )
    used_as_base = {
        _base_name(base) for cls in classes if cls.name in candidates for base in cls.bases
    }
    leaves = sorted(candidates - used_as_base)
    if len(leaves) > 1:
        raise UploadError(
            MODEL_FILE,
            f"defines several model classes ({', '.join(leaves)}); "
            f"keep exactly one class with a {method} method",
        )
    for func in defs.values():
        args = func.args
        positional = len(args.posonlyargs) + len(args.args)
        is_static = any(_base_name(d) == "staticmethod" for d in func.decorator_list)
        if args.vararg is None and positional < (1 if is_static else 2):
            raise UploadError(
                MODEL_FILE,
                f"line {func.lineno}: {method} must take the inputs: def {method}(self, inputs)",
            )
    name = leaves[0] if leaves else sorted(candidates)[0]
    generates, _ = _classes_with(classes, "generate")
    return ModelCode(name, _inherits(name, set(generates), classes))


def _inherits(name: str, owners: set[str], classes: list[ast.ClassDef]) -> bool:
    """Whether class `name` or one of its bases in this file is among `owners`."""
    by_name = {cls.name: cls for cls in classes}
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in owners:
            return True
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        todo.extend(b for b in (_base_name(base) for base in by_name[current].bases) if b)
    return False


def _classes_with(
    classes: list[ast.ClassDef], method: str
) -> tuple[dict[str, ast.FunctionDef | ast.AsyncFunctionDef], set[str]]:
    """The classes defining `method` (name -> its def), and every class that counts as
    having it: defining it, or inheriting it from a class of this file that does."""
    # The runner iterates generate() synchronously: an async def generate does not stream.
    kinds = ast.FunctionDef | ast.AsyncFunctionDef if method == "predict" else ast.FunctionDef
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for cls in classes:
        for node in _statements(cls.body):
            if isinstance(node, kinds) and node.name == method:
                defs[cls.name] = node
    candidates = set(defs)
    changed = True
    while changed:
        changed = False
        for cls in classes:
            bases = {_base_name(base) for base in cls.bases}
            if cls.name not in candidates and bases & candidates:
                candidates.add(cls.name)
                changed = True
    return defs, candidates


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a module or class body, including those inside if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With | ast.AsyncWith | ast.Try | ast.TryStar):
            for name in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(node, name, []))
            for handler in getattr(node, "handlers", []):
                yield from _statements(handler.body)


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None
