"""Unpacking (or copying) an upload into an empty folder, trusting nothing in it.

Member paths must stay inside the upload, links and device files are refused (see
members.REFUSED_KINDS), and sizes are counted on the bytes actually unpacked rather than
the headers, so zip bombs stop at the limit. The same loop handles folders, zips and
tars.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path, PurePosixPath

from .errors import UploadError
from .limits import UploadLimits, size_text
from .members import Kind, refuse_kind
from .readers import Members, archive_kind, folder_members, tar_members, zip_members
from .tree import CONFIG_FILE, is_ignored
from .unpacker import Unpacker


def extract_upload(
    source: Path,
    dest: Path,
    limits: UploadLimits = UploadLimits(),  # noqa: B008 - frozen, so sharing is safe
    *,
    filename: str | None = None,
) -> Path:
    """Unpack (or copy) an upload into the empty folder ``dest`` and return its root.

    ``source`` is a folder, a .zip or a .tar.gz (recognized by content; ``filename`` is the
    name the user gave it, for messages). The root is ``dest``, or the archive's single
    top-level folder when that holds config.yaml. On any failure ``dest`` is left empty
    (removed when this call created it) and an UploadError says what was refused.
    """
    source = Path(source)
    dest = Path(dest)
    name = _display_name(source, filename)
    if source.is_dir() and dest.resolve().is_relative_to(source.resolve()):
        raise ValueError(f"{dest} must not be inside the uploaded folder {source}")
    created = _prepare_dest(dest)
    try:
        unpacker = Unpacker(dest, limits, name)
        _unpack(_members(source, name, limits), unpacker)
        if unpacker.files == 0:
            raise UploadError(name, f"holds no files; an upload needs at least {CONFIG_FILE}")
        return _find_root(dest)
    except BaseException:
        clean(dest, created)
        raise


def _members(source: Path, name: str, limits: UploadLimits) -> Members:
    if source.is_dir():
        return folder_members(source)
    if not source.is_file():
        raise UploadError(name, "does not exist or is not a file or folder")
    archive_bytes = source.stat().st_size
    if archive_bytes > limits.max_archive_bytes:
        raise UploadError(
            name,
            f"is {size_text(archive_bytes)}; the largest accepted archive is "
            f"{size_text(limits.max_archive_bytes)}",
        )
    kind = archive_kind(source)
    if kind is None:
        raise UploadError(name, "is not a .zip or .tar.gz archive")
    if kind == "zip":
        return zip_members(source, name, limits)
    return tar_members(source, kind, name, limits)


def _unpack(members: Members, unpacker: Unpacker) -> None:
    """The one set of rules for every member, whatever the upload arrived as."""
    with contextlib.closing(members):
        for member in members:
            unpacker.count_entry()
            parts = member.check_path()
            refuse_kind(member.raw, member.kind)
            is_dir = member.kind is Kind.DIR
            if not parts or is_ignored(parts, is_dir):
                continue
            if is_dir:
                unpacker.add_dir(member.raw, parts)
                continue
            with member.open() as stream:
                unpacker.add_file(member.raw, parts, stream, member.size)


def _display_name(source: Path, filename: str | None) -> str:
    if filename:
        name = PurePosixPath(filename.replace("\\", "/")).name
        if name:
            return name
    return source.name or "upload"


def _prepare_dest(dest: Path) -> bool:
    """Make sure dest is an empty folder; True when this call created it."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise ValueError(f"{dest} must be an empty folder")
        if any(dest.iterdir()):
            raise ValueError(f"{dest} must be an empty folder")
        return False
    dest.mkdir(parents=True)
    return True


def _find_root(dest: Path) -> Path:
    if (dest / CONFIG_FILE).is_file():
        return dest
    children = list(dest.iterdir())
    if len(children) == 1 and children[0].is_dir() and (children[0] / CONFIG_FILE).is_file():
        return children[0]
    return dest


def clean(dest: Path, created: bool) -> None:
    """Empty dest again after a failure; remove it when it was created for the upload."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    if not dest.is_dir():
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
