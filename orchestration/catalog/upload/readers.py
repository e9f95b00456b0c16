"""Each form an upload arrives in (a folder, a .zip, a tar that may be gzip-, bzip2- or
xz-compressed) read as the same stream of ``Member``s, so that one loop in extract.py
applies the same rules to all of them.

Nothing here writes to disk or decides what is refused; readers only say what each
entry claims to be and how to open it.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from .errors import UploadError
from .limits import MiB, UploadLimits, total_too_big
from .members import Kind, archive_parts, check_name_chars, kind_of_mode
from .tree import entry_kind, is_ignored
from .unpacker import CHUNK, READ_ERRORS
from .zip_directory import central_directory_size


@dataclass(frozen=True)
class Member:
    raw: str  # the path as the source spells it, for messages
    kind: Kind
    # Checks the path and gives its parts; called once the entry has been counted.
    check_path: Callable[[], tuple[str, ...]]
    open: Callable[[], contextlib.AbstractContextManager[BinaryIO]]
    size: int | None = None  # what an archive header claims; None for a folder's files


# A generator, so that closing it early closes the archive it reads.
Members = Generator[Member, None, None]


def archive_kind(path: Path) -> str | None:
    """'zip', 'gz', 'bz2', 'xz' or 'tar' by the file's first bytes; None for anything else."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    return None


# --------------------------------------------------------------------------- folder


def folder_members(source: Path) -> Members:
    """The entries under source, sorted by name, folders before what they hold; links
    are reported, never followed."""

    def walk(folder: Path, prefix: tuple[str, ...]) -> Members:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            parts = (*prefix, entry.name)
            raw = "/".join(parts)
            kind = entry_kind(entry)
            yield Member(
                raw,
                kind,
                partial(_folder_parts, entry.name, parts),
                partial(_open_folder_file, entry.path, raw),
            )
            if kind is Kind.DIR and not is_ignored(parts, True):
                yield from walk(Path(entry.path), parts)

    return walk(source, ())


def _folder_parts(name: str, parts: tuple[str, ...]) -> tuple[str, ...]:
    # The folders above were checked when they were met.
    check_name_chars(name)
    return parts


def _open_folder_file(path: str, raw: str) -> BinaryIO:
    # O_NONBLOCK: a file swapped for a named pipe since it was listed must not hang us.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.fdopen(os.open(path, flags), "rb")
    except OSError as exc:
        raise UploadError(raw, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise UploadError(raw, "is not a regular file")
    return handle


# --------------------------------------------------------------------------- zip


def zip_members(path: Path, name: str, limits: UploadLimits) -> Members:
    with open(path, "rb") as fh:
        directory = central_directory_size(fh)
        if directory is not None:
            listed, directory_bytes = directory
            if listed > limits.max_entries or directory_bytes > limits.max_entries * 1024 + MiB:
                raise UploadError(name, f"has more than {limits.max_files} files")
        fh.seek(0)
        try:
            archive = zipfile.ZipFile(fh)
        except READ_ERRORS as exc:
            raise UploadError(
                name, f"is not a valid .zip archive (corrupt or truncated: {exc})"
            ) from None
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise UploadError(name, f"has more than {limits.max_files} files")
            for info in infos:
                raw = info.orig_filename
                kind = kind_of_mode(info.external_attr >> 16)
                if kind is Kind.FILE and raw.endswith("/"):
                    kind = Kind.DIR
                yield Member(
                    raw,
                    kind,
                    partial(archive_parts, raw),
                    partial(_open_zip_member, archive, info, name),
                    info.file_size,
                )


def _open_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> BinaryIO:
    raw = info.orig_filename
    if info.flag_bits & 0x1:
        raise UploadError(raw, "is encrypted; upload an archive without a password")
    try:
        return archive.open(info)
    except READ_ERRORS as exc:
        raise UploadError(name, f"is corrupt or truncated: {raw} cannot be read ({exc})") from None


# --------------------------------------------------------------------------- tar


class _BoundedReader(io.RawIOBase):
    """A decompressed stream that refuses to give more than ``cap`` bytes in total.

    Tar metadata (long names, pax headers) is read through this too, so a hostile
    header cannot make tarfile unpack gigabytes into memory.
    """

    def __init__(self, raw: BinaryIO, cap: int, on_exceed: UploadError) -> None:
        super().__init__()
        self.raw = raw
        self.cap = cap
        self.position = 0
        self.on_exceed = on_exceed

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        allowed = self.cap - self.position + 1
        size = allowed if size is None or size < 0 else min(size, allowed)
        data = self.raw.read(size)
        self.position += len(data)
        if self.position > self.cap:
            raise self.on_exceed
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed(kind: str, fh: BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    if kind == "gz":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(fh, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    return contextlib.nullcontext(fh)


def _tar_kind(member: tarfile.TarInfo) -> Kind:
    if member.issym():
        return Kind.SYMLINK
    if member.islnk():
        return Kind.HARDLINK
    if member.ischr() or member.isblk():
        return Kind.DEVICE
    if member.isfifo():
        return Kind.FIFO
    if member.isdir():
        return Kind.DIR
    if member.isreg():
        return Kind.FILE
    return Kind.OTHER


def _invalid_tar(name: str, exc: BaseException) -> UploadError:
    return UploadError(name, f"is not a valid .tar.gz archive (corrupt or truncated: {exc})")


def tar_members(path: Path, kind: str, name: str, limits: UploadLimits) -> Members:
    """Members of a tar read as a stream (each member's data must be read before the
    next member is asked for); ``kind`` is the compression archive_kind() found."""
    # Room for headers, padding and long-name records around the file bytes.
    cap = limits.max_total_bytes + limits.max_entries * 8192 + MiB
    too_big = UploadError(name, total_too_big(limits))
    with open(path, "rb") as fh, _decompressed(kind, fh) as raw:
        stream = _BoundedReader(raw, cap, too_big)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    yield Member(
                        member.name,
                        _tar_kind(member),
                        partial(archive_parts, member.name),
                        partial(_open_tar_member, archive, member, name),
                        member.size,
                    )
            # tarfile stops at the end-of-archive marker; read on to the end so the
            # compressed stream's checksum is verified too.
            while stream.read(CHUNK):
                pass
        except (*READ_ERRORS, RecursionError) as exc:
            raise _invalid_tar(name, exc) from None


def _open_tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> BinaryIO:
    try:
        data = archive.extractfile(member)
    except (*READ_ERRORS, RecursionError) as exc:
        raise _invalid_tar(name, exc) from None
    if data is None:  # pragma: no cover - regular members always have data
        raise UploadError(member.name, "cannot be read")
    return data
