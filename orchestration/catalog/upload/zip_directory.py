"""The size of a zip's central directory, read from its end record.

zipfile.ZipFile parses the whole central directory into one object per entry as it
opens the file, so a hostile directory listing millions of entries would fill memory
before infolist() could be counted. The end record says how big the directory is; it
is found here the way zipfile finds it, so both read the same numbers.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

# signature, this disk, directory's disk, entries here, entries in all, size, offset,
# comment length
_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
# signature, size of record, versions made by / needed, disks, entries here, entries
# in all, size, offset
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_SIGNATURE = b"PK\x06\x06"
_LOCATOR = struct.Struct("<4sLQL")
_LOCATOR_SIGNATURE = b"PK\x06\x07"
_MAX_COMMENT = 1 << 16


def central_directory_size(fh: BinaryIO) -> tuple[int, int] | None:
    """(entries, bytes) the end record gives for the central directory, or None when
    there is no end record (zipfile then refuses the file itself).

    Like zipfile: the record that ends the file exactly, else the last signature in the
    final 64 KiB (a comment may follow it); a zip64 record right before it wins.
    """
    fh.seek(0, os.SEEK_END)
    tail_start = max(0, fh.tell() - _END.size - _MAX_COMMENT)
    fh.seek(tail_start)
    tail = fh.read()
    start = len(tail) - _END.size
    if start < 0 or not (tail.startswith(_END_SIGNATURE, start) and tail.endswith(b"\0\0")):
        start = tail.rfind(_END_SIGNATURE)
    if start < 0 or len(tail) - start < _END.size:
        return None
    end = _END.unpack_from(tail, start)
    entries, size = end[4], end[5]
    zip64_start = tail_start + start - _LOCATOR.size - _END64.size
    if zip64_start >= 0:
        fh.seek(zip64_start)
        data = fh.read(_END64.size + _LOCATOR.size)
        if data.startswith(_END64_SIGNATURE) and data.startswith(_LOCATOR_SIGNATURE, _END64.size):
            record = _END64.unpack_from(data)
            entries, size = record[7], record[8]
    return entries, size
