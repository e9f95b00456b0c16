"""Checking an unpacked upload as a whole and describing it as a ``ModelUpload``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import check_config
from .errors import UploadError
from .extract import clean, extract_upload
from .limits import UploadLimits
from .model_code import check_model_code
from .requirements import check_requirements
from .tree import walk_files
from .unpacker import CHUNK


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
    streams: bool = False  # the model class also has generate(): it can stream outputs


def validate_model_folder(root: Path) -> ModelUpload:
    """Check an unpacked upload and describe it; raises UploadError at the first problem.

    Checks config.yaml (YAML, known keys, model.id, value types, CPU and memory quantities),
    1/model.py (parses, has one class with predict), requirements.txt (plain pip
    requirements) and that everything is UTF-8 text where text is expected.
    """
    root = Path(root)
    files = walk_files(root)
    config = check_config(root)
    code = check_model_code(root)
    requirements = check_requirements(root)
    content_hash, total_bytes = _content_hash(files)
    return ModelUpload(
        model_id=config.model_id,
        description=config.description,
        model_type_id=config.model_type_id,
        config=config.config,
        cpu=config.cpu,
        memory_bytes=config.memory_bytes,
        num_accelerators=config.num_accelerators,
        requirements=requirements,
        files=[rel for rel, _ in files],
        total_bytes=total_bytes,
        content_hash=content_hash,
        root=root,
        model_class=code.name,
        streams=code.streams,
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
        clean(workdir, created)
        raise


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
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                read += len(chunk)
        if read != size:
            raise UploadError(rel, "changed while it was being read")
        total += size
    return digest.hexdigest(), total
