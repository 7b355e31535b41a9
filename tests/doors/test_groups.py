"""Consumer groups, pending entries, dead letters and workers: the domain functions and the
JSON API, against the suite's real Redis. Consumers get pending entries by reading with
XREADGROUP directly, as a worker would."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from streams_app.domain.dead_letters import dead_letters_redrive
from streams_app.domain.groups import (
    group_create,
    parse_group_start,
    validate_consumer_name,
    validate_group_name,
    workers_overview,
)
from streams_app.domain.names import url_token
from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.gateway.keys import dead_letter_key, heartbeat_key, workers_index_key
from streams_app.gateway.stores import group_store, heartbeat_store, stream_store
from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, WorkerIO
from tests.support.entries import add, read
from tests.support.redis_server import free_port

STREAM = "chennai"


@pytest.fixture
def anonymous(redis_client):
    from django.test import Client

    return Client()


def api_url(*parts):
    return "/api/streams/" + "/".join(parts)


def post_json(api, url, body):
    return api.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def pending_setup(redis_client):
    """Stream with 6 entries; group g; alice has 3 pending, bob 2, one entry not delivered."""
    ids = add(redis_client, count=6)
    redis_client.xgroup_create(STREAM, "g", id="0")
    read(redis_client, "alice", 3)
    read(redis_client, "bob", 2)
    return ids


# --- names and start IDs -----------------------------------------------------------


def test_names_follow_the_city_rules_with_their_own_label():
    assert validate_group_name("my-group.1:a_b") == "my-group.1:a_b"
    for bad, expected in [("", "The group name is required."), ("a b", "not a valid group name"), ("x" * 65, "65")]:
        with pytest.raises(BadInput) as caught:
            validate_group_name(bad)
        assert expected in caught.value.message
        assert "city" not in caught.value.message
    with pytest.raises(BadInput) as caught:
        validate_consumer_name("no/slash")
    assert "consumer name" in caught.value.message
    with pytest.raises(BadInput):
        validate_consumer_name(42)


def test_group_start_forms():
    utc = ZoneInfo("UTC")
    assert parse_group_start("", tz=utc) == "$"
    assert parse_group_start("$", tz=utc) == "$"
    assert parse_group_start("0", tz=utc) == "0-0"
    assert parse_group_start("1700000000000", tz=utc) == "1700000000000-0"
    assert parse_group_start(" 1700000000000-7 ", tz=utc) == "1700000000000-7"
    # A date-time T: the group's last-delivered ID is the one right before T's first ID.
    assert parse_group_start("2024-05-01 00:00", tz=utc) == "1714521599999-18446744073709551615"
    assert parse_group_start("1970-01-01T00:00:00+00:00", tz=utc) == "0-0"
    kolkata = parse_group_start("2024-05-01 05:30", tz=ZoneInfo("Asia/Kolkata"))
    assert kolkata == "1714521599999-18446744073709551615"
    for bad in ["yesterday", "-", "1-2-3", "1969-12-31 23:00+00:00", "99999999999999999999999"]:
        with pytest.raises(BadInput) as caught:
            parse_group_start(bad, tz=utc)
        assert caught.value.field == "start"
    with pytest.raises(BadInput):
        parse_group_start("", tz=utc, default=None)


def test_date_time_start_delivers_exactly_the_entries_at_or_after_it(redis_client):
    t_ms = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
    for entry_id in [f"{t_ms - 1}-0", f"{t_ms - 1}-5", f"{t_ms}-0", f"{t_ms}-1", f"{t_ms + 1}-0"]:
        redis_client.xadd(STREAM, {"temperature": "1", "humidity": "1"}, id=entry_id)
    created = group_create(
        store=group_store(), stream=STREAM, name="from-noon", start="2024-05-01 14:00+02:00", tz=ZoneInfo("UTC")
    )
    assert created.start_id == f"{t_ms - 1}-18446744073709551615"
    assert read(redis_client, "c", 100, group="from-noon") == [f"{t_ms}-0", f"{t_ms}-1", f"{t_ms + 1}-0"]


def test_date_time_start_read_in_the_given_time_zone(redis_client):
    t_ms = int(datetime(2024, 5, 1, 0, 0, tzinfo=UTC).timestamp() * 1000)
    redis_client.xadd(STREAM, {"a": "1"}, id=f"{t_ms - 1}-0")
    redis_client.xadd(STREAM, {"a": "2"}, id=f"{t_ms}-0")
    group_create(store=group_store(), stream=STREAM, name="g", start="2024-05-01 05:30", tz=ZoneInfo("Asia/Kolkata"))
    assert read(redis_client, "c", 10) == [f"{t_ms}-0"]


# --- groups ------------------------------------------------------------------------


def test_api_groups_lists_groups_as_xinfo_reports_them(api, redis_client, pending_setup):
    redis_client.xgroup_create(STREAM, "late", id="$")
    response = api.get(api_url(STREAM, "groups"))
    assert response.status_code == 200
    groups = {group["name"]: group for group in response.json()["groups"]}
    for group in groups.values():
        assert (group.pop("lag_exact"), group.pop("lag_at_least")) == (True, None)
    assert groups == {
        "g": {"name": "g", "token": "g", "consumers": 2, "pending": 5, "last_delivered_id": "1004-0", "lag": 1},
        "late": {
            "name": "late",
            "token": "late",
            "consumers": 0,
            "pending": 0,
            "last_delivered_id": "1005-0",
            "lag": 0,
        },
    }


def test_api_groups_errors(api, redis_client):
    assert api.get(api_url("nowhere", "groups")).status_code == 404
    redis_client.set("plain", "x")
    response = api.get(api_url("plain", "groups"))
    assert response.status_code == 409
    assert "not a stream" in response.json()["error"]
    assert api.put(api_url(STREAM, "groups")).status_code == 405


def test_api_needs_authentication(anonymous, redis_client):
    add(redis_client, count=1)
    assert anonymous.get(api_url(STREAM, "groups")).status_code == 401


def test_api_create_group(api, redis_client):
    ids = add(redis_client, count=3)
    response = post_json(api, api_url(STREAM, "groups"), {"name": "g", "start": "0"})
    assert response.status_code == 201
    assert response.json() == {
        "name": "g",
        "token": "g",
        "consumers": 0,
        "pending": 0,
        "last_delivered_id": "0-0",
        "lag": 3,
        "lag_exact": True,
        "lag_at_least": None,
        "start": "0-0",
    }
    assert read(redis_client, "c", 10) == ids

    response = post_json(api, api_url(STREAM, "groups"), {"name": "newest"})
    assert response.status_code == 201
    assert response.json()["start"] == ids[-1]
    assert response.json()["last_delivered_id"] == ids[-1]

    response = post_json(api, api_url(STREAM, "groups"), {"name": "after-1", "start": ids[0]})
    assert response.status_code == 201
    assert read(redis_client, "c", 10, group="after-1") == ids[1:]


def test_api_create_group_errors(api, redis_client):
    add(redis_client, count=1)
    post_json(api, api_url(STREAM, "groups"), {"name": "g"})
    cases = [
        ({"name": "g"}, 409, "already exists"),
        ({"name": "bad name"}, 400, "not a valid group name"),
        ({"name": ""}, 400, "group name is required"),
        ({}, 400, "group name is required"),
        ({"name": 7}, 400, "must be text"),
        ({"name": "ok", "start": "soon"}, 400, "neither a stream ID"),
        ({"name": "ok", "start": 5}, 400, "must be text"),
        ({"name": "ok", "start": "1-2-3"}, 400, "neither a stream ID"),
    ]
    for body, status, message in cases:
        response = post_json(api, api_url(STREAM, "groups"), body)
        assert response.status_code == status, body
        assert message in response.json()["error"], body
    assert api.post(api_url(STREAM, "groups"), data="[", content_type="application/json").status_code == 400
    # Unknown stream: made (XGROUP CREATE … MKSTREAM), if its name is a valid city; a key of another type: 409.
    assert post_json(api, api_url("nowhere", "groups"), {"name": "g"}).status_code == 201
    assert redis_client.type("nowhere") == b"stream" and redis_client.xlen("nowhere") == 0
    bad_name = post_json(api, api_url("no where", "groups"), {"name": "g"})
    assert bad_name.status_code == 400 and "not a valid city name" in bad_name.json()["error"]
    assert redis_client.exists("no where") == 0
    redis_client.set("plain", "x")
    assert post_json(api, api_url("plain", "groups"), {"name": "g"}).status_code == 409
    assert [g["name"] for g in api.get(api_url(STREAM, "groups")).json()["groups"]] == ["g"]


def test_api_group_get_setid_and_destroy(api, redis_client, pending_setup):
    assert api.get(api_url(STREAM, "groups", "g")).json()["pending"] == 5
    response = post_json(api, api_url(STREAM, "groups", "g", "setid"), {"id": "1001"})
    assert response.status_code == 200
    assert response.json() == {"name": "g", "last_delivered_id": "1001-0"}
    assert read(redis_client, "carol", 1) == ["1002-0"]
    assert post_json(api, api_url(STREAM, "groups", "g", "setid"), {"id": "$"}).json()["last_delivered_id"] == "1005-0"
    for bad in [{"id": "nope"}, {"id": ""}, {}, {"id": "1-2-3"}]:
        assert post_json(api, api_url(STREAM, "groups", "g", "setid"), bad).status_code == 400, bad
    assert post_json(api, api_url(STREAM, "groups", "missing", "setid"), {"id": "0"}).status_code == 404
    assert post_json(api, api_url("nowhere", "groups", "g", "setid"), {"id": "0"}).status_code == 404

    assert api.delete(api_url(STREAM, "groups", "g")).json() == {"destroyed": "g"}
    assert redis_client.xinfo_groups(STREAM) == []
    assert api.delete(api_url(STREAM, "groups", "g")).status_code == 404
    assert api.delete(api_url("nowhere", "groups", "g")).status_code == 404


def test_unknown_and_invalid_group_names(api, redis_client, pending_setup):
    assert api.get(api_url(STREAM, "groups", "missing", "consumers")).status_code == 404
    response = api.get(api_url(STREAM, "groups", url_token("bad name"), "consumers"))
    assert response.status_code == 400
    assert "not a valid group name" in response.json()["error"]
    assert api.get(api_url("nowhere", "groups", "g", "consumers")).status_code == 404
    # A group made by another program under a name we would refuse is still reachable.
    redis_client.xgroup_create(STREAM, "odd name/with slash", id="0")
    response = api.get(api_url(STREAM, "groups", url_token("odd name/with slash"), "consumers"))
    assert response.status_code == 200


# --- consumers and pending entries ---------------------------------------------------


def test_consumers_pending_counts_match_xpending(api, redis_client, pending_setup):
    response = api.get(api_url(STREAM, "groups", "g", "consumers"))
    assert response.status_code == 200
    consumers = response.json()["consumers"]
    assert [c["name"] for c in consumers] == ["alice", "bob"]
    assert all(isinstance(c["idle_ms"], int) and c["idle_ms"] >= 0 for c in consumers)
    summary = redis_client.xpending(STREAM, "g")
    assert {c["name"]: c["pending"] for c in consumers} == {
        row["name"].decode(): int(row["pending"]) for row in summary["consumers"]
    }


def test_pending_list_shape_and_filters(api, redis_client, pending_setup):
    response = api.get(api_url(STREAM, "groups", "g", "pending"))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    rows = redis_client.xpending_range(STREAM, "g", min="-", max="+", count=100)
    assert [(p["id"], p["consumer"], p["deliveries"]) for p in body["pending"]] == [
        (row["message_id"].decode(), row["consumer"].decode(), row["times_delivered"]) for row in rows
    ]
    assert set(body["pending"][0]) == {"id", "consumer", "idle_ms", "deliveries"}

    bob = api.get(api_url(STREAM, "groups", "g", "pending") + "?consumer=bob").json()["pending"]
    assert [p["id"] for p in bob] == pending_setup[3:5]
    assert api.get(api_url(STREAM, "groups", "g", "pending") + "?consumer=nobody").json()["pending"] == []
    # Make alice's first entry look idle for a minute (XCLAIM ... IDLE sets the idle time).
    redis_client.xclaim(STREAM, "g", "alice", 0, [pending_setup[0]], idle=60_000)
    idle = api.get(api_url(STREAM, "groups", "g", "pending") + "?min_idle=30000").json()["pending"]
    assert [p["id"] for p in idle] == [pending_setup[0]]
    assert idle[0]["idle_ms"] >= 60_000


def test_pending_pages_follow_the_id_cursor(api, redis_client):
    ids = add(redis_client, count=7)
    redis_client.xgroup_create(STREAM, "g", id="0")
    read(redis_client, "alice", 7)
    url = api_url(STREAM, "groups", "g", "pending") + "?count=3"
    seen, pages = [], 0
    while url:
        body = api.get(url).json()
        seen.extend(p["id"] for p in body["pending"])
        url, pages = body["next"], pages + 1
        assert pages < 10
    assert seen == ids
    assert pages == 3


def test_pending_bad_input(api, redis_client, pending_setup):
    base = api_url(STREAM, "groups", "g", "pending")
    for query in ["?count=x", "?count=0", "?min_idle=-1", "?min_idle=soon", "?after=nope", "?consumer=bad%20name"]:
        response = api.get(base + query)
        assert response.status_code == 400, query
        assert response.json()["error"], query
    assert api.get(api_url(STREAM, "groups", "missing", "pending")).status_code == 404


def test_ack(api, redis_client, pending_setup):
    url = api_url(STREAM, "groups", "g", "ack")
    response = post_json(api, url, {"ids": pending_setup[:2]})
    assert response.status_code == 200
    assert response.json() == {"acked": 2}
    assert post_json(api, url, {"ids": pending_setup[:2]}).json() == {"acked": 0}
    assert post_json(api, url, {"ids": ["999-0", pending_setup[5]]}).json() == {"acked": 0}
    assert post_json(api, url, {"ids": []}).json() == {"acked": 0}
    assert redis_client.xpending(STREAM, "g")["pending"] == 3
    for bad in [{"ids": ["nope"]}, {"ids": "1000-0"}, {}, {"ids": [1000]}, {"ids": ["1000-0", "x"]}]:
        assert post_json(api, url, bad).status_code == 400, bad
    assert redis_client.xpending(STREAM, "g")["pending"] == 3
    assert post_json(api, api_url(STREAM, "groups", "missing", "ack"), {"ids": ["1-0"]}).status_code == 404


def test_claim(api, redis_client, pending_setup):
    url = api_url(STREAM, "groups", "g", "claim")
    response = post_json(api, url, {"ids": pending_setup[:2], "consumer": "carol"})
    assert response.status_code == 200
    assert response.json() == {"claimed": pending_setup[:2]}
    owners = {
        row["message_id"].decode(): row["consumer"].decode()
        for row in redis_client.xpending_range(STREAM, "g", min="-", max="+", count=10)
    }
    assert owners[pending_setup[0]] == owners[pending_setup[1]] == "carol"
    # Entries not idle long enough stay where they are.
    assert post_json(api, url, {"ids": pending_setup[3:5], "consumer": "carol", "min_idle": 3_600_000}).json() == {
        "claimed": []
    }
    for bad in [
        {"ids": pending_setup[:1], "consumer": ""},
        {"ids": pending_setup[:1], "consumer": "   "},
        {"ids": pending_setup[:1]},
        {"ids": pending_setup[:1], "consumer": "bad name"},
        {"ids": ["nope"], "consumer": "carol"},
        {"ids": pending_setup[:1], "consumer": "carol", "min_idle": "soon"},
    ]:
        assert post_json(api, url, bad).status_code == 400, bad


def test_delete_consumer_refused_with_pending_then_allowed_after_claim(api, redis_client, pending_setup):
    url = api_url(STREAM, "groups", "g", "consumers", "alice")
    response = api.delete(url)
    assert response.status_code == 409
    assert "still has pending entries" in response.json()["error"]
    assert {c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, "g")} == {"alice", "bob"}
    post_json(api, api_url(STREAM, "groups", "g", "claim"), {"ids": pending_setup[:3], "consumer": "bob"})
    assert api.delete(url).json() == {"deleted": "alice"}
    assert [c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, "g")] == ["bob"]
    assert redis_client.xpending(STREAM, "g")["pending"] == 5  # nothing was dropped
    assert api.delete(url).status_code == 404
    assert api.delete(api_url(STREAM, "groups", "g", "consumers", url_token("bad name"))).status_code == 400


def test_redis_down_is_503(api, settings, redis_client):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    for response in [
        api.get(api_url(STREAM, "groups")),
        post_json(api, api_url(STREAM, "groups"), {"name": "g"}),
        api.get(api_url(STREAM, "groups", "g", "pending")),
        post_json(api, api_url(STREAM, "groups", "g", "ack"), {"ids": ["1-0"]}),
        api.get("/api/workers"),
    ]:
        assert response.status_code == 503
        assert "unavailable" in response.json()["error"]


# --- dead letters --------------------------------------------------------------------


def dead_letter(redis_client, ids, *, stream=STREAM, error="ValueError: bad reading"):
    """Dead-letter `ids` the way a worker does (finish_batch), after delivering them to w1."""
    outcome = BatchOutcome()
    for entry_id in ids:
        [(_, fields)] = redis_client.xrange(stream, entry_id, entry_id)
        outcome.dead_letters.append(
            DeadLetter(
                stream=stream,
                id=entry_id,
                fields={k.decode(): v.decode() for k, v in fields.items()},
                group="g",
                consumer="w1",
                deliveries=6,
                error=error,
                dead_stream=dead_letter_key(stream),
            )
        )
    WorkerIO(redis_client).finish_batch("g", "w1", outcome)
    return [raw.decode() for raw, _ in redis_client.xrange(dead_letter_key(stream))]


@pytest.fixture
def dead_setup(redis_client):
    ids = add(redis_client, count=4)
    redis_client.xgroup_create(STREAM, "g", id="0")
    read(redis_client, "w1", 3)
    return ids, dead_letter(redis_client, ids[:3])


def test_dead_letters_api_lists_newest_first(api, dead_setup):
    ids, dead_ids = dead_setup
    body = api.get(api_url(STREAM, "dead-letters") + "?count=2").json()
    assert body["dead_stream"] == "{chennai}:dead"
    first = body["dead_letters"][0]
    assert first == {
        "dead_id": dead_ids[2],
        "stream": STREAM,
        "id": ids[2],
        "group": "g",
        "consumer": "w1",
        "deliveries": 6,
        "error": "ValueError: bad reading",
        "error_summary": "ValueError: bad reading",
        "fields": {"temperature": "22", "humidity": "50"},
        "redrivable": True,
    }
    assert [d["dead_id"] for d in body["dead_letters"]] == dead_ids[:0:-1]
    rest = api.get(body["next"]).json()
    assert [d["dead_id"] for d in rest["dead_letters"]] == dead_ids[:1]
    assert rest["next"] is None
    assert api.get(api_url("nowhere", "dead-letters")).status_code == 404
    assert api.get(api_url(STREAM, "dead-letters") + "?after=x").status_code == 400


def test_redrive_moves_selected_entries_back_atomically(api, redis_client, dead_setup):
    ids, dead_ids = dead_setup
    last_before = redis_client.xinfo_stream(STREAM)["last-generated-id"].decode()
    response = post_json(api, api_url(STREAM, "dead-letters", "redrive"), {"ids": [dead_ids[0], dead_ids[2]]})
    assert response.status_code == 200
    moved = response.json()["moved"]
    assert [m["dead_id"] for m in moved] == [dead_ids[0], dead_ids[2]]
    assert response.json()["missing"] == []
    # New entries at the end of the stream, with the original fields; gone from the dead letters.
    tail = redis_client.xrange(STREAM, f"({last_before}", "+")
    assert [raw.decode() for raw, _ in tail] == [m["id"] for m in moved]
    assert [fields[b"temperature"] for _, fields in tail] == [b"20", b"22"]
    assert [raw.decode() for raw, _ in redis_client.xrange(dead_letter_key(STREAM))] == [dead_ids[1]]
    # The group delivers them again.
    assert read(redis_client, "w2", 10) == [ids[3], *(m["id"] for m in moved)]
    # Already re-driven: reported missing, nothing moves.
    again = post_json(api, api_url(STREAM, "dead-letters", "redrive"), {"ids": [dead_ids[0]]}).json()
    assert again == {"moved": [], "missing": [dead_ids[0]]}


def test_redrive_refuses_foreign_entries_and_moves_nothing(api, redis_client, dead_setup):
    _, dead_ids = dead_setup
    foreign = redis_client.xadd(dead_letter_key(STREAM), {"stream": "other", "id": "1-0", "orig:a": "1"}).decode()
    length = redis_client.xlen(STREAM)
    response = post_json(api, api_url(STREAM, "dead-letters", "redrive"), {"ids": [dead_ids[0], foreign]})
    assert response.status_code == 409
    assert "Nothing was moved" in response.json()["error"]
    assert redis_client.xlen(STREAM) == length
    assert redis_client.xlen(dead_letter_key(STREAM)) == 4
    for bad in [{"ids": ["nope"]}, {"ids": []}, {}]:
        assert post_json(api, api_url(STREAM, "dead-letters", "redrive"), bad).status_code == 400, bad


def test_redrive_domain_without_dead_stream(redis_client):
    add(redis_client, count=1)
    result = dead_letters_redrive(streams=stream_store(), groups=group_store(), stream=STREAM, ids=["1-0"])
    assert result.moved == [] and result.missing == ["1-0"]
    with pytest.raises(NotFound):
        dead_letters_redrive(streams=stream_store(), groups=group_store(), stream="nowhere", ids=["1-0"])
    redis_client.set("plain", "x")
    with pytest.raises(Conflict):
        dead_letters_redrive(streams=stream_store(), groups=group_store(), stream="plain", ids=["1-0"])


# --- workers -------------------------------------------------------------------------


def beat(redis_client, group, name, *, last_seen, state="running"):
    io = WorkerIO(redis_client)
    status = {
        "name": name,
        "host": "box",
        "pid": "4242",
        "group": group,
        "streams": json.dumps([STREAM]),
        "started": f"{last_seen - 60:.3f}",
        "last_seen": f"{last_seen:.3f}",
        "processed": "12",
        "failed": "1",
        "dead_lettered": "0",
        "rate": "2.5",
        "state": state,
    }
    assert io.beat(group=group, name=name, status=status, ttl_ms=60_000, lock_token="t", lock_ttl_ms=60_000)


def test_workers_live_and_gone(api, redis_client):
    now = time.time()
    beat(redis_client, "g", "w-live", last_seen=now)
    beat(redis_client, "g", "w-gone", last_seen=now - 300)
    redis_client.delete(heartbeat_key("g", "w-gone"))  # its heartbeat expired
    overview = workers_overview(store=heartbeat_store())
    assert [(w.name, w.alive, w.state) for w in overview.live] == [("w-live", True, "running")]
    assert [(w.name, w.alive, w.state) for w in overview.gone] == [("w-gone", False, "gone")]
    assert overview.live[0].streams == [STREAM] and overview.live[0].pid == 4242
    assert abs(overview.gone[0].last_seen - (now - 300)) < 0.01

    body = api.get("/api/workers").json()
    assert [(w["name"], w["alive"], w["state"]) for w in body["workers"]] == [
        ("w-live", True, "running"),
        ("w-gone", False, "gone"),
    ]
    assert body["workers"][0]["processed"] == 12 and body["workers"][0]["rate"] == 2.5
    assert body["workers"][1]["last_seen"].startswith(datetime.fromtimestamp(now - 300, tz=UTC).strftime("%Y-%m-%dT%H"))


def test_workers_with_a_malformed_heartbeat(redis_client):
    redis_client.zadd(workers_index_key(), {"g\tweird": time.time()})
    redis_client.hset(heartbeat_key("g", "weird"), mapping={"pid": "x", "streams": "not json", "rate": ""})
    [worker] = workers_overview(store=heartbeat_store()).live
    assert worker.pid is None and worker.streams == ["not json"] and worker.rate == 0.0
