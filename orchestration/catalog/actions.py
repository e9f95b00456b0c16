"""Model operations: upload (a new model or version, its build queued) and delete (with
the stored archives). Called by the portal's pages and the management API."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from orchestration.accounts import events
from orchestration.catalog.ingest import ingest_uploaded_file
from orchestration.catalog.models import Model, ModelVersion
from orchestration.catalog.upload import UploadError
from orchestration.db import after_commit
from orchestration.errors import Blocked, Invalid


def upload_model(*, owner, uploaded: UploadedFile, actor=None) -> ModelVersion:
    """Check and store an uploaded archive as a new version of ``owner``'s model; its
    image build is queued once the transaction commits. A bad archive is ``Invalid`` on
    ``archive``."""
    try:
        version = ingest_uploaded_file(owner=owner, uploaded=uploaded)
    except UploadError as err:
        raise Invalid(str(err), field="archive") from None
    events.record(
        owner, actor or owner, "uploaded a model", version.model.slug, f"version {version.number}"
    )
    return version


def delete_model(model: Model, actor=None) -> None:
    """Delete the model, its versions and, once the rows are gone, their stored archives.

    Refused while it has deployments. Checked here rather than left to the ``PROTECT``
    on a deployment's version: a deployment's ``model`` cascades, so the collector would
    delete the deployments too (and leave their containers running).
    """
    deployments = sorted(model.deployments.values_list("slug", flat=True))
    if deployments:
        raise Blocked(
            f"Model {model.slug} still has deployments ({', '.join(deployments)}): "
            "delete them first."
        )
    uploads = [v.upload for v in model.versions.all() if v.upload]
    slug = model.slug
    with transaction.atomic():
        owner_id = model.owner_id
        model.delete()
        events.record(owner_id, actor, "deleted a model", slug)

        # Stored archives are files, not rows: remove them only once the rows are gone.
        def remove_files() -> None:
            for upload in uploads:
                upload.storage.delete(upload.name)

        after_commit(f"remove the uploads of model {slug}", remove_files)
