"""The changes the app makes, the permission each needs, and the three roles.

Roles are Django groups created by a migration; each is a set of the permissions below
(custom permissions of the `StreamAccess` model), so an admin can also grant them one by
one. A logged-in user in no group is a viewer: reading needs no permission. Superusers can
do everything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Action:
    """A change a user can make through the app, and the permission it needs."""

    name: str  # as recorded in the audit trail
    codename: str  # the permission, in the streams_app label
    label: str

    @property
    def permission(self) -> str:
        return f"streams_app.{self.codename}"


ADD_READINGS = Action("add_readings", "add_readings", "add readings")
# Entries with any fields, on any user stream (the entry pages, POST …/entries): the operators'
# permission for readings, recorded in the trail under a name of its own.
ADD_ENTRY = Action("add_entry", "add_readings", "add entries")
ACK = Action("ack", "ack_entries", "ack pending entries")
CLAIM = Action("claim", "claim_entries", "claim pending entries")
START_JOB = Action("start_job", "start_jobs", "start simulate and export jobs")
CREATE_GROUP = Action("create_group", "create_groups", "create consumer groups")
DESTROY_GROUP = Action("destroy_group", "destroy_groups", "destroy consumer groups")
SETID = Action("setid", "setid_groups", "move consumer groups (SETID)")
DELETE_CONSUMER = Action("delete_consumer", "delete_consumers", "delete consumers")
REDRIVE = Action("redrive", "redrive_dead_letters", "re-drive dead letters")
TRIM = Action("trim", "trim_streams", "trim streams")
READ_AUDIT = Action("read_audit", "read_audit", "read the audit trail")
# Many readings at once (manage.py produce, the simulate job): recorded, unlike single readings.
PRODUCE = Action("produce", "add_readings", "add readings")

OPERATOR_ACTIONS = (ADD_READINGS, ADD_ENTRY, ACK, CLAIM, START_JOB, CREATE_GROUP)
STREAM_ADMIN_ACTIONS = (*OPERATOR_ACTIONS, DESTROY_GROUP, SETID, DELETE_CONSUMER, REDRIVE, TRIM, READ_AUDIT)
ACTIONS = {action.name: action for action in STREAM_ADMIN_ACTIONS}

VIEWERS, OPERATORS, STREAM_ADMINS = "viewers", "operators", "stream-admins"
ROLES: dict[str, tuple[Action, ...]] = {VIEWERS: (), OPERATORS: OPERATOR_ACTIONS, STREAM_ADMINS: STREAM_ADMIN_ACTIONS}
# Who has an action, for the refusal's message: the least role that grants it.
_OPERATOR_CODENAMES = {action.codename for action in OPERATOR_ACTIONS}
GRANTED_BY = {
    action.name: OPERATORS if action.codename in _OPERATOR_CODENAMES else STREAM_ADMINS
    for action in (*STREAM_ADMIN_ACTIONS, PRODUCE)
}


def _permissions(actions: tuple[Action, ...]) -> tuple[tuple[str, str], ...]:
    """Each permission once (actions may share one), labelled by the first action that needs it."""
    labels: dict[str, str] = {}
    for action in actions:
        labels.setdefault(action.codename, action.label.capitalize())
    return tuple(labels.items())


PERMISSIONS = _permissions(STREAM_ADMIN_ACTIONS)


def may(user, action: Action) -> bool:
    """Whether `user` may make this change (superusers may make any)."""
    return bool(user is not None and user.is_active and user.has_perm(action.permission))


def refusal_message(action: Action) -> str:
    return f"You are not allowed to {action.label}: that needs the {GRANTED_BY[action.name]} role (ask an admin)."
