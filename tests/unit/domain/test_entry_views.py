"""The entry page's views of values: pretty JSON, folding, hex, visible text; and the redis-cli
XADD command, run for real through `bash -c` and `sh -c` against the suite's redis-server and
read back byte for byte."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams_app.domain.entry_views import (
    FOLD_CHARS,
    HEX_MAX_BYTES,
    PREVIEW_CHARS,
    PREVIEW_LINES,
    hex_dump,
    pretty_json,
    redis_quoted,
    value_view,
    visible_text,
    xadd_command,
)
from streams_app.gateway.keys import key_bytes, key_from_bytes

# --- redis-cli XADD, for real --------------------------------------------------------------

SHELLS = ["bash", "sh"]  # sh: the system's POSIX shell (dash on Debian), no bash-isms allowed

NASTY = [
    "it's",
    'say "hi"',
    'it\'s "both"',
    "$HOME",
    "${PATH}",
    "$(echo injected)",
    "`echo injected`",
    "line one\nline two",
    "\r\n",
    "tab\there",
    "  spaces around  ",
    " ",
    "ünïcödé ☃ 🌧 中文",
    "",
    "-lead",
    "--quoted-input",
    "-p",
    "back\\slash",
    "\\x41 is not A",
    '\\"',
    "!history !!",
    "*",
    "*.py",
    "a;b && c | d > e",
    "#not a comment",
    "~",
    "name=value",
    "\x00nul\x01ctl\x7f",
    "\u00a0no-break space",
    "\u200bzero width",
    '"',
    "'",
    "''",
]
BINARY = [
    key_from_bytes(b"\xff\xfe"),
    key_from_bytes(b"caf\xe9"),
    key_from_bytes(b"ok\x80\nnext"),
    key_from_bytes(b"\xff\"'$`\\"),
    key_from_bytes(bytes(range(256))),
]


@pytest.fixture
def redis_cli():
    found = shutil.which("redis-cli")
    # It comes with redis-server (Debian: redis-tools), which scripts/test installs.
    assert found is not None, "redis-cli is not on PATH (Debian: apt-get install redis-tools)"
    return found


def run_xadd(command: str, shell: str) -> str:
    done = subprocess.run([shell, "-c", command], capture_output=True, timeout=20)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert done.stderr == b"", (command, done.stderr)
    new_id = done.stdout.decode().strip()
    assert new_id and not new_id.startswith("("), (command, done.stdout)  # "(error) ..." is not an ID
    return new_id


def round_trip(queue_client, redis_server, stream: str, fields: dict[str, str], shell: str) -> None:
    command = xadd_command(stream, fields, options=["-p", str(redis_server.port)])
    new_id = run_xadd(command, shell)
    [(raw_id, raw_fields)] = queue_client.xrange(key_bytes(stream), min=new_id, max=new_id)
    assert raw_id.decode() == new_id
    assert raw_fields == {key_bytes(name): key_bytes(value) for name, value in fields.items()}, command


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", NASTY + BINARY, ids=[repr(v)[:40] for v in NASTY + BINARY])
def test_a_nasty_value_arrives_exactly(value, shell, queue_client, redis_server, redis_cli):
    round_trip(queue_client, redis_server, "nasty", {"value": value, "then": "after"}, shell)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", [*NASTY[:20], *BINARY[:3]], ids=[repr(v)[:40] for v in [*NASTY[:20], *BINARY[:3]]])
def test_nasty_field_and_stream_names_arrive_exactly(name, shell, queue_client, redis_server, redis_cli):
    round_trip(queue_client, redis_server, name, {name: "v", "other": name}, shell)


def test_every_nasty_value_at_once(queue_client, redis_server, redis_cli):
    fields = {f"f{index}": value for index, value in enumerate(NASTY + BINARY)}
    for shell in SHELLS:
        round_trip(queue_client, redis_server, "all-at-once", fields, shell)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw_fields=st.dictionaries(
        st.binary(min_size=1, max_size=12),
        st.one_of(st.binary(max_size=40), st.text(max_size=40).filter(lambda t: t.isprintable())),
        min_size=1,
        max_size=4,
    )
)
def test_any_bytes_arrive_exactly(raw_fields, queue_client, redis_server, redis_cli):
    fields = {
        key_from_bytes(name): key_from_bytes(value) if isinstance(value, bytes) else value
        for name, value in raw_fields.items()
    }
    round_trip(queue_client, redis_server, "any-bytes", fields, "sh")


def test_printable_text_gives_the_tutorial_command():
    assert (
        xadd_command("chennai", {"temperature": "26", "humidity": "10"})
        == "redis-cli XADD chennai '*' temperature 26 humidity 10"
    )
    assert xadd_command("chennai", {"note": "it's $5"}) == "redis-cli XADD chennai '*' note 'it'\"'\"'s $5'"
    assert xadd_command("chennai", {"note": ""}, entry_id="5-1") == "redis-cli XADD chennai 5-1 note ''"


def test_values_that_cannot_be_typed_use_quoted_input():
    command = xadd_command("chennai", {"note": "a\nb", "blob": key_from_bytes(b"\xff")})
    assert command == "redis-cli --quoted-input XADD chennai '*' note '\"a\\nb\"' blob '\"\\xff\"'"
    assert "\n" not in command


def test_redis_quoting():
    assert redis_quoted("") == '""'
    assert redis_quoted('a"b\\c') == '"a\\"b\\\\c"'
    assert redis_quoted("é\t") == '"é\\t"'
    assert redis_quoted("\x00\u200b") == '"\\x00\\xe2\\x80\\x8b"'
    assert redis_quoted(key_from_bytes(b"\x80")) == '"\\x80"'


# --- JSON ----------------------------------------------------------------------------------


def test_json_objects_and_arrays_are_pretty_printed():
    assert pretty_json('{"a":1,"b":[true,false,null,{"c":"x"}],"d":{},"e":[]}') == (
        '{\n  "a": 1,\n  "b": [\n    true,\n    false,\n    null,\n    {\n      "c": "x"\n    }\n  ],\n'
        '  "d": {},\n  "e": []\n}'
    )
    assert pretty_json("  [1, 2]  ") == "[\n  1,\n  2\n]"


def test_json_numbers_stay_as_written_and_duplicates_stay():
    shown = pretty_json('{"x": 1.10, "big": 12345678901234567890.123456789, "e": 1E+2, "x": -0}')
    assert shown == '{\n  "x": 1.10,\n  "big": 12345678901234567890.123456789,\n  "e": 1E+2,\n  "x": -0\n}'


def test_json_strings_keep_their_text():
    assert (
        pretty_json('{"city": "m\\u00fcnchen", "say": "\\"hi\\"\\n"}')
        == '{\n  "city": "münchen",\n  "say": "\\"hi\\"\\n"\n}'
    )
    # A lone surrogate cannot be sent as UTF-8: it stays escaped.
    shown = pretty_json('["\\ud800"]')
    assert shown == '[\n  "\\ud800"\n]'
    shown.encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        "42",
        "-1.5",
        '"text"',
        "true",
        "null",
        "",
        "  ",
        "{",
        '{"a": }',
        "[1,]",
        "{'a': 1}",
        "[NaN]",
        '{"a": Infinity}',
        "[1] trailing",
        "plain text {not json}",
    ],
)
def test_other_values_are_not_json(value):
    assert pretty_json(value) is None


def test_too_deep_json_is_shown_as_it_is():
    assert pretty_json("[" * 50 + "]" * 50) is not None
    assert pretty_json("[" * 500 + "]" * 500) is None
    assert pretty_json("[" * 100_000 + "]" * 100_000) is None  # deeper than the parser goes


# --- values as the page shows them ---------------------------------------------------------


def test_visible_text_keeps_lines_and_tabs_and_escapes_the_rest():
    assert visible_text("plain") == "plain"
    assert visible_text("a\nb\tc\x01\x7f") == "a\nb\tc\\x01\\x7f"
    assert visible_text(key_from_bytes(b"caf\xff")) == "caf\\xff"


def test_a_short_value_is_not_folded():
    view = value_view("26")
    assert view.preview is None and view.json is None and not view.binary and view.hex is None
    assert view.shown == "26" and view.size == 2 and view.lines == 1


def test_long_json_is_folded_to_its_first_lines():
    value = "{" + ",".join(f'"k{index}": {index}' for index in range(30)) + "}"
    view = value_view(value)
    assert view.json is not None and view.lines == 32
    assert view.preview == "\n".join(view.json.split("\n")[:PREVIEW_LINES])
    assert view.shown == view.json


def test_a_long_line_is_folded_by_characters():
    value = "x" * (FOLD_CHARS + 1)
    view = value_view(value)
    assert view.preview == "x" * PREVIEW_CHARS + "…"
    assert view.shown == value
    assert value_view("x" * FOLD_CHARS).preview is None


def test_binary_values_have_a_hex_view():
    view = value_view(key_from_bytes(b"\xff\xfeA"))
    assert view.binary and view.text == "\\xff\\xfeA" and view.size == 3 and view.json is None
    assert view.hex == "00000000  ff fe 41" + " " * 40 + "  |..A|"
    assert not view.hex_cut and view.hex_bytes == 3
    # The text "\xff" (four characters) is text, not a byte: no hex view, and it shows as itself.
    literal = value_view("\\xff")
    assert not literal.binary and literal.hex is None and literal.text == "\\xff"


def test_hex_dump_lines_and_limit():
    dump = hex_dump(bytes(range(20)))
    assert dump.split("\n") == [
        "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|",
        "00000010  10 11 12 13" + " " * 37 + "  |....|",
    ]
    big = value_view(key_from_bytes(b"\xff" * (HEX_MAX_BYTES + 100)))
    assert big.hex_cut and big.hex_bytes == HEX_MAX_BYTES
    assert big.hex.count("\n") + 1 == HEX_MAX_BYTES // 16
