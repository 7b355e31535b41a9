"""The audit trail: every change made through the app, and every change refused for lack of a
role, recorded in the database (who, when, from which door, what, how it ended).

Doors run a change through `change()`: it checks the role, runs the domain function, and
records the outcome, so no door can forget either. Readings added one by one are not
recorded (they are in the stream), but a refused one is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from streams_app.errors import DomainError, Forbidden
from streams_app.gateway.keys import display_name
from streams_app.team.models import AuditEvent
from streams_app.team.roles import Action, may, refusal_message

T = TypeVar("T")
CLI_USER = "cli"
MAX_AUDIT_EVENTS = 1000
MAX_NAME_CHARS = 512  # AuditEvent's stream, group and consumer columns


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change and through which door (page, api, admin, command, job).
    Commands run as "cli", with no user: whoever can run them can run any."""

    user: Any | None
    door: str

    @property
    def username(self) -> str:
        return CLI_USER if self.user is None else self.user.get_username()

    def may(self, action: Action) -> bool:
        return self.user is None or may(self.user, action)


def change(
    actor: Actor,
    action: Action,
    run: Callable[[], T],
    *,
    describe: Callable[[T], str],
    stream: str = "",
    group: str = "",
    consumer: str = "",
    detail: Mapping[str, Any] | None = None,
    audited: bool = True,
) -> T:
    """Run `run()` as `actor`'s change: Forbidden (recorded) without the role; otherwise the
    outcome is recorded — `describe(result)`, or the domain error's message — unless
    `audited` is False, in which case only a refusal for lack of a role is."""
    where = {"stream": stream, "group": group, "consumer": consumer, "detail": detail}
    if not actor.may(action):
        message = refusal_message(action)
        audit_record(actor, action, succeeded=False, outcome=f"refused: {message}", **where)
        raise Forbidden(message)
    try:
        result = run()
    except DomainError as error:
        if audited:
            audit_record(actor, action, succeeded=False, outcome=f"failed: {error.message}", **where)
        raise
    if audited:
        audit_record(actor, action, succeeded=True, outcome=describe(result), **where)
    return result


def require(actor: Actor, action: Action, *, stream: str = "", group: str = "") -> None:
    """Forbidden (recorded) unless `actor` may make this change; for doors that record the
    change itself elsewhere, or not at all."""
    change(actor, action, lambda: None, describe=lambda _: "", stream=stream, group=group, audited=False)


def audit_record(
    actor: Actor,
    action: Action,
    *,
    succeeded: bool,
    outcome: str,
    stream: str = "",
    group: str = "",
    consumer: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Store one event. Names and values are kept as visible text (any key can be recorded,
    whatever bytes it holds)."""
    return AuditEvent.objects.create(
        user=actor.user,
        username=actor.username,
        door=actor.door,
        action=action.name,
        stream=_name(stream),
        group=_name(group),
        consumer=_name(consumer),
        detail=_visible(dict(detail or {})),
        succeeded=succeeded,
        outcome=display_name(outcome),
    )


def _name(name: str) -> str:
    """A key as the trail stores it: visible text, cut to fit its column."""
    shown = display_name(name) if name else ""
    return shown if len(shown) <= MAX_NAME_CHARS else shown[: MAX_NAME_CHARS - 1] + "…"


def _visible(value: Any) -> Any:
    if isinstance(value, str):
        return display_name(value)
    if isinstance(value, Mapping):
        return {display_name(str(key)): _visible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_visible(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return display_name(str(value))


def audit_events(*, stream: str = "", user: str = "", action: str = "", limit: int = 100) -> list[AuditEvent]:
    """The newest events first, filtered by stream, username and action (exact matches)."""
    events = AuditEvent.objects.all()
    if stream:
        events = events.filter(stream=_name(stream))
    if user:
        events = events.filter(username=user)
    if action:
        events = events.filter(action=action)
    return list(events[: max(1, min(limit, MAX_AUDIT_EVENTS))])
