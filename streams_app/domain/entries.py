"""Adding an entry with any fields to any user stream, and adding an entry again: the same ID
rules and refusals as readings (domain/readings.py), for every door (the entry pages, the API).

What an entry may hold, stated once:
- at most `MAX_FIELDS` fields, at least one;
- a field name: 1 to `MAX_NAME_CHARS` characters, no control characters;
- a value: text of at most `MAX_VALUE_CHARS` characters (empty is fine; newlines are fine);
  from JSON also a number (written in its shortest form: 21.5, 7; 1e2 is 100.0) or true/false
  (written `true`, `false`); null, objects and arrays are refused with the field's name;
- names and values together at most `MAX_TOTAL_CHARS` characters.
Text must be text: a lone surrogate (which JSON's \\ud800 can carry) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams_app.domain.ids import parse_new_entry_id, parse_stream_id
from streams_app.domain.names import display_name, refuse_internal_key
from streams_app.errors import BadInput, NotFound
from streams_app.gateway.exact_entries import ExactEntryStore

MAX_FIELDS = 100
MAX_NAME_CHARS = 200
MAX_VALUE_CHARS = 65_536
MAX_TOTAL_CHARS = 262_144
FIELDS_EXAMPLE = '{"note": "storm", "temperature": 26}'
REFUSED = "entries cannot be added to it"


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A validated entry, ready to be appended to its stream."""

    stream: str
    fields: dict[str, str]
    entry_id: str = "*"


def _shown(text: str, limit: int = 60) -> str:
    text = display_name(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require_text(text: str, *, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{what} holds a lone surrogate, which is not text.", field="fields") from None


def field_name_check(name: Any) -> str:
    """A field name as given, or BadInput saying what is wrong with it."""
    if not isinstance(name, str):
        raise BadInput("Field names must be text.", field="fields")
    if name == "":
        raise BadInput("A field name cannot be empty.", field="fields")
    if len(name) > MAX_NAME_CHARS:
        raise BadInput(
            f"The field name “{_shown(name)}” is {len(name):,} characters long; at most {MAX_NAME_CHARS} are allowed.",
            field="fields",
        )
    _require_text(name, what=f"The field name “{_shown(name)}”")
    hidden = next((ch for ch in name if not ch.isprintable()), None)
    if hidden is not None:
        raise BadInput(
            f"The field name “{_shown(name)}” holds {display_name(hidden)}, a control or invisible character: "
            "names are printable text.",
            field="fields",
        )
    return name


def field_value_text(value: Any, *, name: str) -> str:
    """A field's value as the text stored: text as given, a number as JSON writes it, true/false;
    BadInput naming the field for anything else."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"The value of “{_shown(name)}” must be a finite number, not {value}.", field="fields")
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        kind = {type(None): "null", dict: "an object", list: "an array"}.get(type(value), type(value).__name__)
        raise BadInput(
            f"The value of “{_shown(name)}” must be text, a number or true/false; got {kind}.", field="fields"
        )
    if len(text) > MAX_VALUE_CHARS:
        raise BadInput(
            f"The value of “{_shown(name)}” is {len(text):,} characters long; at most {MAX_VALUE_CHARS:,} are allowed.",
            field="fields",
        )
    _require_text(text, what=f"The value of “{_shown(name)}”")
    return text


def entry_fields_check(fields: Any) -> dict[str, str]:
    """An entry's fields (a mapping of names to values, as JSON or a form gives them) as the
    text to store, in the order given; BadInput for the first thing wrong."""
    if fields is None:
        raise BadInput(f"The entry needs fields: an object of names to values, like {FIELDS_EXAMPLE}.", field="fields")
    if not isinstance(fields, Mapping):
        raise BadInput(f"The fields must be an object of names to values, like {FIELDS_EXAMPLE}.", field="fields")
    if not fields:
        raise BadInput("An entry needs at least one field.", field="fields")
    if len(fields) > MAX_FIELDS:
        raise BadInput(f"An entry has at most {MAX_FIELDS} fields; got {len(fields):,}.", field="fields")
    checked: dict[str, str] = {}
    total = 0
    for name, value in fields.items():
        name = field_name_check(name)
        checked[name] = field_value_text(value, name=name)
        total += len(name) + len(checked[name])
    if total > MAX_TOTAL_CHARS:
        raise BadInput(
            f"The fields are {total:,} characters long in all; at most {MAX_TOTAL_CHARS:,} are allowed.",
            field="fields",
        )
    return checked


def field_lines_parse(text: str) -> dict[str, str]:
    """The fields of a form's `name=value` lines: everything after the first `=` is the value,
    exactly as typed; spaces around the name are dropped; blank lines are skipped. A value cannot
    hold a newline here (the API's JSON can)."""
    fields: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.strip() == "":
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise BadInput(
                f"Line {number} has no “=”: write each field as name=value, like note=storm.", field="fields"
            )
        name = name.strip()
        if name in fields:
            raise BadInput(f"The field “{_shown(name)}” is given twice (again on line {number}).", field="fields")
        fields[name] = value
    return fields


def parse_new_entry(*, stream: str, fields: Any, entry_id: Any = None) -> NewEntry:
    """Validate an entry as any door receives it; raises BadInput for the first thing wrong, in
    the order readings check theirs (the stream, then the fields, then the ID)."""
    if not stream:
        raise BadInput("The stream name is required.", field="stream")
    if entry_id is not None and not isinstance(entry_id, str):
        raise BadInput("The ID must be text, like 1534866436902-0.", field="id")
    refuse_internal_key(stream, refused=REFUSED, field="stream")
    checked = entry_fields_check(fields)
    return NewEntry(stream=stream, fields=checked, entry_id=parse_new_entry_id(entry_id or ""))


def entry_add(*, store: ExactEntryStore, stream: str, fields: Any, entry_id: Any = None) -> str:
    """Validate and append an entry; returns its ID. BadInput for invalid fields or IDs and for
    the app's or RQ's own keys; Conflict when the key is not a stream, the ID does not grow or
    the stream has used the last possible ID. Nothing is written unless everything is valid."""
    entry = parse_new_entry(stream=stream, fields=fields, entry_id=entry_id)
    return store.add_exact_entry(entry.stream, entry.fields, entry.entry_id)


def entry_add_again(*, store: ExactEntryStore, stream: str, entry_id: str) -> str:
    """Append a copy of an entry to its own stream, byte for byte, with a new automatic ID;
    returns that ID. NotFound when the entry is gone; internal streams are refused."""
    refuse_internal_key(stream, refused=REFUSED, field="stream")
    original = store.exact_entry(stream, parse_stream_id(entry_id))
    if original is None:
        raise NotFound(f"“{display_name(stream)}” has no entry {entry_id} (it may have been trimmed).")
    return store.add_exact_entry(stream, original.fields, "*")
