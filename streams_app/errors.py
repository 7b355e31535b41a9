"""The one family of domain errors: raised in the gateway and the domain, turned into
a message at the edge (form error, JSON error, notice on a page, log line)."""


class DomainError(Exception):
    """Base of every error a user can be told about."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(DomainError):
    """The input cannot be accepted as given; `position` says where in the text the problem
    starts (characters counted from 0), when the input is text with a syntax (a filter)."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, position: int | None = None) -> None:
        super().__init__(message, field=field)
        self.position = position


class Forbidden(DomainError):
    """The user's role does not allow this change."""

    status = 403


class NotFound(DomainError):
    """No such stream, group or consumer."""

    status = 404


class Conflict(DomainError):
    """The request is well formed but clashes with what is in Redis
    (a key that is not a stream, an ID not above the last one, a group that exists)."""

    status = 409


class RedisUnavailable(DomainError):
    """Redis cannot be reached right now."""

    status = 503
