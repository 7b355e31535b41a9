"""Stream names: what a new city may be called, and how any existing key is shown and addressed.

Keys are carried as `str`; bytes that are not UTF-8 (written by other programs) are kept
as surrogate escapes, so every key round-trips to Redis exactly (see gateway.keys).
"""

from __future__ import annotations

import base64
import re

from streams_app.errors import BadInput
from streams_app.gateway.keys import display_name, internal_reason, key_bytes, key_from_bytes

MAX_CITY_LENGTH = 64
_CITY_PATTERN = re.compile(r"[\w.:-]+")
# URL tokens for keys that cannot travel as plain text start with this mark.
_ENCODED_MARK = "~"


def validate_city(name: str, *, field: str = "city", label: str = "city name") -> str:
    """A new city's stream name (or, under the same rules, a new group or consumer name, with its
    `label` in the messages): 1–64 letters, digits, `_`, `-`, `.` or `:`."""
    if name is None or name == "":
        raise BadInput(f"The {label} is required.", field=field)
    if len(name) > MAX_CITY_LENGTH:
        raise BadInput(
            f"The {label} is {len(name)} characters long; at most {MAX_CITY_LENGTH} are allowed.", field=field
        )
    if not _CITY_PATTERN.fullmatch(name):
        shown = display_name(name)
        raise BadInput(
            f"“{shown}” is not a valid {label}: use letters, digits and _ - . : only (no spaces).",
            field=field,
        )
    return name


def key_internal_reason(name: str) -> str | None:
    """Why `name` is one of the app's or RQ's own keys, not a user stream (None when it is a user's)."""
    # Imported here: conf reads Django's settings, and the worker imports this module (through
    # domain.readings) without Django.
    from streams_app.conf import app_settings

    return internal_reason(name, app_settings().dead_letter_stream)


def refuse_internal_key(name: str, *, refused: str, field: str) -> None:
    """BadInput when `name` is one of the app's or RQ's own keys: no door writes a reading into
    one nor creates a group on one (`refused` says what cannot be done, e.g. "readings cannot be
    written to it")."""
    reason = key_internal_reason(name)
    if reason is not None:
        raise BadInput(f"“{display_name(name)}” is {reason}, not a user stream: {refused}.", field=field)


def url_token(name: str) -> str:
    """A reversible path segment for any key (see `name_from_token`)."""
    try:
        name.encode("utf-8")
        plain = not name.startswith(_ENCODED_MARK) and name.isprintable() and "/" not in name and name != ""
    except UnicodeEncodeError:
        plain = False
    if plain and name not in {".", ".."}:
        return name
    encoded = base64.urlsafe_b64encode(key_bytes(name)).decode("ascii").rstrip("=")
    return _ENCODED_MARK + encoded


def name_from_token(token: str) -> str:
    if not token.startswith(_ENCODED_MARK):
        return token
    body = token[len(_ENCODED_MARK) :]
    try:
        # validate: characters outside the URL-safe alphabet are an error, not silently dropped
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as error:
        raise BadInput(f"“{token}” is not a valid stream address.") from error
    return key_from_bytes(raw)
