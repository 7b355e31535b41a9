"""The ingest contract (tests/doors/test_ingest_contract.py: one outcome, four doors, Redis
unchanged on refusal) for the classes the hostile review found: the app's and RQ's own keys
(400, not a user stream), a stream at the top of the ID space (409, exhausted, where today
Redis's refusal was a 500), and values that are not text (lone surrogates, API only: no form
can carry them)."""

from __future__ import annotations

import pytest

from streams_app.domain.names import key_bytes
from tests.doors import test_ingest_contract as contract
from tests.doors.test_ingest_contract import Case

TOP_ID = "18446744073709551615-18446744073709551615"


def at_the_top_of_the_id_space(r, city):
    r.xadd(key_bytes(city), {"temperature": "20", "humidity": "50"}, id=TOP_ID)


def holds_a_stream(r, city):
    r.xadd(key_bytes(city), {"n": "1"})


CASES = [
    *(
        Case(f"internal-{label}", city=city, setup=setup, expect=400, mentions="not a user stream")
        for label, city in [
            ("app", "weatherstreams:processed:mygroup"),
            ("channel-layer", "weatherstreams:asgi"),
            ("rq-results", "rq:results:0f3a"),
            ("rq-queue", "rq:queue:default"),
            ("dead-letters", "chennai:dead"),
        ]
        for setup in (None, holds_a_stream)
    ),
    Case("exhausted-auto-id", setup=at_the_top_of_the_id_space, expect=409, mentions="last possible ID"),
    Case(
        "exhausted-explicit-id",
        entry_id="7-0",
        setup=at_the_top_of_the_id_space,
        expect=409,
        mentions="last possible ID",
    ),
    Case("the-top-id-itself", entry_id=TOP_ID, explicit_id=TOP_ID, stored=("21.5", "60")),
    Case(
        "temperature-lone-surrogate",
        temperature="\ud800",
        expect=400,
        mentions="Temperature must be a number",
        not_through=frozenset({"form", "admin", "produce"}),
    ),
    Case(
        "humidity-lone-surrogate",
        humidity="1\udcff",
        expect=400,
        mentions="Humidity must be a number",
        not_through=frozenset({"form", "admin", "produce"}),
    ),
]


def _params():
    return [
        pytest.param(case, door, id=f"{case.name}-{door}")
        for case in CASES
        for door in contract.DOORS
        if door not in case.not_through
    ]


@pytest.mark.parametrize(("case", "door"), _params())
def test_every_door_gives_the_domain_outcome(case, door, redis_client, store, db, request):
    contract.test_every_door_gives_the_domain_outcome(case, door, redis_client, store, db, request)


@pytest.mark.parametrize("case", [case for case in CASES if "surrogate" in case.name], ids=lambda case: case.name)
def test_a_lone_surrogate_is_quoted_as_an_escape_in_the_message(case, api, redis_client):
    body = {"temperature": case.temperature, "humidity": case.humidity}
    response = api.post(
        "/api/streams/chennai/readings", data=contract.json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert "\\ud800" in response.json()["error"] or "\\xff" in response.json()["error"]
    assert redis_client.dbsize() == 0
