"""Access tokens (`Authorization: Key <token>`), organizations, their members and events."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "orc_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    # Tokens are long random strings, so one fast hash is enough; no salt needed.
    return hashlib.sha256(token.encode()).hexdigest()


class AccessTokenQuerySet(models.QuerySet):
    def active(self) -> AccessTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class AccessToken(models.Model):
    """A named personal access token; only its hash is stored, the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A key scoped to an organization acts in it (and nowhere else) with its user's role.
    organization = models.ForeignKey(
        "Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="tokens"
    )

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str, organization=None) -> tuple[AccessToken, str]:
        """Create a token and return it with its plain text, which is not stored."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=plain[:10],
            token_hash=hash_token(plain),
            organization=organization,
        )
        return token, plain

    @classmethod
    def find(cls, plain: str) -> AccessToken | None:
        """The active token for this plain token (its user active), marked as used."""
        token = (
            cls.objects.active()
            .select_related("user", "organization__account")
            .filter(token_hash=hash_token(plain))
            .first()
        )
        if token is None or not token.user.is_active:
            return None
        cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token

    @classmethod
    def authenticate(cls, plain: str):
        """The active token's user for this plain token, or None."""
        token = cls.find(plain)
        return token.user if token else None


class Role(models.TextChoices):
    """What a member may do in an organization (`accounts.access.ROLE_PERMISSIONS`)."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Organization(models.Model):
    """A team's space. Its objects are owned by its ``account``: a user row that cannot
    log in, so every owner column keeps pointing at one table (as GitHub does) and the
    organization's id shares one namespace with usernames, as Clarifai's ``user_id``."""

    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="organization",
    )
    name = models.CharField(max_length=100)
    viewers_can_predict = models.BooleanField(
        default=False, help_text="Viewers may send predictions to the organization's models."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__username"]

    def __str__(self) -> str:
        return self.slug

    @property
    def slug(self) -> str:
        return self.account.username


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                name="membership_unique_per_user",
                violation_error_message="This user is already a member.",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(user=models.F("organization")),
                name="membership_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Event(models.Model):
    """Who did what in an organization: the activity page and the admin read these."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The actor's username, kept when the user is deleted.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="event_org_recent")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target}"
