"""What the entry page shows of one entry: each value as readable text, JSON objects and arrays
pretty-printed, long values folded to their first lines, values that are not UTF-8 also as
hex; and the `redis-cli` command that adds the same entry, quoted for a POSIX shell.

Entries come from `ExactEntryStore` (gateway/exact_entries.py): names and values are text
whose bytes that are not UTF-8 are surrogate escapes, so the hex view and the command carry
the exact bytes.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams_app.gateway.keys import display_name, key_bytes
from streams_app.gateway.types import Entry

FOLD_LINES = 12  # a value shown in more lines than this is folded...
FOLD_CHARS = 1_500  # ...and so is one longer than this
PREVIEW_LINES = 6  # what a folded value shows
PREVIEW_CHARS = 400
HEX_MAX_BYTES = 16_384  # the hex view shows at most this much of a value
JSON_MAX_CHARS = 1_000_000  # longer values are not parsed as JSON
JSON_MAX_DEPTH = 100  # nor are values nested deeper than this


@dataclass(frozen=True, slots=True)
class ValueView:
    """One field's value as the page shows it."""

    text: str  # the value as visible text: bytes that are not UTF-8 as \xNN, newlines and tabs kept
    json: str | None  # the value pretty-printed, when it is a JSON object or array
    preview: str | None  # the first lines of what is shown, when it is long enough to fold
    lines: int  # how many lines are shown (of the JSON, or else of the text)
    size: int  # bytes
    binary: bool  # some bytes are not UTF-8
    hex: str | None  # a hex dump, for binary values
    hex_cut: bool  # the hex dump stops at HEX_MAX_BYTES

    @property
    def shown(self) -> str:
        return self.text if self.json is None else self.json

    @property
    def chars(self) -> int:
        return len(self.shown)

    @property
    def hex_bytes(self) -> int:
        """How many bytes the hex dump shows."""
        return min(self.size, HEX_MAX_BYTES) if self.hex is not None else 0


@dataclass(frozen=True, slots=True)
class FieldView:
    name: str  # visible text, as display_name shows names
    value: ValueView


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    fields: tuple[FieldView, ...]
    xadd: str  # the redis-cli command that adds these fields again, with a new ID


def entry_view(*, stream: str, entry: Entry) -> EntryView:
    """How the entry page shows `entry` of `stream`."""
    return EntryView(
        id=entry.id,
        fields=tuple(FieldView(display_name(name), value_view(value)) for name, value in entry.fields.items()),
        xadd=xadd_command(stream, entry.fields),
    )


def value_view(value: str) -> ValueView:
    """One value (surrogate-escaped text) as the page shows it."""
    raw = key_bytes(value)
    binary = not _is_text(value)
    shown_text = visible_text(value)
    pretty = None if binary else pretty_json(value)
    shown = shown_text if pretty is None else pretty
    lines = shown.count("\n") + 1
    return ValueView(
        text=shown_text,
        json=pretty,
        preview=_preview(shown) if lines > FOLD_LINES or len(shown) > FOLD_CHARS else None,
        lines=lines,
        size=len(raw),
        binary=binary,
        hex=hex_dump(raw) if binary else None,
        hex_cut=binary and len(raw) > HEX_MAX_BYTES,
    )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def visible_text(value: str) -> str:
    """A value as text anyone can read: as display_name shows names, but with newlines and tabs kept."""
    if value.isprintable():
        return value
    return "\n".join("\t".join(map(display_name, line.split("\t"))) for line in value.split("\n"))


def _preview(shown: str) -> str:
    head = "\n".join(shown.split("\n", PREVIEW_LINES)[:PREVIEW_LINES])
    return head if len(head) <= PREVIEW_CHARS else head[:PREVIEW_CHARS] + "…"


# --- JSON ------------------------------------------------------------------------------------


class _Number(str):
    """A JSON number exactly as written (floats would turn 1.10 into 1.1, and lose digits)."""


class _Object(list):
    """A JSON object's members in order, duplicates kept: the pretty form shows what the value holds."""


class _NotShown(Exception):
    pass


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def pretty_json(value: str) -> str | None:
    """The value indented two spaces per level, when it is a JSON object or array (None for
    anything else, bare numbers and strings included). Numbers stay as written, members stay in
    order with duplicates."""
    start = value.lstrip()[:1]
    if start not in {"{", "["} or len(value) > JSON_MAX_CHARS:
        return None
    try:
        parsed = json.loads(
            value, parse_float=_Number, parse_int=_Number, parse_constant=_no_constants, object_pairs_hook=_Object
        )
        pieces: list[str] = []
        _write_json(parsed, pieces, 0)
    except (ValueError, RecursionError, _NotShown):
        return None
    return "".join(pieces)


def _write_json(value: object, pieces: list[str], level: int) -> None:
    if level > JSON_MAX_DEPTH:
        raise _NotShown
    if isinstance(value, list) and value:
        is_object = isinstance(value, _Object)
        pieces.append("{" if is_object else "[")
        inner = "\n" + "  " * (level + 1)
        for index, item in enumerate(value):
            pieces.append("," + inner if index else inner)
            if is_object:
                name, item = item
                pieces.append(_json_string(name) + ": ")
            _write_json(item, pieces, level + 1)
        pieces.append("\n" + "  " * level + ("}" if is_object else "]"))
    elif isinstance(value, list):
        pieces.append("{}" if isinstance(value, _Object) else "[]")
    elif isinstance(value, _Number):
        pieces.append(str(value))
    elif isinstance(value, str):
        pieces.append(_json_string(value))
    else:
        pieces.append({True: "true", False: "false", None: "null"}[value])


def _json_string(text: str) -> str:
    written = json.dumps(text, ensure_ascii=False)
    # A lone surrogate (JSON's "\ud800") cannot be sent as UTF-8: keep it escaped.
    return written if _is_text(written) else json.dumps(text)


# --- hex ---------------------------------------------------------------------------------


def hex_dump(raw: bytes, *, limit: int = HEX_MAX_BYTES) -> str:
    """Offset, 16 bytes in hex and as ASCII per line (`00000000  ff fe 41 …  |..A|`), up to `limit` bytes."""
    lines = []
    for offset in range(0, min(len(raw), limit), 16):
        chunk = raw[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk[:8])
        if len(chunk) > 8:
            hex_part += "  " + " ".join(f"{byte:02x}" for byte in chunk[8:])
        ascii_part = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<48}  |{ascii_part}|")
    return "\n".join(lines)


# --- redis-cli ---------------------------------------------------------------------------

# What redis-cli's --quoted-input reads as itself: anything else goes in double quotes.
_BARE_WORD = re.compile(r"[A-Za-z0-9_.:*+=@%,/-]+")
_REDIS_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def xadd_command(stream: str, fields: Mapping[str, str], entry_id: str = "*", *, options: Sequence[str] = ()) -> str:
    """The `redis-cli XADD` command that adds these fields to `stream`, for a POSIX shell.

    Each argument is quoted for the shell (single quotes). redis-cli passes its arguments on
    as they are, so while every one is printable text that is all: `redis-cli XADD chennai '*'
    temperature 26`. An argument with a newline, another control character or bytes that are
    not UTF-8 cannot be typed that way, so then the command uses `--quoted-input`, where
    redis-cli reads each argument as a quoted string ("\\n", "\\xff"). `options` go before the
    command (`-p 6380`).
    """
    words = ["XADD", stream, entry_id]
    for name, value in fields.items():
        words += [name, value]
    quoted_input = not all(word.isprintable() for word in words)
    if quoted_input:
        words = [word if _BARE_WORD.fullmatch(word) else redis_quoted(word) for word in words]
    prefix = ["redis-cli", *options, *(["--quoted-input"] if quoted_input else [])]
    return " ".join(shlex.quote(word) for word in [*prefix, *words])


def redis_quoted(text: str) -> str:
    """`text` as a double-quoted string redis-cli reads back exactly: printable characters as
    they are, backslash and quote escaped, newlines and tabs as \\n \\r \\t, every other byte as \\xNN."""
    out = ['"']
    for ch in text:
        if ch in _REDIS_ESCAPES:
            out.append(_REDIS_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"\\x{byte:02x}" for byte in key_bytes(ch))
    out.append('"')
    return "".join(out)
