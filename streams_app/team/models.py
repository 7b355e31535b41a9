"""The team's tables: the audit trail, and the (tableless) model that holds the app's own
permissions, which the roles are groups of. Listed by streams_app/models.py, where Django looks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from streams_app.team.roles import PERMISSIONS


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
