"""A zip's central directory is sized from its end record before zipfile parses it."""

import io
import struct
import zipfile
from pathlib import Path

import pytest

from orchestration.catalog.upload import UploadError, UploadLimits, extract_upload
from orchestration.catalog.upload.zip_directory import central_directory_size


def zip_bytes(count: int, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            archive.writestr(f"f{n}.txt", b"x")
        archive.comment = comment
    return buffer.getvalue()


@pytest.mark.parametrize("comment", [b"", b"a comment", b"c" * 65535])
def test_sizes_match_what_zipfile_reads(comment: bytes) -> None:
    data = zip_bytes(3, comment)
    entries, size = central_directory_size(io.BytesIO(data))
    assert entries == 3
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert len(archive.infolist()) == 3
        assert size == len(data) - len(comment) - 22 - archive.start_dir


def test_no_end_record() -> None:
    assert central_directory_size(io.BytesIO(b"PK\x03\x04 not really a zip")) is None
    assert central_directory_size(io.BytesIO(b"")) is None


def test_zip64_end_record_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # makes zipfile write zip64
    data = bytearray(zip_bytes(3))
    monkeypatch.undo()
    record = data.rfind(b"PK\x06\x06")
    assert record > 0 and central_directory_size(io.BytesIO(bytes(data))) == (
        3,
        struct.unpack_from("<Q", data, record + 40)[0],
    )
    struct.pack_into("<Q", data, record + 32, 10**6)  # entries in all, in the zip64 record
    assert central_directory_size(io.BytesIO(bytes(data)))[0] == 10**6


@pytest.mark.parametrize("comment", [b"", b"a comment"])
def test_too_many_entries_refused_before_zipfile_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, comment: bytes
) -> None:
    source = tmp_path / "many.zip"
    source.write_bytes(zip_bytes(100, comment))

    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile parsed the central directory")

    monkeypatch.setattr(zipfile, "ZipFile", parse)
    with pytest.raises(UploadError) as caught:
        extract_upload(source, tmp_path / "dest", UploadLimits(max_files=1))
    assert str(caught.value) == "many.zip: has more than 1 files"
