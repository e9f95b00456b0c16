"""The import arrows between the project's packages run downwards (issue 13).

Layers, bottom to top; a module may import its own layer and those below. An arrow that
runs back up must be in ALLOWED_UPWARD, with the reason; packages must not import each
other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "orchestration"

LAYERS = [
    # The bottom: shared rules and helpers that import no app.
    {"constants", "quantities", "jsonsafe", "env", "errors", "db", "web", "autoscaling", "cli"},
    {"metrics"},  # the Prometheus series every layer records into
    {"accounts"},
    {"clusters"},
    {"nodepools"},
    {"catalog"},
    {"deployments"},
    {"predict"},
    {"api"},
    {"grpc_api"},  # Clarifai gRPC: the predict handler and the API's lookups
    {"portal"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}

# (importing package, imported package, module that does it): why it may run upwards.
ALLOWED_UPWARD: dict[tuple[str, str, str], str] = {}


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "orchestration" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYER else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _arrows() -> set[tuple[str, str, str]]:
    arrows = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts or len(rel.parts) < 2 or rel.parts[0] not in LAYER:
            continue
        source = rel.parts[0]
        for module in _imports(path):
            target = _package(module)
            if target and target != source:
                arrows.add((source, target, rel.as_posix()))
    return arrows


def test_no_arrow_runs_back_up_unless_allowed():
    upward = {a for a in _arrows() if LAYER[a[1]] > LAYER[a[0]]}
    unexpected = sorted(upward - ALLOWED_UPWARD.keys())
    assert not unexpected, f"imports that run back up: {unexpected}"
    assert len(ALLOWED_UPWARD) <= 2


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for source, target, _ in _arrows():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted((a, b) for a, targets in graph.items() for b in targets if reaches(b, a, {b}))
    allowed = {(a, b) for a, b, _ in ALLOWED_UPWARD} | {(b, a) for a, b, _ in ALLOWED_UPWARD}
    assert not [c for c in cycles if c not in allowed], f"import cycles: {cycles}"
