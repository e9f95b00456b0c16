"""Models (uploaded model code and config) and their versions, each built into an image."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max, Q
from django.urls import reverse

from orchestration.clusters.models import SLUG_PATTERN, slug_validator
from orchestration.db import OwnedQuerySet
from orchestration.quantities import format_cpu, format_memory, parse_memory


class ModelQuerySet(OwnedQuerySet):
    """Models by owner (``owned_by``)."""


class Model(models.Model):
    """An uploaded model; uploading the same id again adds a version."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ml_models"
    )
    slug = models.CharField("ID", max_length=64, validators=[slug_validator])
    description = models.CharField(max_length=300, blank=True)
    model_type_id = models.CharField("model type", max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "slug"],
                name="model_slug_unique_per_owner",
                violation_error_message="You already have a model with this ID.",
            ),
            models.CheckConstraint(condition=Q(slug__regex=SLUG_PATTERN), name="model_slug_format"),
        ]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("models:detail", args=[self.slug])

    def latest_version(self) -> ModelVersion | None:
        return self.versions.order_by("-number").first()

    def latest_ready_version(self) -> ModelVersion | None:
        return self.versions.filter(build_status=BuildStatus.READY).order_by("-number").first()


class BuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def _upload_path(instance: ModelVersion, filename: str) -> str:
    return f"uploads/{instance.model.owner_id}/{instance.model.slug}/{instance.version_id}.tar.gz"


def new_version_id() -> str:
    return secrets.token_hex(6)


class ModelVersion(models.Model):
    """One upload of a model: its stored archive, parsed config and built image."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=32, default=new_version_id, editable=False)
    number = models.PositiveIntegerField(editable=False)
    upload = models.FileField(upload_to=_upload_path, max_length=255)
    config = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    cpu_request = models.DecimalField(
        "CPU per replica", max_digits=8, decimal_places=3, null=True, blank=True
    )
    memory_request_bytes = models.BigIntegerField("memory per replica", null=True, blank=True)
    num_accelerators = models.PositiveIntegerField(default=0)
    streams = models.BooleanField(
        default=False, help_text="Its model class defines generate(): outputs can stream."
    )
    image = models.CharField(max_length=255, blank=True)
    build_status = models.CharField(
        max_length=16, choices=BuildStatus.choices, default=BuildStatus.QUEUED
    )
    build_log = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    build_started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="version_number_unique"),
            models.UniqueConstraint(fields=["model", "version_id"], name="version_id_unique"),
            models.CheckConstraint(
                condition=Q(cpu_request__isnull=True) | Q(cpu_request__gt=0),
                name="version_cpu_positive",
            ),
            models.CheckConstraint(
                condition=Q(memory_request_bytes__isnull=True) | Q(memory_request_bytes__gt=0),
                name="version_memory_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} v{self.number} ({self.version_id})"

    def save(self, *args, **kwargs) -> None:
        if self.number is None:
            with transaction.atomic():
                # Lock the model row so two uploads of the same model get distinct numbers.
                Model.objects.select_for_update().filter(pk=self.model_id).first()
                last = ModelVersion.objects.filter(model_id=self.model_id).aggregate(
                    n=Max("number")
                )["n"]
                self.number = (last or 0) + 1
                super().save(*args, **kwargs)
            return
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("models:version", args=[self.model.slug, self.version_id])

    @property
    def is_building(self) -> bool:
        return self.build_status in (BuildStatus.QUEUED, BuildStatus.BUILDING)

    def requested_cpu(self) -> float:
        return float(self.cpu_request) if self.cpu_request else settings.REPLICA_DEFAULT_CPU

    def requested_memory(self) -> int:
        return self.memory_request_bytes or parse_memory(settings.REPLICA_DEFAULT_MEMORY)

    @property
    def compute_display(self) -> str:
        return f"{format_cpu(self.requested_cpu())} CPU, {format_memory(self.requested_memory())}"
