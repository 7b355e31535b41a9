"""Django's tables hold only what is not stream data: API tokens and the audit trail.
Readings live in Redis; the unmanaged models exist so Django admin can offer data entry
for them, and so the app's permissions have a home."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from streams_app.team.roles import PERMISSIONS

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


class StreamAccess(models.Model):
    """Holds the app's own permissions (no table): the roles are groups of these."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = PERMISSIONS
        verbose_name = "stream access"


class AuditEvent(models.Model):
    """One change made through the app (or one refused for lack of a role): who, from which
    door, what, and how it ended."""

    DOORS = (("page", "page"), ("api", "API"), ("admin", "admin"), ("command", "command"), ("job", "job"))

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    username = models.CharField(
        max_length=150, db_index=True, help_text="kept when the user is deleted; cli for commands"
    )
    door = models.CharField(max_length=16, choices=DOORS)
    action = models.CharField(max_length=32, db_index=True)
    stream = models.CharField(max_length=512, blank=True, db_index=True)
    group = models.CharField(max_length=512, blank=True)
    consumer = models.CharField(max_length=512, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    succeeded = models.BooleanField()
    outcome = models.TextField(help_text="what it changed, or why it was refused")

    class Meta:
        ordering = ("-time", "-id")
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.stream}: {self.outcome}"
