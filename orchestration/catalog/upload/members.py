"""What an upload may hold: the one table of refused entry kinds, and the path rules.

Zip members, tar members, entries of an uploaded folder and files met while validating
are all sorted into a ``Kind``; everything but files and folders is refused with the
message in ``REFUSED_KINDS``, whatever the entry came from.
"""

from __future__ import annotations

import enum
import re
import stat

from .errors import UploadError

_MAX_PATH_CHARS = 1024


class Kind(enum.Enum):
    FILE = "file"
    DIR = "folder"
    SYMLINK = "symbolic link"
    HARDLINK = "hard link"
    DEVICE = "device file"
    FIFO = "named pipe"
    SOCKET = "socket"
    OTHER = "other"


REFUSED_KINDS: dict[Kind, str] = {
    Kind.SYMLINK: "is a symbolic link; links are not allowed in uploads",
    Kind.HARDLINK: "is a hard link; links are not allowed in uploads",
    Kind.DEVICE: "is a device file; only files and folders are allowed",
    Kind.FIFO: "is a named pipe; only files and folders are allowed",
    Kind.SOCKET: "is a socket; only files and folders are allowed",
    Kind.OTHER: "is not a regular file or folder",
}

_MODE_KINDS = {
    0: Kind.FILE,  # zip archivers that record no Unix mode
    stat.S_IFREG: Kind.FILE,
    stat.S_IFDIR: Kind.DIR,
    stat.S_IFLNK: Kind.SYMLINK,
    stat.S_IFCHR: Kind.DEVICE,
    stat.S_IFBLK: Kind.DEVICE,
    stat.S_IFIFO: Kind.FIFO,
    stat.S_IFSOCK: Kind.SOCKET,
}


def kind_of_mode(mode: int) -> Kind:
    """The kind of a Unix file mode, as os.stat() or a zip's external attributes give it."""
    return _MODE_KINDS.get(stat.S_IFMT(mode), Kind.OTHER)


def refuse_kind(raw: str, kind: Kind) -> None:
    """Raise for anything that is not a file or a folder."""
    if kind in REFUSED_KINDS:
        raise UploadError(raw, REFUSED_KINDS[kind])


def check_name_chars(raw: str) -> None:
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):
        raise UploadError(repr(raw)[1:-1], "has control characters in its name")
    if "\\" in raw:
        raise UploadError(
            raw, "has a backslash in its path; archives must separate folders with '/'"
        )


def archive_parts(raw: str) -> tuple[str, ...]:
    """The safe relative path of an archive member, as parts; () for the archive's root.

    Refuses absolute paths, drive letters, '..', backslashes and control characters
    rather than rewriting them: an archive holding such names is broken or hostile.
    """
    if "\x00" in raw:
        raise UploadError(repr(raw)[1:-1], "has a NUL character in its name")
    check_name_chars(raw)
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
