"""Clusters: compute in one cloud and region, or one on-premises site."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from orchestration.constants import CLOUD_PROVIDERS, SLUG_PATTERN, SLUG_RULE
from orchestration.db import OwnedQuerySet

slug_validator = RegexValidator(SLUG_PATTERN, SLUG_RULE)
SHARED_ID = "shared"


# Built from the shared list so the CLI offers the same choices without importing Django.
CloudProvider = models.TextChoices(
    "CloudProvider", [(name, (value, label)) for name, value, label in CLOUD_PROVIDERS]
)


class ClusterQuerySet(OwnedQuerySet):
    def visible_to(self, user) -> ClusterQuerySet:
        """The user's own clusters and the built-in shared one."""
        return self.filter(Q(owner=user) | Q(is_shared=True))


class Cluster(models.Model):
    """Compute in one cloud and region (or one site), holding nodepools.

    The built-in shared cluster has no owner and is visible to everyone; every other
    cluster belongs to exactly one user.
    """

    slug = models.CharField("ID", max_length=64, validators=[slug_validator])
    description = models.CharField(max_length=300, blank=True)
    cloud_provider = models.CharField(
        max_length=16, choices=CloudProvider.choices, default=CloudProvider.LOCAL
    )
    region = models.CharField(max_length=64, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="clusters",
    )
    is_shared = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "slug"],
                name="cluster_slug_unique_per_owner",
                violation_error_message="You already have a cluster with this ID.",
            ),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(owner__isnull=True),
                name="cluster_slug_unique_ownerless",
            ),
            models.CheckConstraint(
                condition=Q(is_shared=True) | Q(owner__isnull=False),
                name="cluster_owned_unless_shared",
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=SLUG_PATTERN), name="cluster_slug_format"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("clusters:detail", args=[self.slug])
