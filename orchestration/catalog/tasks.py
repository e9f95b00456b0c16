"""Building a model version's image: one image per version, reused for the same content."""

from __future__ import annotations

import logging
import tarfile
import tempfile
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from orchestration import docker_engine
from orchestration.catalog import build_context
from orchestration.catalog.models import BuildStatus, ModelVersion
from orchestration.catalog.signals import version_build_finished
from orchestration.metrics.instruments import IMAGE_BUILD_SECONDS, IMAGE_BUILDS

log = logging.getLogger(__name__)

# A build still marked "building" after this long belongs to a worker that died.
STALE_BUILD = timedelta(minutes=30)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=8,
)
def build_model_version(self, version_id: int) -> str | None:
    """Build (or reuse) the image of one model version and record progress on its row."""
    now = timezone.now()
    claimed = (
        ModelVersion.objects.filter(pk=version_id)
        .filter(
            Q(build_status=BuildStatus.QUEUED)
            | Q(build_status=BuildStatus.BUILDING, build_started_at__lt=now - STALE_BUILD)
        )
        .update(build_status=BuildStatus.BUILDING, build_started_at=now, build_log="")
    )
    if not claimed:
        return None
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    progress = _Progress(version)
    try:
        image, reused = _build(version, progress)
    except docker_engine.EngineUnreachable as exc:
        progress.add(f"Docker engine unreachable: {exc}; will retry")
        ModelVersion.objects.filter(pk=version_id).update(build_status=BuildStatus.QUEUED)
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc
    except (build_context.BuildError, docker_engine.EngineError) as exc:
        detail = getattr(exc, "log", "") or ""
        progress.add(f"{detail}\nBuild failed: {exc}".strip())
        ModelVersion.objects.filter(pk=version_id).update(
            build_status=BuildStatus.FAILED, built_at=timezone.now()
        )
        version_build_finished.send(sender=ModelVersion, version_id=version_id)
        _build_finished(BuildStatus.FAILED, now)
        return BuildStatus.FAILED
    progress.add(f"Image {'reused' if reused else 'built'}: {image}")
    ModelVersion.objects.filter(pk=version_id).update(
        build_status=BuildStatus.READY, image=image, built_at=timezone.now()
    )
    version_build_finished.send(sender=ModelVersion, version_id=version_id)
    _build_finished(BuildStatus.READY, now)
    return BuildStatus.READY


def _build_finished(outcome: str, started) -> None:
    IMAGE_BUILDS.labels(outcome).inc()
    IMAGE_BUILD_SECONDS.labels(outcome).observe((timezone.now() - started).total_seconds())


class _Progress:
    """Appends to the version's build log as the build goes, for the version page."""

    def __init__(self, version: ModelVersion) -> None:
        self.version_id = version.pk
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        self.lines.append(text.rstrip("\n"))
        ModelVersion.objects.filter(pk=self.version_id).update(
            build_log="\n".join(self.lines)[-200_000:]
        )


def _build(version: ModelVersion, progress: _Progress) -> tuple[str, bool]:
    engine = settings.DOCKER_URL
    base = settings.BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="build-") as tmp:
        model_dir = Path(tmp) / "model"
        _unpack(version, model_dir)
        digest = build_context.content_hash(model_dir, base)
        tag = build_context.image_tag(version.model.slug, version.version_id, digest)
        # Same content, same image: an identical earlier version's image is reused.
        same = (
            ModelVersion.objects.filter(
                model__owner_id=version.model.owner_id,
                build_status=BuildStatus.READY,
                image__endswith=f"-{digest[:12]}",
            )
            .exclude(pk=version.pk)
            .values_list("image", flat=True)
            .first()
        )
        for candidate in (same, tag):
            if candidate and docker_engine.image_exists(engine, candidate):
                progress.add(f"Image for content {digest[:12]} already exists")
                return candidate, True
        if not docker_engine.image_exists(engine, base):
            raise build_context.BuildError(
                f"base image {base} is missing on {engine}: run scripts/build-base-image "
                "(or set BASE_IMAGE to an image the engine has)"
            )
        requirements = model_dir / "requirements.txt"
        site_packages = None
        if requirements.is_file():
            progress.add("Downloading and installing requirements from wheels on the host…")
            site_packages, pip_log = build_context.prepare_site_packages(
                requirements, Path(tmp) / "deps"
            )
            progress.add(pip_log[-20_000:])
        progress.add(f"Building {tag} from {base}…")
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as context:
            build_context.write_build_context(
                context, model_dir, base, site_packages_dir=site_packages
            )
            context.seek(0)
            build_log = docker_engine.build_image(
                engine,
                context,
                tag,
                labels={
                    "orchestration.model": version.model.slug,
                    "orchestration.model-version": version.version_id,
                    "orchestration.content-hash": digest,
                },
            )
        progress.add(build_log[-50_000:])
        return tag, False


def _unpack(version: ModelVersion, dest: Path) -> None:
    dest.mkdir(parents=True)
    with version.upload.open("rb") as fh, tarfile.open(fileobj=fh, mode="r:*") as tar:
        # The stored archive was validated at upload; the data filter still refuses links
        # and paths outside dest, in case the storage was tampered with.
        tar.extractall(dest, filter="data")
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "config.yaml").exists():
        for child in entries[0].iterdir():
            child.rename(dest / child.name)
        entries[0].rmdir()
