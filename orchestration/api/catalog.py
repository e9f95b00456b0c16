"""Models (upload, list, get, delete) and their versions with build status and log."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Prefetch
from ninja import File, Router, Status
from ninja.files import UploadedFile

from orchestration.accounts.access import Perm
from orchestration.api.common import Converted, is_slug, owner, paginated, require, responses
from orchestration.api.errors import ApiError, action_errors, not_found
from orchestration.api.schemas import ModelOut, VersionDetailOut, VersionOut
from orchestration.catalog import actions as catalog_actions
from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.deployments.models import Deployment

log = logging.getLogger("orchestration.api")

router = Router(tags=["Models"])


def get_model(user, model_id: str) -> Model:
    model = (
        Model.objects.owned_by(user).filter(slug=model_id).first() if is_slug(model_id) else None
    )
    if model is None:
        raise not_found("model", model_id)
    return model


def find_version(model: Model, ref: str) -> ModelVersion | None:
    """A version by its id, or by its number ("3")."""
    if not ref or len(ref) > 32 or not ref.isalnum():
        return None
    version = model.versions.filter(version_id=ref).first()
    if version is None and ref.isdigit() and len(ref) <= 9:
        version = model.versions.filter(number=int(ref)).first()
    return version


def version_summary(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "id": version.version_id,
        "number": version.number,
        "build_status": version.build_status,
    }


def version_out(version: ModelVersion, *, log_text: bool = False) -> dict:
    out = {
        "id": version.version_id,
        "model_id": version.model.slug,
        "number": version.number,
        "build_status": version.build_status,
        "image": version.image,
        "cpu_request": float(version.cpu_request) if version.cpu_request is not None else None,
        "memory_request_bytes": version.memory_request_bytes,
        "num_accelerators": version.num_accelerators,
        "config": version.config if isinstance(version.config, dict) else {},
        "created_at": version.created_at,
        "build_started_at": version.build_started_at,
        "built_at": version.built_at,
    }
    if log_text:
        out["build_log"] = version.build_log
    return out


def model_out(model: Model) -> dict:
    versions = sorted(model.versions.all(), key=lambda v: v.number, reverse=True)
    ready = next((v for v in versions if v.build_status == BuildStatus.READY), None)
    return {
        "id": model.slug,
        "description": model.description,
        "model_type_id": model.model_type_id,
        "versions": len(versions),
        "latest_version": version_summary(versions[0] if versions else None),
        "latest_ready_version": version_summary(ready),
        "deployments": sorted(d.slug for d in model.deployments.all()),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


def _models(user):
    return Model.objects.owned_by(user).prefetch_related(
        Prefetch(
            "versions",
            queryset=ModelVersion.objects.only(
                "id", "model_id", "version_id", "number", "build_status"
            ),
        ),
        Prefetch("deployments", queryset=Deployment.objects.only("id", "model_id", "slug")),
    )


@router.get("/models/", response=responses({200: list[ModelOut]}, 400), summary="List models")
@paginated
def list_models(request):
    return Converted(_models(owner(request)), model_out)


@router.post(
    "/models/",
    response=responses({201: VersionDetailOut}, 400, 403, 413),
    summary="Upload a model",
    description=(
        "Multipart form with the field `archive`: a `.zip` or `.tar.gz` of a model folder "
        "(config.yaml, requirements.txt, 1/model.py). Creates the model, or a new version when "
        "the model id in config.yaml exists, and queues its image build: poll the version "
        "until `build_status` is `ready` or `failed`. A bad archive is a 400 on `archive`."
    ),
)
def upload_model(request, archive: File[UploadedFile]):
    require(request, Perm.MODELS)
    limit = settings.UPLOAD_MAX_BYTES
    if archive.size is not None and archive.size > limit:
        raise ApiError(413, f"The archive is over the {limit} byte limit.", field="archive")
    with action_errors():
        version = catalog_actions.upload_model(
            owner=owner(request), uploaded=archive, actor=request.auth
        )
    return Status(201, version_out(version, log_text=True))


@router.get("/models/{model_id}/", response=responses({200: ModelOut}, 404), summary="Get a model")
def get_model_(request, model_id: str):
    get_model(owner(request), model_id)
    return model_out(_models(owner(request)).get(slug=model_id))


@router.delete(
    "/models/{model_id}/",
    response=responses({204: None}, 403, 404, 409),
    summary="Delete a model",
    description="With all its versions; refused (409) while it has deployments.",
)
def delete_model(request, model_id: str):
    model = get_model(owner(request), model_id)
    require(request, Perm.MODELS)
    with action_errors():
        catalog_actions.delete_model(model, actor=request.auth)
    return Status(204, None)


@router.get(
    "/models/{model_id}/versions/",
    response=responses({200: list[VersionOut]}, 400, 404),
    summary="List a model's versions",
    description="Newest first. The build log is on each version's own page.",
)
@paginated
def list_versions(request, model_id: str):
    model = get_model(owner(request), model_id)
    versions = model.versions.select_related("model").defer("build_log").order_by("-number")
    return Converted(versions, version_out)


@router.get(
    "/models/{model_id}/versions/{version_id}/",
    response=responses({200: VersionDetailOut}, 404),
    summary="Get a version, with its build status and log",
    description="`version_id` is the version's id or its number.",
)
def get_version(request, model_id: str, version_id: str):
    model = get_model(owner(request), model_id)
    version = find_version(model, version_id)
    if version is None:
        raise not_found("version", f"{model_id}/{version_id}")
    return version_out(version, log_text=True)
