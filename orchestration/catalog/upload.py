"""Checking a model upload before anything is stored. Plain Python, no Django.

An upload is a folder, a .zip or a .tar.gz of one (see SPEC.md, "Model upload format"):

    config.yaml          model.id and optional compute needs
    requirements.txt     optional pip requirements
    1/model.py           one class with predict(self, inputs)
    1/...                anything else the model reads

``load_upload(source, workdir, limits)`` unpacks the upload safely into ``workdir`` and
checks it; every problem is an ``UploadError`` naming the file at fault (a path inside the
upload, or the archive's name) and saying what is wrong and what is accepted. On failure
nothing is left in ``workdir``. The caller stores ``pack_folder(upload.root)``, a
deterministic .tar.gz of the checked files.

Unpacking trusts nothing in the archive: member paths must stay inside the upload, links
and device files are refused, and sizes are counted on the bytes actually unpacked (not
the headers), so zip bombs stop at the limit. Model code is only parsed, never imported.
"""

from __future__ import annotations

import ast
import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from orchestration.quantities import format_memory, parse_cpu, parse_memory

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "MODEL_ID_PATTERN",
    "REQUIREMENTS_FILE",
    "ModelUpload",
    "UploadError",
    "UploadLimits",
    "extract_upload",
    "load_upload",
    "pack_folder",
    "validate_model_folder",
]

MiB = 2**20

CONFIG_FILE = "config.yaml"
MODEL_FILE = "1/model.py"
REQUIREMENTS_FILE = "requirements.txt"

MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_MODEL_ID_RE = re.compile(MODEL_ID_PATTERN)
_MODEL_ID_HELP = "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"

# Keys config.yaml may hold, per section.
TOP_LEVEL_KEYS = ("model", "inference_compute_info", "build_info")
MODEL_KEYS = ("id", "description", "model_type_id", "user_id", "app_id")
COMPUTE_KEYS = (
    "cpu_limit",
    "cpu_memory",
    "cpu_requests",
    "cpu_memory_requests",
    "num_accelerators",
    "accelerator_type",
    "accelerator_memory",
)
BUILD_KEYS = ("python_version",)

# Field sizes of the catalog models the values end up in.
MAX_DESCRIPTION_CHARS = 300
MAX_MODEL_TYPE_CHARS = 64
MAX_CPU_CORES = 99_999

# Text files read whole into memory: config.yaml and requirements.txt.
MAX_TEXT_FILE_BYTES = MiB

# Junk that archivers and editors add; skipped when unpacking, validating and packing.
IGNORED_DIRS = frozenset({"__MACOSX", "__pycache__"})
IGNORED_FILES = frozenset({".DS_Store"})

_MAX_PATH_CHARS = 1024
_CHUNK = MiB


@dataclass(frozen=True)
class UploadLimits:
    """How big an upload may be. Sizes in bytes; file counts exclude folders."""

    max_files: int = 1000
    max_total_bytes: int = 500 * MiB  # all files together, unpacked
    max_file_bytes: int = 200 * MiB  # one file, unpacked
    max_archive_bytes: int = 200 * MiB  # the .zip / .tar.gz as uploaded

    @property
    def max_entries(self) -> int:
        """Entries of any kind (files, folders, skipped junk) an archive may list."""
        return 2 * self.max_files + 64


class UploadError(Exception):
    """A problem with an upload: ``file`` is where (path inside the upload or the archive
    name), ``message`` what is wrong. ``str()`` is "config.yaml: model.id is missing"."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(file, message)
        self.file = file
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class ModelUpload:
    """A checked upload: what config.yaml says plus an inventory of the files."""

    model_id: str
    description: str
    model_type_id: str
    config: dict[str, Any]
    cpu: float | None  # cores per replica: cpu_limit, else cpu_requests
    memory_bytes: int | None  # bytes per replica: cpu_memory, else cpu_memory_requests
    num_accelerators: int
    requirements: list[str]  # normalized requirement lines, [] without requirements.txt
    files: list[str]  # relative POSIX paths, sorted
    total_bytes: int
    content_hash: str  # see _content_hash()
    root: Path
    model_class: str = ""  # name of the class in 1/model.py that has predict()


# --------------------------------------------------------------------------- helpers


def _size(num_bytes: int) -> str:
    text = format_memory(num_bytes)
    return f"{text}B" if text[-1].isalpha() else f"{text} bytes"


def _display_name(source: Path, filename: str | None) -> str:
    if filename:
        name = PurePosixPath(filename.replace("\\", "/")).name
        if name:
            return name
    return source.name or "upload"


def _is_ignored(parts: tuple[str, ...], is_dir: bool) -> bool:
    if any(part in IGNORED_DIRS for part in parts[:-1]):
        return True
    return parts[-1] in (IGNORED_DIRS if is_dir else IGNORED_FILES)


def _check_name_chars(raw: str) -> None:
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):
        raise UploadError(repr(raw)[1:-1], "has control characters in its name")
    if "\\" in raw:
        raise UploadError(
            raw, "has a backslash in its path; archives must separate folders with '/'"
        )


def _member_parts(raw: str) -> tuple[str, ...]:
    """The safe relative path of an archive member, as parts; () for the archive's root.

    Refuses absolute paths, drive letters, '..', backslashes and control characters
    rather than rewriting them: an archive holding such names is broken or hostile.
    """
    _check_name_chars(raw)
    if raw.startswith("/"):
        raise UploadError(raw, "is an absolute path; paths inside an upload must be relative")
    if re.match(r"^[A-Za-z]:", raw):
        raise UploadError(
            raw, "starts with a drive letter; paths inside an upload must be relative"
        )
    if len(raw) > _MAX_PATH_CHARS:
        raise UploadError(raw[:80] + "...", f"has a path longer than {_MAX_PATH_CHARS} characters")
    parts = tuple(part for part in raw.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UploadError(raw, "points outside the upload ('..' is not allowed in paths)")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in parts):
        raise UploadError(raw, "has a file or folder name longer than 255 bytes")
    return parts


class _Unpacker:
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
        limits = self.limits
        self.files += 1
        if self.files > limits.max_files:
            raise UploadError(self.name, f"has more than {limits.max_files} files")
        if parts in self.file_paths:
            raise UploadError(raw, "appears twice in the archive")
        if parts in self.dir_paths:
            raise UploadError(raw, "is both a file and a folder in the archive")
        if declared_size is not None:
            self._check_sizes(raw, declared_size, self.total + declared_size)
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
                    chunk = stream.read(_CHUNK)
                except _READ_ERRORS as exc:
                    raise UploadError(
                        self.name, f"is corrupt or truncated: {raw} cannot be read ({exc})"
                    ) from None
                if not chunk:
                    break
                written += len(chunk)
                self.total += len(chunk)
                self._check_sizes(raw, written, self.total)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise UploadError(
                        raw, f"could not be unpacked ({exc.strerror or exc})"
                    ) from None

    def _check_sizes(self, raw: str, file_bytes: int, total_bytes: int) -> None:
        limits = self.limits
        if file_bytes > limits.max_file_bytes:
            raise UploadError(
                raw, f"unpacks to more than {_size(limits.max_file_bytes)}, the limit for one file"
            )
        if total_bytes > limits.max_total_bytes:
            raise UploadError(
                self.name,
                f"unpacks to more than {_size(limits.max_total_bytes)}, "
                "the limit for a whole upload",
            )


_READ_ERRORS = (
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

    def read(self, size: int = -1) -> bytes:
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


def _archive_kind(path: Path) -> str | None:
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


def _unpack_zip(path: Path, unpacker: _Unpacker) -> None:
    name = unpacker.name
    limits = unpacker.limits
    with open(path, "rb") as fh:
        # Size up the central directory before zipfile parses all of it into memory.
        end_record = getattr(zipfile, "_EndRecData", None)
        record = end_record(fh) if end_record else None
        if record is not None:
            listed = record[zipfile._ECD_ENTRIES_TOTAL]
            directory_bytes = record[zipfile._ECD_SIZE]
            if listed > limits.max_entries or directory_bytes > limits.max_entries * 1024 + MiB:
                raise UploadError(name, f"has more than {limits.max_files} files")
        fh.seek(0)
        try:
            archive = zipfile.ZipFile(fh)
        except _READ_ERRORS as exc:
            raise UploadError(
                name, f"is not a valid .zip archive (corrupt or truncated: {exc})"
            ) from None
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise UploadError(name, f"has more than {limits.max_files} files")
            for info in infos:
                unpacker.count_entry()
                raw = info.orig_filename
                if "\x00" in raw:
                    raise UploadError(repr(raw)[1:-1], "has a NUL character in its name")
                parts = _member_parts(raw)
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind == stat.S_IFLNK:
                    raise UploadError(raw, "is a symbolic link; links are not allowed in uploads")
                if kind in (stat.S_IFCHR, stat.S_IFBLK):
                    raise UploadError(raw, "is a device file; only files and folders are allowed")
                if kind == stat.S_IFIFO:
                    raise UploadError(raw, "is a named pipe; only files and folders are allowed")
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise UploadError(raw, "is not a regular file or folder")
                is_dir = kind == stat.S_IFDIR or raw.endswith("/")
                if not parts or _is_ignored(parts, is_dir):
                    continue
                if is_dir:
                    unpacker.add_dir(raw, parts)
                    continue
                if info.flag_bits & 0x1:
                    raise UploadError(raw, "is encrypted; upload an archive without a password")
                try:
                    stream = archive.open(info)
                except _READ_ERRORS as exc:
                    raise UploadError(
                        name, f"is corrupt or truncated: {raw} cannot be read ({exc})"
                    ) from None
                with stream:
                    unpacker.add_file(raw, parts, stream, info.file_size)


def _decompressed(kind: str, fh: BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    if kind == "gz":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(fh, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    return contextlib.nullcontext(fh)


def _unpack_tar(path: Path, kind: str, unpacker: _Unpacker) -> None:
    name = unpacker.name
    limits = unpacker.limits
    # Room for headers, padding and long-name records around the file bytes.
    cap = limits.max_total_bytes + limits.max_entries * 8192 + MiB
    too_big = UploadError(
        name,
        f"unpacks to more than {_size(limits.max_total_bytes)}, the limit for a whole upload",
    )
    with open(path, "rb") as fh, _decompressed(kind, fh) as raw:
        stream = _BoundedReader(raw, cap, too_big)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    _unpack_tar_member(archive, member, unpacker)
            # tarfile stops at the end-of-archive marker; read on to the end so the
            # compressed stream's checksum is verified too.
            while stream.read(_CHUNK):
                pass
        except (*_READ_ERRORS, RecursionError) as exc:
            raise UploadError(
                name, f"is not a valid .tar.gz archive (corrupt or truncated: {exc})"
            ) from None


def _unpack_tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo, unpacker: _Unpacker):
    unpacker.count_entry()
    raw = member.name
    parts = _member_parts(raw)
    if member.issym():
        raise UploadError(raw, "is a symbolic link; links are not allowed in uploads")
    if member.islnk():
        raise UploadError(raw, "is a hard link; links are not allowed in uploads")
    if member.ischr() or member.isblk():
        raise UploadError(raw, "is a device file; only files and folders are allowed")
    if member.isfifo():
        raise UploadError(raw, "is a named pipe; only files and folders are allowed")
    if not (member.isdir() or member.isreg()):
        raise UploadError(raw, "is not a regular file or folder")
    if not parts or _is_ignored(parts, member.isdir()):
        return
    if member.isdir():
        unpacker.add_dir(raw, parts)
        return
    if member.size > unpacker.limits.max_file_bytes:
        unpacker._check_sizes(raw, member.size, 0)
    data = archive.extractfile(member)
    if data is None:  # pragma: no cover - isreg() members always have data
        raise UploadError(raw, "cannot be read")
    with data:
        unpacker.add_file(raw, parts, data, member.size)


def _copy_folder(source: Path, unpacker: _Unpacker) -> None:
    def walk(folder: Path, prefix: tuple[str, ...]) -> None:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            unpacker.count_entry()
            parts = (*prefix, entry.name)
            raw = "/".join(parts)
            _check_name_chars(entry.name)
            if entry.is_symlink():
                raise UploadError(raw, "is a symbolic link; links are not allowed in uploads")
            if entry.is_dir(follow_symlinks=False):
                if not _is_ignored(parts, True):
                    unpacker.add_dir(raw, parts)
                    walk(Path(entry.path), parts)
            elif entry.is_file(follow_symlinks=False):
                if _is_ignored(parts, False):
                    continue
                flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                try:
                    handle = os.fdopen(os.open(entry.path, flags), "rb")
                except OSError as exc:
                    raise UploadError(raw, f"cannot be read ({exc.strerror or exc})") from None
                with handle:
                    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                        raise UploadError(raw, "is not a regular file")
                    unpacker.add_file(raw, parts, handle, None)
            else:
                raise UploadError(raw, _special_file_message(entry.stat(follow_symlinks=False)))

    walk(source, ())


def _special_file_message(info: os.stat_result) -> str:
    mode = info.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file; only files and folders are allowed"
    if stat.S_ISFIFO(mode):
        return "is a named pipe; only files and folders are allowed"
    if stat.S_ISSOCK(mode):
        return "is a socket; only files and folders are allowed"
    return "is not a regular file or folder"


def _clean(dest: Path, created: bool) -> None:
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


def _find_root(dest: Path) -> Path:
    if (dest / CONFIG_FILE).is_file():
        return dest
    children = list(dest.iterdir())
    if len(children) == 1 and children[0].is_dir() and (children[0] / CONFIG_FILE).is_file():
        return children[0]
    return dest


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


# --------------------------------------------------------------------------- extract


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
        unpacker = _Unpacker(dest, limits, name)
        if source.is_dir():
            _copy_folder(source, unpacker)
        elif source.is_file():
            archive_bytes = source.stat().st_size
            if archive_bytes > limits.max_archive_bytes:
                raise UploadError(
                    name,
                    f"is {_size(archive_bytes)}; the largest accepted archive is "
                    f"{_size(limits.max_archive_bytes)}",
                )
            kind = _archive_kind(source)
            if kind is None:
                raise UploadError(name, "is not a .zip or .tar.gz archive")
            if kind == "zip":
                _unpack_zip(source, unpacker)
            else:
                _unpack_tar(source, kind, unpacker)
        else:
            raise UploadError(name, "does not exist or is not a file or folder")
        if unpacker.files == 0:
            raise UploadError(name, f"holds no files; an upload needs at least {CONFIG_FILE}")
        return _find_root(dest)
    except BaseException:
        _clean(dest, created)
        raise


# --------------------------------------------------------------------------- validate


def _walk_files(root: Path) -> list[tuple[str, Path]]:
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
            if entry.is_symlink():
                raise UploadError(rel, "is a symbolic link; links are not allowed in uploads")
            if entry.is_dir(follow_symlinks=False):
                if not _is_ignored(parts, True):
                    walk(Path(entry.path), parts)
            elif entry.is_file(follow_symlinks=False):
                if not _is_ignored(parts, False):
                    found.append((rel, Path(entry.path)))
            else:
                raise UploadError(rel, _special_file_message(entry.stat(follow_symlinks=False)))

    walk(root, ())
    found.sort(key=lambda item: item[0])
    return found


def _content_hash(files: list[tuple[str, Path]]) -> tuple[str, int]:
    """sha256 over the files in path order: for each, its UTF-8 path, NUL, its size in
    decimal, NUL, its bytes. Returns (hex digest, total bytes)."""
    digest = hashlib.sha256()
    total = 0
    for rel, path in files:
        size = path.stat().st_size
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0" + str(size).encode() + b"\0")
        read = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                read += len(chunk)
        if read != size:
            raise UploadError(rel, "changed while it was being read")
        total += size
    return digest.hexdigest(), total


def _read_text(root: Path, rel: str, missing: str, max_bytes: int | None = None) -> str:
    path = root / rel
    if path.is_symlink():
        raise UploadError(rel, "is a symbolic link; links are not allowed in uploads")
    if not path.exists():
        raise UploadError(rel, missing)
    if not path.is_file():
        raise UploadError(rel, "is a folder; expected a file")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise UploadError(rel, f"is {_size(size)}; it may be at most {_size(max_bytes)}")
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


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (which can expand exponentially) and duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":merge"):
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                        )
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _load_config(root: Path) -> dict[str, Any]:
    missing = "not found: an upload needs config.yaml at its top level, next to the folder 1/"
    if not (root / CONFIG_FILE).exists() and not (root / CONFIG_FILE).is_symlink():
        deeper = sorted(
            rel for rel, _ in _walk_files(root) if PurePosixPath(rel).name == CONFIG_FILE
        )
        if deeper:
            missing += f" (there is one at {deeper[0]}; upload the folder that holds it)"
    text = _read_text(root, CONFIG_FILE, missing, MAX_TEXT_FILE_BYTES)
    try:
        config = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        if exc.problem and exc.context and exc.context_mark and exc.problem_mark:
            problem += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise UploadError(CONFIG_FILE, f"is not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise UploadError(CONFIG_FILE, f"is not valid YAML: {exc}") from None
    if config is None:
        raise UploadError(CONFIG_FILE, "is empty; it needs a 'model' section with an 'id'")
    if not isinstance(config, dict):
        raise UploadError(
            CONFIG_FILE,
            f"must be a mapping of sections such as 'model:' at the top level, "
            f"not {_yaml_kind(config)}",
        )
    return config


def _check_keys(section: dict[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in section:
        if key not in allowed:
            where = f"under {prefix.rstrip('.')}" if prefix else "at the top level"
            raise UploadError(
                CONFIG_FILE, f"unknown key '{prefix}{key}' (allowed {where}: {', '.join(allowed)})"
            )


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UploadError(CONFIG_FILE, f"{key} must be a mapping of keys, not {_yaml_kind(value)}")
    return value


def _optional_text(section: dict[str, Any], key: str, path: str, max_chars: int | None) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UploadError(
            CONFIG_FILE, f"{path} must be text, not {_yaml_kind(value)}; put it in quotes"
        )
    if max_chars is not None and len(value) > max_chars:
        raise UploadError(CONFIG_FILE, f"{path} is longer than {max_chars} characters")
    return value


def _check_model_section(config: dict[str, Any]) -> tuple[str, str, str]:
    if "model" not in config:
        raise UploadError(CONFIG_FILE, "the 'model' section is missing; it needs at least model.id")
    model = _section(config, "model")
    _check_keys(model, MODEL_KEYS, "model.")
    model_id = model.get("id")
    if model_id is None or model_id == "":
        raise UploadError(CONFIG_FILE, "model.id is missing")
    if not isinstance(model_id, str):
        raise UploadError(
            CONFIG_FILE,
            f"model.id must be text, not {_yaml_kind(model_id)}; put it in quotes "
            f'(id: "{model_id}")',
        )
    if not _MODEL_ID_RE.match(model_id):
        raise UploadError(CONFIG_FILE, f"model.id {model_id!r} is not valid: {_MODEL_ID_HELP}")
    description = _optional_text(model, "description", "model.description", MAX_DESCRIPTION_CHARS)
    model_type_id = _optional_text(
        model, "model_type_id", "model.model_type_id", MAX_MODEL_TYPE_CHARS
    )
    _optional_text(model, "user_id", "model.user_id", None)
    _optional_text(model, "app_id", "model.app_id", None)
    return model_id, description, model_type_id


def _cpu_value(info: dict[str, Any], key: str) -> float | None:
    value = info.get(key)
    if value is None:
        return None
    path = f"inference_compute_info.{key}"
    try:
        cores = parse_cpu(value)
    except ValueError:
        raise UploadError(
            CONFIG_FILE, f"{path}: {value!r} is not a CPU quantity (examples: 500m, 2)"
        ) from None
    if cores <= 0:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} must be more than 0")
    if cores > MAX_CPU_CORES:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} is more than {MAX_CPU_CORES} cores")
    millis = cores * 1000
    if abs(millis - round(millis)) > 1e-6:
        raise UploadError(
            CONFIG_FILE, f"{path}: {value!r} is finer than 1m (a thousandth of a core)"
        )
    return cores


def _memory_value(info: dict[str, Any], key: str) -> int | None:
    value = info.get(key)
    if value is None:
        return None
    path = f"inference_compute_info.{key}"
    try:
        num_bytes = parse_memory(value)
    except ValueError as exc:
        detail = str(exc)
        hint = "; " + detail.split(": ", 1)[1] if "did you mean" in detail else ""
        raise UploadError(
            CONFIG_FILE,
            f"{path}: {value!r} is not a memory quantity (examples: 512Mi, 1Gi, 2G){hint}",
        ) from None
    if num_bytes <= 0:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} must be more than 0")
    return num_bytes


def _check_compute_section(config: dict[str, Any]) -> tuple[float | None, int | None, int]:
    info = _section(config, "inference_compute_info")
    _check_keys(info, COMPUTE_KEYS, "inference_compute_info.")
    cpu_limit = _cpu_value(info, "cpu_limit")
    cpu_requests = _cpu_value(info, "cpu_requests")
    memory_limit = _memory_value(info, "cpu_memory")
    memory_requests = _memory_value(info, "cpu_memory_requests")
    _memory_value(info, "accelerator_memory")
    if cpu_limit is not None and cpu_requests is not None and cpu_requests > cpu_limit:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.cpu_requests is more than cpu_limit; "
            "a replica cannot request more than its limit",
        )
    if memory_limit is not None and memory_requests is not None and memory_requests > memory_limit:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.cpu_memory_requests is more than cpu_memory; "
            "a replica cannot request more than its limit",
        )
    accelerators = info.get("num_accelerators")
    if accelerators is None:
        accelerators = 0
    if isinstance(accelerators, bool) or not isinstance(accelerators, int) or accelerators < 0:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.num_accelerators must be a whole number, 0 or more, "
            f"not {_yaml_kind(accelerators)}",
        )
    accelerator_type = info.get("accelerator_type")
    if accelerator_type is not None and not (
        isinstance(accelerator_type, str)
        or (
            isinstance(accelerator_type, list)
            and all(isinstance(item, str) for item in accelerator_type)
        )
    ):
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.accelerator_type must be text or a list of text, "
            f"not {_yaml_kind(accelerator_type)}",
        )
    cpu = cpu_limit if cpu_limit is not None else cpu_requests
    memory = memory_limit if memory_limit is not None else memory_requests
    return cpu, memory, accelerators


def _check_build_section(config: dict[str, Any]) -> None:
    build = _section(config, "build_info")
    _check_keys(build, BUILD_KEYS, "build_info.")
    version = build.get("python_version")
    if version is None:
        return
    if not isinstance(version, str):
        raise UploadError(
            CONFIG_FILE,
            f"build_info.python_version must be text, not {_yaml_kind(version)}; "
            'put it in quotes (python_version: "3.11")',
        )
    if not re.match(r"^3\.\d{1,2}$", version):
        raise UploadError(
            CONFIG_FILE, f'build_info.python_version {version!r} is not valid; use e.g. "3.11"'
        )


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


def _check_model_code(root: Path) -> str:
    """Parse 1/model.py (never import it) and return the name of its model class."""
    text = _read_text(
        root, MODEL_FILE, "not found: the model class goes in 1/model.py, in a folder named 1"
    )
    try:
        tree = ast.parse(text, filename=MODEL_FILE)
    except SyntaxError as exc:
        raise UploadError(MODEL_FILE, f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UploadError(MODEL_FILE, f"cannot be parsed as Python ({exc})") from None

    classes = [node for node in _statements(tree.body) if isinstance(node, ast.ClassDef)]
    predicts: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for cls in classes:
        for node in _statements(cls.body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "predict":
                predicts[cls.name] = node
    # Like the runner: a class counts when it defines predict or inherits it from one that
    # does in this file; of a class and its subclass, the subclass is the model.
    candidates = set(predicts)
    changed = True
    while changed:
        changed = False
        for cls in classes:
            bases = {_base_name(base) for base in cls.bases}
            if cls.name not in candidates and bases & candidates:
                candidates.add(cls.name)
                changed = True
    if not candidates:
        raise UploadError(
            MODEL_FILE,
            "defines no class with a predict method; "
            "expected a class with def predict(self, inputs) -> list[dict]",
        )
    used_as_base = {
        _base_name(base) for cls in classes if cls.name in candidates for base in cls.bases
    }
    leaves = sorted(candidates - used_as_base)
    if len(leaves) > 1:
        raise UploadError(
            MODEL_FILE,
            f"defines several model classes ({', '.join(leaves)}); "
            "keep exactly one class with a predict method",
        )
    for func in predicts.values():
        args = func.args
        positional = len(args.posonlyargs) + len(args.args)
        is_static = any(_base_name(d) == "staticmethod" for d in func.decorator_list)
        if args.vararg is None and positional < (1 if is_static else 2):
            raise UploadError(
                MODEL_FILE,
                f"line {func.lineno}: predict must take the inputs: def predict(self, inputs)",
            )
    return leaves[0] if leaves else sorted(candidates)[0]


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


def _check_requirements(root: Path) -> list[str]:
    path = root / REQUIREMENTS_FILE
    if not path.exists() and not path.is_symlink():
        return []
    text = _read_text(root, REQUIREMENTS_FILE, "is missing", MAX_TEXT_FILE_BYTES)
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


def validate_model_folder(root: Path) -> ModelUpload:
    """Check an unpacked upload and describe it; raises UploadError at the first problem.

    Checks config.yaml (YAML, known keys, model.id, value types, CPU and memory quantities),
    1/model.py (parses, has one class with predict), requirements.txt (plain pip
    requirements) and that everything is UTF-8 text where text is expected.
    """
    root = Path(root)
    files = _walk_files(root)
    config = _load_config(root)
    _check_keys(config, TOP_LEVEL_KEYS, "")
    model_id, description, model_type_id = _check_model_section(config)
    cpu, memory_bytes, num_accelerators = _check_compute_section(config)
    _check_build_section(config)
    model_class = _check_model_code(root)
    requirements = _check_requirements(root)
    content_hash, total_bytes = _content_hash(files)
    return ModelUpload(
        model_id=model_id,
        description=description,
        model_type_id=model_type_id,
        config=config,
        cpu=cpu,
        memory_bytes=memory_bytes,
        num_accelerators=num_accelerators,
        requirements=requirements,
        files=[rel for rel, _ in files],
        total_bytes=total_bytes,
        content_hash=content_hash,
        root=root,
        model_class=model_class,
    )


def load_upload(
    source: Path,
    workdir: Path,
    limits: UploadLimits = UploadLimits(),  # noqa: B008 - frozen, so sharing is safe
    *,
    filename: str | None = None,
) -> ModelUpload:
    """extract_upload() into ``workdir`` then validate_model_folder(); on failure
    ``workdir`` is left empty (removed when this call created it)."""
    workdir = Path(workdir)
    created = not workdir.exists()
    root = extract_upload(source, workdir, limits, filename=filename)
    try:
        return validate_model_folder(root)
    except BaseException:
        _clean(workdir, created)
        raise


def pack_folder(root: Path) -> bytes:
    """A deterministic .tar.gz of the files under root (sorted, no timestamps, owners or
    modes), with paths relative to root: the same files always give the same bytes."""
    root = Path(root)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for rel, path in _walk_files(root):
            with open(path, "rb") as fh:
                info = tarfile.TarInfo(rel)
                info.size = os.fstat(fh.fileno()).st_size
                info.mode = 0o644
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                archive.addfile(info, fh)
    return buffer.getvalue()
