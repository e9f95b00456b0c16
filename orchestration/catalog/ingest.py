"""Storing a model upload: validate it, then create the model / version and queue its build.

The one path every upload takes (portal form, management API, ``manage.py upload_model``):

1. ``load_upload`` unpacks and checks the upload in a temporary folder. Any problem is an
   ``UploadError`` raised before anything is stored.
2. In one transaction the model is fetched or created (the same model id adds a version),
   the version row is written with the packed upload saved through its FileField, and the
   image build is queued for when the transaction commits.
3. If anything fails after the archive was written, the file is deleted again: a failed
   upload leaves no model, no version and no file behind.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from decimal import ROUND_CEILING, Decimal
from functools import partial
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from orchestration.catalog import tasks
from orchestration.catalog.models import Model, ModelVersion
from orchestration.catalog.upload import (
    CONFIG_FILE,
    ModelUpload,
    UploadError,
    UploadLimits,
    load_upload,
    pack_folder,
)

__all__ = ["RESERVED_MODEL_IDS", "ingest_upload", "ingest_uploaded_file", "upload_limits"]

log = logging.getLogger(__name__)

# Model ids that would collide with fixed URLs under /models/ (/models/upload/).
RESERVED_MODEL_IDS = frozenset({"upload"})

# Largest values the version's columns hold on every supported database.
_MAX_BIGINT = 2**63 - 1

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def upload_limits() -> UploadLimits:
    """The limits uploads are checked against: UPLOAD_MAX_FILES and UPLOAD_MAX_BYTES from
    settings; the per-file and archive limits are UploadLimits' defaults, never above
    UPLOAD_MAX_BYTES."""
    defaults = UploadLimits()
    max_bytes = settings.UPLOAD_MAX_BYTES
    return UploadLimits(
        max_files=settings.UPLOAD_MAX_FILES,
        max_total_bytes=max_bytes,
        max_file_bytes=min(defaults.max_file_bytes, max_bytes),
        max_archive_bytes=min(defaults.max_archive_bytes, max_bytes),
    )


def ingest_upload(*, owner, source: Path, filename: str | None = None) -> ModelVersion:
    """Validate the upload at ``source`` (a folder, .zip or .tar.gz; ``filename`` is the
    name the user gave it, for messages) and store it as a new version of ``owner``'s
    model, queueing its image build on commit. Raises UploadError, storing nothing, when
    the upload is refused."""
    source = Path(source)
    tmp_parent = getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)
    with tempfile.TemporaryDirectory(prefix="orchestration-ingest-", dir=tmp_parent) as tmp:
        upload = load_upload(source, Path(tmp) / "upload", upload_limits(), filename=filename)
        _check_storable(upload)
        data = pack_folder(upload.root)
    return _store(owner, upload, data)


def ingest_uploaded_file(*, owner, uploaded: UploadedFile) -> ModelVersion:
    """ingest_upload() for a file received by Django (form or API upload)."""
    filename = _client_name(uploaded.name)
    temporary_path = getattr(uploaded, "temporary_file_path", None)
    if temporary_path is not None:
        # Already on disk (TemporaryUploadedFile): read it where it is, no second copy.
        return ingest_upload(owner=owner, source=Path(temporary_path()), filename=filename)
    tmp_parent = getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)
    with tempfile.TemporaryDirectory(prefix="orchestration-upload-", dir=tmp_parent) as tmp:
        # Keep the user's file name (made safe): the type is detected by content, but the
        # name is what messages mention and what a person looking at the folder sees.
        source = Path(tmp) / (_UNSAFE_NAME_CHARS.sub("_", filename)[-100:].lstrip(".") or "upload")
        with source.open("wb") as out:
            if hasattr(uploaded, "seek"):
                uploaded.seek(0)
            for chunk in uploaded.chunks():
                out.write(chunk)
        return ingest_upload(owner=owner, source=source, filename=filename)


# --------------------------------------------------------------------------- helpers


def _client_name(name: str | None) -> str:
    """The base name of a browser-supplied file name ("C:\\fakepath\\m.zip" -> "m.zip")."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    return base or "upload"


def _check_storable(upload: ModelUpload) -> None:
    """Refuse what validation accepts but the catalog cannot store or serve."""
    if upload.model_id in RESERVED_MODEL_IDS:
        raise UploadError(
            CONFIG_FILE,
            f"model.id {upload.model_id!r} is reserved by the portal; choose another id",
        )
    if upload.memory_bytes is not None and upload.memory_bytes > _MAX_BIGINT:
        raise UploadError(CONFIG_FILE, "inference_compute_info.cpu_memory is too large")


def _cpu_decimal(cores: float | None) -> Decimal | None:
    if cores is None:
        return None
    # Validation allows whole millicores only; rounding up keeps a positive value positive.
    return Decimal(repr(cores)).quantize(Decimal("0.001"), rounding=ROUND_CEILING)


def _json_config(config: dict) -> dict:
    # config.yaml went through yaml.safe_load: make sure what reaches the JSONField is
    # plain JSON (a YAML date, say, becomes text) rather than failing at save time.
    return json.loads(json.dumps(config, default=str))


def _store(owner, upload: ModelUpload, data: bytes) -> ModelVersion:
    version: ModelVersion | None = None
    stored_name = ""
    try:
        with transaction.atomic():
            model, created = Model.objects.get_or_create(
                owner=owner,
                slug=upload.model_id,
                defaults={
                    "description": upload.description,
                    "model_type_id": upload.model_type_id,
                },
            )
            if not created:
                if upload.description:
                    model.description = upload.description
                if upload.model_type_id:
                    model.model_type_id = upload.model_type_id
                model.save(update_fields=["description", "model_type_id", "updated_at"])
            version = ModelVersion(
                model=model,
                config=_json_config(upload.config),
                content_hash=upload.content_hash,
                cpu_request=_cpu_decimal(upload.cpu),
                memory_request_bytes=upload.memory_bytes,
                num_accelerators=upload.num_accelerators,
                streams=upload.streams,
                created_by=owner,
            )
            # The name the file will get (it holds the random version id). Known before
            # the write, so a write that fails halfway (disk full) is cleaned up too.
            planned = version.upload.field.generate_filename(version, "upload.tar.gz")
            if not version.upload.storage.exists(planned):
                stored_name = planned
            version.upload.save("upload.tar.gz", ContentFile(data), save=False)
            stored_name = version.upload.name
            version.save()
            transaction.on_commit(partial(_queue_build, version.pk))
    except BaseException:
        if stored_name and version is not None:
            _delete_quietly(version, stored_name)
        raise
    return version


def _delete_quietly(version: ModelVersion, name: str) -> None:
    try:
        version.upload.storage.delete(name)
    except Exception:  # the original error matters more; log this one
        log.exception("could not delete %s after a failed upload", name)


def _queue_build(version_id: int) -> None:
    """Queue the image build. Runs after commit: the version exists whatever happens here,
    so a broker failure is logged on the version instead of failing the upload."""
    try:
        tasks.build_model_version.delay(version_id)
    except Exception as exc:
        log.exception("could not queue the build of model version %s", version_id)
        ModelVersion.objects.filter(pk=version_id).update(
            build_log=f"Could not queue the image build: {exc}"
        )
