"""An upload as a folder on disk: its fixed file names, the junk that is skipped, and
walking and reading it without following links."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UploadError
from .limits import size_text
from .members import REFUSED_KINDS, Kind, kind_of_mode, refuse_kind

CONFIG_FILE = "config.yaml"
MODEL_FILE = "1/model.py"
REQUIREMENTS_FILE = "requirements.txt"

# Junk that archivers and editors add; skipped when unpacking, validating and packing.
IGNORED_DIRS = frozenset({"__MACOSX", "__pycache__"})
IGNORED_FILES = frozenset({".DS_Store"})


def is_ignored(parts: tuple[str, ...], is_dir: bool) -> bool:
    if any(part in IGNORED_DIRS for part in parts[:-1]):
        return True
    return parts[-1] in (IGNORED_DIRS if is_dir else IGNORED_FILES)


def entry_kind(entry: os.DirEntry[str]) -> Kind:
    """The kind of a folder entry, never following a link."""
    if entry.is_symlink():
        return Kind.SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return Kind.DIR
    if entry.is_file(follow_symlinks=False):
        return Kind.FILE
    kind = kind_of_mode(entry.stat(follow_symlinks=False).st_mode)
    # A file or folder here was replaced between the two looks: refuse it as well.
    return Kind.OTHER if kind in (Kind.FILE, Kind.DIR) else kind


def walk_files(root: Path) -> list[tuple[str, Path]]:
    """All files under root as (relative POSIX path, path), sorted by relative path.

    Refuses links and special files; skips IGNORED_DIRS and IGNORED_FILES.
    """
    found: list[tuple[str, Path]] = []

    def walk(folder: Path, prefix: tuple[str, ...]) -> None:
        with os.scandir(folder) as scan:
            entries = list(scan)
        for entry in entries:
            parts = (*prefix, entry.name)
            rel = "/".join(parts)
            kind = entry_kind(entry)
            refuse_kind(rel, kind)
            if is_ignored(parts, kind is Kind.DIR):
                continue
            if kind is Kind.DIR:
                walk(Path(entry.path), parts)
            else:
                found.append((rel, Path(entry.path)))

    walk(root, ())
    found.sort(key=lambda item: item[0])
    return found


def read_text(root: Path, rel: str, missing: str, max_bytes: int | None = None) -> str:
    """The UTF-8 text of the file ``rel`` (without a BOM); ``missing`` is the message when
    it is not there."""
    path = root / rel
    if path.is_symlink():
        raise UploadError(rel, REFUSED_KINDS[Kind.SYMLINK])
    if not path.exists():
        raise UploadError(rel, missing)
    if not path.is_file():
        raise UploadError(rel, "is a folder; expected a file")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise UploadError(rel, f"is {size_text(size)}; it may be at most {size_text(max_bytes)}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadError(
            rel,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")
