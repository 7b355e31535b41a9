"""One behaviour, four doors: the web form, the admin add view, the JSON API and
`manage.py produce` must accept and refuse exactly the same readings, with the same
message, and write nothing when they refuse. The two doors for entries with any fields (the
entries API and the add-entry page) share the contract where it applies: see
`fits_the_entry_doors`.

Each test runs one input through the domain function `reading_add` (the reference) on a
freshly prepared Redis, then through one door on the same fresh state, and compares:
success or refusal, the HTTP status (where the door has one), the message text, the
stored entry, and that a refusal left every key untouched.

Inputs a door cannot carry are documented where the cases are built:
- the API takes the city from the URL; every name, even the empty one or one with
  control characters, can be addressed through `stream_names.url_token` (`~` + base64),
  so the API door is tested with every city;
- `produce` without --temperature/--humidity writes simulated weather by design, so the
  "missing field" cases are not run through it (its "empty value" cases are);
- the entry doors (`entry-api`, `entry-form`) take any fields, as given, on any user stream:
  they run the cases whose fields are already the canonical reading and whose city is a valid
  city name, i.e. the ID rules and the kinds of key, which must be the readings' own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.crypto import get_random_string
from django.utils.html import escape

from streams_app.domain.names import key_bytes, url_token, validate_city
from streams_app.domain.readings import reading_add
from streams_app.errors import BadInput, DomainError

MISSING = object()  # the field is not sent at all


# --- Redis states the cases start from ---------------------------------------------


def stream_at_5_5(r, city):
    r.xadd(key_bytes(city), {"temperature": "20", "humidity": "50"}, id="5-5")


def stream_with_deleted_last(r, city):
    # Last entry 5-5, but the last *generated* ID is 7-0 (its entry was deleted).
    r.xadd(key_bytes(city), {"temperature": "20", "humidity": "50"}, id="5-5")
    r.xadd(key_bytes(city), {"temperature": "21", "humidity": "51"}, id="7-0")
    r.xdel(key_bytes(city), "7-0")


def string_key(r, city):
    r.set(key_bytes(city), "not a stream")


def hash_key(r, city):
    r.hset(key_bytes(city), mapping={"temperature": "20"})


@dataclass(frozen=True)
class Case:
    name: str
    city: object = "chennai"
    temperature: object = "21.5"
    humidity: object = "60"
    entry_id: object = MISSING
    setup: Callable | None = None
    # What the domain must answer: 201 (added), 400 or 409; and words the message must contain.
    expect: int = 201
    mentions: str = ""
    stored: tuple[str, str] | None = None  # the canonical (temperature, humidity) stored on success
    explicit_id: str | None = None  # the ID the entry must get on success
    not_through: frozenset[str] = field(default_factory=frozenset)


NO_PRODUCE_MISSING = frozenset({"produce"})  # omitted --temperature/--humidity means "simulate"

CASES = [
    # valid readings
    Case("valid", stored=("21.5", "60")),
    Case("valid-canonical", temperature="21.50", humidity="060", stored=("21.5", "60")),
    Case("valid-lowest", temperature="-90", humidity="0", stored=("-90", "0")),
    Case("valid-highest", temperature="60", humidity="100", stored=("60", "100")),
    Case("valid-minus-zero", temperature="-0.0", humidity="+5", stored=("0", "5")),
    Case("valid-exponent", temperature="1E+1", humidity="2.5e1", stored=("10", "25")),
    Case("valid-padded", temperature="  26 ", humidity=" 10 ", stored=("26", "10")),
    Case("valid-unicode-city", city="münchen", stored=("21.5", "60")),
    Case("valid-punctuated-city", city="in:tn.chennai-01_a", stored=("21.5", "60")),
    Case("valid-64-char-city", city="c" * 64, stored=("21.5", "60")),
    Case("valid-one-char-city", city="x", stored=("21.5", "60")),
    Case("valid-dot-city", city=".", stored=("21.5", "60")),
    Case("valid-id-ms-seq", entry_id="7-3", explicit_id="7-3", stored=("21.5", "60")),
    Case("valid-id-ms", entry_id="7", explicit_id="7-0", stored=("21.5", "60")),
    Case("valid-id-padded", entry_id=" 8-1 ", explicit_id="8-1", stored=("21.5", "60")),
    Case("valid-id-0-1", entry_id="0-1", explicit_id="0-1", stored=("21.5", "60")),
    Case(
        "valid-id-max",
        entry_id="18446744073709551615-18446744073709551615",
        explicit_id="18446744073709551615-18446744073709551615",
        stored=("21.5", "60"),
    ),
    Case("valid-id-star", entry_id="*", stored=("21.5", "60")),
    Case("valid-id-empty", entry_id="", stored=("21.5", "60")),
    Case("valid-id-above-last", entry_id="5-6", setup=stream_at_5_5, explicit_id="5-6", stored=("21.5", "60")),
    Case("valid-id-next-ms", entry_id="6", setup=stream_at_5_5, explicit_id="6-0", stored=("21.5", "60")),
    Case("valid-auto-id-existing", setup=stream_at_5_5, stored=("21.5", "60")),
    # text
    Case("temperature-text", temperature="warm", expect=400, mentions="Temperature"),
    Case("humidity-text", humidity="humid", expect=400, mentions="Humidity"),
    Case("temperature-comma", temperature="21,5", expect=400, mentions="Temperature"),
    Case("temperature-with-unit", temperature="21°C", expect=400, mentions="Temperature"),
    Case("temperature-markup", temperature="<b>1</b>", expect=400, mentions="Temperature"),
    # empty
    Case("temperature-empty", temperature="", expect=400, mentions="Temperature is required"),
    Case("humidity-empty", humidity="", expect=400, mentions="Humidity is required"),
    Case("temperature-blank", temperature="   ", expect=400, mentions="Temperature is required"),
    # not finite
    Case("temperature-nan", temperature="NaN", expect=400, mentions="finite"),
    Case("humidity-nan", humidity="nan", expect=400, mentions="finite"),
    Case("temperature-snan", temperature="sNaN", expect=400, mentions="finite"),
    Case("temperature-inf", temperature="inf", expect=400, mentions="finite"),
    Case("temperature-infinity", temperature="Infinity", expect=400, mentions="finite"),
    Case("temperature-minus-infinity", temperature="-Infinity", expect=400, mentions="finite"),
    Case("humidity-infinity", humidity="Infinity", expect=400, mentions="finite"),
    # out of range
    Case("temperature-too-high", temperature="60.01", expect=400, mentions="between -90 and 60"),
    Case("temperature-too-low", temperature="-90.5", expect=400, mentions="between -90 and 60"),
    Case("temperature-huge", temperature="1e400", expect=400, mentions="between -90 and 60"),
    Case("humidity-too-high", humidity="100.1", expect=400, mentions="between 0 and 100"),
    Case("humidity-negative", humidity="-0.5", expect=400, mentions="between 0 and 100"),
    Case("temperature-too-long", temperature="1" + "0" * 40, expect=400, mentions="at most 32 characters"),
    # missing
    Case(
        "temperature-missing",
        temperature=MISSING,
        expect=400,
        mentions="Temperature is required",
        not_through=NO_PRODUCE_MISSING,
    ),
    Case(
        "humidity-missing",
        humidity=MISSING,
        expect=400,
        mentions="Humidity is required",
        not_through=NO_PRODUCE_MISSING,
    ),
    Case(
        "both-missing",
        temperature=MISSING,
        humidity=MISSING,
        expect=400,
        mentions="Temperature is required",
        not_through=NO_PRODUCE_MISSING,
    ),
    # bad city names
    Case("city-space", city="new york", expect=400, mentions="not a valid city name"),
    Case("city-control-char", city="\x01abc", expect=400, mentions="not a valid city name"),
    Case("city-nul-char", city="ab\x00c", expect=400, mentions="not a valid city name"),
    Case("city-trailing-newline", city="chennai\n", expect=400, mentions="not a valid city name"),
    Case("city-tab", city="che\tnnai", expect=400, mentions="not a valid city name"),
    Case("city-65-chars", city="c" * 65, expect=400, mentions="at most 64"),
    Case("city-empty", city="", expect=400, mentions="city name is required"),
    Case("city-slash", city="in/chennai", expect=400, mentions="not a valid city name"),
    Case("city-markup", city="<b>x</b>", expect=400, mentions="not a valid city name"),
    # malformed IDs
    Case("id-text", entry_id="abc", expect=400, mentions="not a valid entry ID"),
    Case("id-three-parts", entry_id="1-2-3", expect=400, mentions="not a valid entry ID"),
    Case("id-negative", entry_id="-5", expect=400, mentions="not a valid entry ID"),
    Case("id-ms-too-big", entry_id="18446744073709551616", expect=400, mentions="out of range"),
    Case("id-seq-too-big", entry_id="5-18446744073709551616", expect=400, mentions="out of range"),
    Case("id-zero", entry_id="0-0", expect=400, mentions="greater than 0-0"),
    Case("id-decimal", entry_id="1.5", expect=400, mentions="not a valid entry ID"),
    Case("id-star-seq", entry_id="5-*", expect=400, mentions="not a valid entry ID"),
    # IDs that do not grow
    Case("id-equal-last", entry_id="5-5", setup=stream_at_5_5, expect=409, mentions="not greater than the last ID"),
    Case("id-below-last", entry_id="5-4", setup=stream_at_5_5, expect=409, mentions="not greater than the last ID"),
    Case("id-ms-below-last", entry_id="5", setup=stream_at_5_5, expect=409, mentions="not greater than the last ID"),
    Case("id-earlier-ms", entry_id="4-9", setup=stream_at_5_5, expect=409, mentions="not greater than the last ID"),
    Case("id-below-deleted-last", entry_id="6", setup=stream_with_deleted_last, expect=409, mentions="(7-0)"),
    # keys that are not streams
    Case("string-key", setup=string_key, expect=409, mentions="holds a string, not a stream"),
    Case("string-key-explicit-id", setup=string_key, entry_id="9-0", expect=409, mentions="not a stream"),
    Case("hash-key", setup=hash_key, expect=409, mentions="holds a hash, not a stream"),
    # several things wrong: every door names the same (first) one
    Case("temperature-and-id-bad", temperature="warm", entry_id="abc", expect=400, mentions="Temperature"),
    Case("city-and-temperature-bad", city="new york", temperature="warm", expect=400, mentions="city name"),
]

DOORS = ["form", "admin", "api", "produce"]
# Not in DOORS: other case tables (test_hostile_ingest.py) run every reading door with theirs.
ENTRY_DOORS = ["entry-api", "entry-form"]


def fits_the_entry_doors(case: Case) -> bool:
    """Whether the entry doors, which store any fields as given on any user stream, must answer
    this case as readings do: its fields are the canonical reading and its city a valid name."""
    if (case.temperature, case.humidity) != ("21.5", "60"):
        return False
    try:
        validate_city(case.city)
    except BadInput:
        return False
    return True


def _param_list():
    params = []
    for case in CASES:
        for door in DOORS + ENTRY_DOORS:
            if door in case.not_through or (door in ENTRY_DOORS and not fits_the_entry_doors(case)):
                continue
            params.append(pytest.param(case, door, id=f"{case.name}-{door}"))
    return params


@dataclass
class Outcome:
    ok: bool
    status: int | None = None  # None for the command, which has no status
    message: str | None = None  # the error text exactly, where the door gives it as text
    html: str | None = None  # the page, where the door answers with one
    reported_id: str | None = None


# --- Redis snapshots ---------------------------------------------------------------


def snapshot(r) -> dict:
    """Everything a refused write could have touched: every key, its type and contents."""
    state = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "stream":
            info = r.xinfo_stream(key)
            state[key] = (kind, r.xrange(key), info["last-generated-id"])
        elif kind == "string":
            state[key] = (kind, r.get(key))
        elif kind == "hash":
            state[key] = (kind, r.hgetall(key))
        else:  # pragma: no cover - cases only create the kinds above
            state[key] = (kind,)
    return state


def prepare(r, case: Case) -> None:
    r.flushall()
    if case.setup is not None:
        case.setup(r, case.city)


# --- the reference: the domain function itself ---------------------------------------


def reference(store, case: Case) -> Outcome:
    def arg(value):
        return None if value is MISSING else value

    try:
        new_id = reading_add(
            store=store,
            city=arg(case.city),
            temperature=arg(case.temperature),
            humidity=arg(case.humidity),
            entry_id=arg(case.entry_id),
        )
    except DomainError as error:
        return Outcome(ok=False, status=error.status, message=error.message)
    return Outcome(ok=True, status=201, reported_id=new_id)


# --- the doors ---------------------------------------------------------------------


def csrf_token(client: Client) -> str:
    """The CSRF cookie a browser holds after loading any form, and the token that goes with it."""
    if "csrftoken" not in client.cookies:
        client.cookies["csrftoken"] = get_random_string(32)
    return client.cookies["csrftoken"].value


def form_data(case: Case, client: Client) -> dict:
    data = {"csrfmiddlewaretoken": csrf_token(client)}
    for name, value in (
        ("city", case.city),
        ("temperature", case.temperature),
        ("humidity", case.humidity),
        ("id", case.entry_id),
    ):
        if value is not MISSING:
            data[name] = value
    return data


def through_page(client: Client, page: str, case: Case) -> Outcome:
    response = client.post(page, form_data(case, client))
    if response.status_code == 302:
        added = [str(message) for message in get_messages(response.wsgi_request)]
        found = [m for m in added if m.startswith("Added reading ")]
        assert found, f"no confirmation message among {added}"
        reported = re.match(r"Added reading (\S+) to ", found[0]).group(1)
        return Outcome(ok=True, status=201, reported_id=reported)
    return Outcome(ok=False, status=response.status_code, html=response.content.decode())


def through_form(case: Case, client: Client) -> Outcome:
    return through_page(client, "/readings/add/", case)


def through_admin(case: Case, client: Client) -> Outcome:
    return through_page(client, "/admin/streams_app/reading/add/", case)


def through_api(case: Case, api: Client) -> Outcome:
    # The city travels in the URL: its token, percent-encoded like any path segment.
    path = f"/api/streams/{quote(url_token(case.city), safe='')}/readings"
    body = {}
    for name, value in (("temperature", case.temperature), ("humidity", case.humidity), ("id", case.entry_id)):
        if value is not MISSING:
            body[name] = value
    response = api.post(path, data=json.dumps(body), content_type="application/json")
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    payload = response.json()
    if response.status_code == 201:
        assert set(payload) == {"id"}
        return Outcome(ok=True, status=201, reported_id=payload["id"])
    return Outcome(ok=False, status=response.status_code, message=payload.get("error"))


def through_produce(case: Case, _client: None) -> Outcome:
    args = ["produce", case.city, "--count=1", "--quiet"]
    if case.temperature is not MISSING:
        args.append(f"--temperature={case.temperature}")
    if case.humidity is not MISSING:
        args.append(f"--humidity={case.humidity}")
    if case.entry_id is not MISSING:
        args.append(f"--id={case.entry_id}")
    from io import StringIO

    out = StringIO()
    try:
        call_command(*args, stdout=out)
    except CommandError as error:
        return Outcome(ok=False, message=str(error))
    return Outcome(ok=True, reported_id=out.getvalue().strip())


def entry_fields(case: Case) -> dict:
    return {"temperature": case.temperature, "humidity": case.humidity}


def through_entry_api(case: Case, api: Client) -> Outcome:
    path = f"/api/streams/{quote(url_token(case.city), safe='')}/entries"
    body = {"fields": entry_fields(case)}
    if case.entry_id is not MISSING:
        body["id"] = case.entry_id
    response = api.post(path, data=json.dumps(body), content_type="application/json")
    payload = response.json()
    if response.status_code == 201:
        assert set(payload) == {"id"}
        return Outcome(ok=True, status=201, reported_id=payload["id"])
    return Outcome(ok=False, status=response.status_code, message=payload.get("error"))


def through_entry_form(case: Case, client: Client) -> Outcome:
    path = f"/streams/{quote(url_token(case.city), safe='')}/entries/add/"
    data = {
        "csrfmiddlewaretoken": csrf_token(client),
        "field_lines": "\n".join(f"{name}={value}" for name, value in entry_fields(case).items()),
    }
    if case.entry_id is not MISSING:
        data["id"] = case.entry_id
    response = client.post(path, data)
    if response.status_code == 302:
        added = [str(message) for message in get_messages(response.wsgi_request)]
        found = [re.match(r"Added entry (\S+) to ", m) for m in added]
        reported = next(match.group(1) for match in found if match)
        assert response["Location"].endswith(f"/entries/{reported}/")
        return Outcome(ok=True, status=201, reported_id=reported)
    return Outcome(ok=False, status=response.status_code, html=response.content.decode())


def error_text(html: str | None) -> str:
    """The error elements of a page, for failure messages."""
    if not html:
        return ""
    return " | ".join(re.findall(r'(?:role="alert"|class="errorlist"|class="errornote")>(.*?)</', html, re.S))


THROUGH = {
    "form": through_form,
    "admin": through_admin,
    "api": through_api,
    "produce": through_produce,
    "entry-api": through_entry_api,
    "entry-form": through_entry_form,
}
CLIENT_OF = {"form": "web", "admin": "staff", "api": "api", "produce": None, "entry-api": "api", "entry-form": "web"}


@pytest.mark.parametrize(("case", "door"), _param_list())
def test_every_door_gives_the_domain_outcome(case, door, redis_client, store, db, request):
    client = request.getfixturevalue(CLIENT_OF[door]) if CLIENT_OF[door] else None
    # The reference, on a fresh Redis.
    prepare(redis_client, case)
    expected = reference(store, case)
    assert (201 if expected.ok else expected.status) == case.expect, expected.message
    if not expected.ok:
        assert case.mentions in expected.message
        assert expected.status in (400, 409)

    # The door, on the same fresh state.
    prepare(redis_client, case)
    before = snapshot(redis_client)
    outcome = THROUGH[door](case, client)

    if expected.ok:
        assert outcome.ok, f"{door} refused a reading the domain accepts: {outcome.message or error_text(outcome.html)}"
        key = key_bytes(case.city)
        after = snapshot(redis_client)
        assert redis_client.type(key) == b"stream"
        ((last_id, fields),) = redis_client.xrevrange(key, count=1)
        assert outcome.reported_id == last_id.decode(), "the door must report the new entry's ID"
        if case.explicit_id is not None:
            assert outcome.reported_id == case.explicit_id == expected.reported_id
        # Exactly one entry more, with exactly the two fields, as canonical decimal strings.
        assert len(after[key][1]) == len(before.get(key, ("stream", []))[1]) + 1
        assert fields == {b"temperature": case.stored[0].encode(), b"humidity": case.stored[1].encode()}
        assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
        return

    assert not outcome.ok, f"{door} accepted a reading the domain refuses with: {expected.message}"
    assert snapshot(redis_client) == before, f"{door} wrote something although it refused"
    if outcome.status is not None:
        assert outcome.status == expected.status
    if outcome.html is not None:
        shown = error_text(outcome.html)
        assert escape(expected.message) in shown, (
            f"{door} does not show the domain's message {expected.message!r} as an error; it shows {shown!r}"
        )
    else:
        assert outcome.message == expected.message
