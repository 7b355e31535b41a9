"""Django's tables hold only what is not stream data: API tokens and the audit trail.
Readings live in Redis; the unmanaged models exist so Django admin can offer data entry
for them, and so the app's permissions have a home."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

# The team's tables (the audit trail, the home of the app's permissions) live with the team room.
from streams_app.team.models import AuditEvent, StreamAccess

TOKEN_PREFIX = "wst_"


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def issue(self, *, user, name: str = "") -> tuple[ApiToken, str]:
        """A new token for `user`; the key is returned once and only its hash is stored."""
        key = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = self.create(user=user, name=name, key_hash=hash_token(key), key_prefix=key[:8])
        return token, key


class ApiToken(models.Model):
    """A key for scripts calling the JSON API (`Authorization: Token <key>`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=8, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.name or self.user})"


class Reading(models.Model):
    """Readings as Django admin sees them: stored in Redis, never in a table. The admin's form
    takes its fields from domain.readings.MEASUREMENTS, so this model declares none."""

    class Meta:
        managed = False
        verbose_name = "reading"


class ConsumerGroup(models.Model):
    """A consumer group as Django admin sees it: listed from Redis, created there; never a table."""

    stream = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    start = models.CharField(max_length=64, blank=True, default="$")

    class Meta:
        managed = False
        verbose_name = "consumer group"


__all__ = ["ApiToken", "AuditEvent", "ConsumerGroup", "Reading", "StreamAccess"]
