"""API tokens: hashed at rest, expiring, revocable.

Only a SHA-256 digest of each token is stored. The raw token is shown once, when it is issued;
a database dump or a read-only SQL injection therefore yields nothing that authenticates.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="api")
    # The first characters of the raw token, so a person can tell their tokens apart in the
    # admin or a log line; far too short to help guess the rest.
    key_prefix = models.CharField(max_length=8, editable=False)
    # sha256 hex of the full raw token. A fast hash is enough here (unlike passwords): the
    # token carries 256 random bits, so there is nothing to brute-force. unique=True also
    # gives the index every authenticated request looks the token up by.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired
