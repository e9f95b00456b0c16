"""Writing an upload's checked files and folders into the destination folder, counting
entries, files and the bytes actually written against the limits."""

from __future__ import annotations

import lzma
import os
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import UploadError
from .limits import MiB, UploadLimits, size_text, total_too_big

CHUNK = MiB

# What reading a corrupt or truncated archive member can raise.
READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


class Unpacker:
    """Writes checked files and folders under dest, counting files and real bytes."""

    def __init__(self, dest: Path, limits: UploadLimits, archive_name: str) -> None:
        self.dest = dest
        self.dest_resolved = dest.resolve()
        self.limits = limits
        self.name = archive_name
        self.entries = 0
        self.files = 0
        self.total = 0
        self.file_paths: set[tuple[str, ...]] = set()
        self.dir_paths: set[tuple[str, ...]] = set()

    def count_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise UploadError(
                self.name,
                f"has more than {self.limits.max_entries} entries; "
                f"an upload may hold at most {self.limits.max_files} files",
            )

    def _target(self, raw: str, parts: tuple[str, ...]) -> Path:
        for cut in range(1, len(parts)):
            if parts[:cut] in self.file_paths:
                raise UploadError(raw, f"is inside '{'/'.join(parts[:cut])}', which is a file")
        target = self.dest.joinpath(*parts)
        # Belt and braces: nothing written here can be a link, but check anyway.
        if not target.parent.resolve().is_relative_to(self.dest_resolved):
            raise UploadError(raw, "points outside the upload")
        return target

    def add_dir(self, raw: str, parts: tuple[str, ...]) -> None:
        if parts in self.file_paths:
            raise UploadError(raw, "is both a file and a folder in the archive")
        target = self._target(raw, parts)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UploadError(raw, f"could not be unpacked ({exc.strerror or exc})") from None
        self.dir_paths.add(parts)

    def add_file(
        self, raw: str, parts: tuple[str, ...], stream: BinaryIO, declared_size: int | None
    ) -> None:
        """Copy ``stream`` to the member's place; ``declared_size`` is what the archive's
        header claims (None for a folder), checked first but never trusted."""
        limits = self.limits
        if declared_size is not None and declared_size > limits.max_file_bytes:
            self.check_sizes(raw, declared_size, 0)
        self.files += 1
        if self.files > limits.max_files:
            raise UploadError(self.name, f"has more than {limits.max_files} files")
        if parts in self.file_paths:
            raise UploadError(raw, "appears twice in the archive")
        if parts in self.dir_paths:
            raise UploadError(raw, "is both a file and a folder in the archive")
        if declared_size is not None:
            self.check_sizes(raw, declared_size, self.total + declared_size)
        target = self._target(raw, parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            out = os.fdopen(os.open(target, flags, 0o644), "wb")
        except OSError as exc:
            raise UploadError(raw, f"could not be unpacked ({exc.strerror or exc})") from None
        self.file_paths.add(parts)
        written = 0
        with out:
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except READ_ERRORS as exc:
                    raise UploadError(
                        self.name, f"is corrupt or truncated: {raw} cannot be read ({exc})"
                    ) from None
                if not chunk:
                    break
                written += len(chunk)
                self.total += len(chunk)
                self.check_sizes(raw, written, self.total)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise UploadError(
                        raw, f"could not be unpacked ({exc.strerror or exc})"
                    ) from None

    def check_sizes(self, raw: str, file_bytes: int, total_bytes: int) -> None:
        limits = self.limits
        if file_bytes > limits.max_file_bytes:
            raise UploadError(
                raw,
                f"unpacks to more than {size_text(limits.max_file_bytes)}, the limit for one file",
            )
        if total_bytes > limits.max_total_bytes:
            raise UploadError(self.name, total_too_big(limits))
