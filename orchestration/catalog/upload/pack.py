"""The checked files as the deterministic .tar.gz the catalog stores."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

from .tree import walk_files


def pack_folder(root: Path) -> bytes:
    """A deterministic .tar.gz of the files under root (sorted, no timestamps, owners or
    modes), with paths relative to root: the same files always give the same bytes."""
    root = Path(root)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for rel, path in walk_files(root):
            with open(path, "rb") as fh:
                info = tarfile.TarInfo(rel)
                info.size = os.fstat(fh.fileno()).st_size
                info.mode = 0o644
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                archive.addfile(info, fh)
    return buffer.getvalue()
