"""Checking requirements.txt: plain pip requirements only, since models are built
offline from downloaded wheels (no options, no URLs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .errors import UploadError
from .limits import MAX_TEXT_FILE_BYTES
from .tree import REQUIREMENTS_FILE, read_text


def check_requirements(root: Path) -> list[str]:
    """The normalized requirement lines of root/requirements.txt; [] without the file."""
    path = root / REQUIREMENTS_FILE
    if not path.exists() and not path.is_symlink():
        return []
    text = read_text(root, REQUIREMENTS_FILE, "is missing", MAX_TEXT_FILE_BYTES)
    requirements = []
    for number, raw in _requirement_lines(text):
        line = re.sub(r"(^|\s+)#.*$", "", raw).strip()
        if not line:
            continue
        where = f"line {number}"
        if line.startswith("-"):
            option = re.split(r"[\s=]", line, maxsplit=1)[0]
            raise UploadError(
                REQUIREMENTS_FILE,
                f"{where}: options such as '{option}' are not supported; models are built "
                "offline from downloaded wheels, so list plain requirements such as numpy>=1.26",
            )
        option = re.search(r"\s(--?[A-Za-z][\w-]*)", line)
        if option:
            raise UploadError(
                REQUIREMENTS_FILE,
                f"{where}: options such as '{option.group(1)}' are not supported; "
                "list plain requirements such as numpy>=1.26",
            )
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
            raise UploadError(
                REQUIREMENTS_FILE, f"{where}: {line!r} is not a valid requirement ({reason})"
            ) from None
        if requirement.url:
            raise UploadError(
                REQUIREMENTS_FILE,
                f"{where}: {line!r} refers to a URL; models are built offline, "
                "so name a package and version instead",
            )
        requirements.append(str(requirement))
    return requirements


def _requirement_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, logical line), joining lines that end with a backslash, as pip does."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if line.endswith("\\") and not line.lstrip().startswith("#"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)
