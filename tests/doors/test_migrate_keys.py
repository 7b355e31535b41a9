"""`manage.py migrate_keys`: the keys the previous version wrote without hash tags (dead letters,
handler errors, statistics and their indexes) move to their names in the stream's slot, merged
with what this version wrote since, their data intact; a dry run changes nothing; a second run
finds nothing to do; each run is in the audit trail as "cli"; the app then sees the moved
keys. Everything on the suite's real Redis."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from streams_app.domain.key_migration import ON_A_CLUSTER
from streams_app.gateway import key_migration
from streams_app.gateway.keys import (
    dead_letter_key,
    errors_key,
    key_bytes,
    previous_dead_letter_key,
    previous_errors_key,
    previous_stats_index_key,
    previous_stats_key,
    stats_index_key,
    stats_key,
)
from streams_app.gateway.stats import MinuteAggregate, StatsStore
from streams_app.models import AuditEvent
from tests.unit.gateway.test_key_scheme import ClusterNode

pytestmark = pytest.mark.django_db
# The previous key scheme existed only on a single Redis, and the command refuses a cluster.
SINGLE_NODE = pytest.mark.single_node

GROUP = "mygroup"
M1, M2 = 29_000_000, 29_000_001
CAFE = "caf\udce9"  # a stream name that is not UTF-8
HOUR = 3600


def migrate(*args: str) -> str:
    out = StringIO()
    call_command("migrate_keys", *args, stdout=out)
    return out.getvalue()


def letter(stream: str, entry_id: str, temperature: str) -> dict:
    """A dead letter as the workers write it."""
    return {
        "stream": key_bytes(stream),
        "id": entry_id,
        "group": GROUP,
        "consumer": "alice",
        "deliveries": "6",
        "error": "ValueError: bad reading",
        "orig:temperature": temperature,
        "orig:humidity": "50",
    }


def as_stored(fields: dict) -> dict:
    return {name.encode(): value if isinstance(value, bytes) else value.encode() for name, value in fields.items()}


def snapshot(client) -> dict:
    """Every key: its type, its exact value (DUMP) and whether it expires."""
    return {key: (client.type(key), client.dump(key), client.pttl(key) > 0) for key in client.keys("*")}


@pytest.fixture
def previous(redis_client) -> dict:
    """Keys as the previous version left them on one Redis, beside what this version's workers wrote
    since the upgrade (a dead letter, an error and a minute of chennai's)."""
    pipe = redis_client.pipeline()
    for n in range(1, 4):
        pipe.xadd("chennai", {"temperature": str(20 + n), "humidity": "50"}, id=f"{n}-0")
    pipe.xgroup_create("chennai", GROUP, id="0")
    for n in range(1, 4):
        pipe.xadd(previous_dead_letter_key("chennai"), letter("chennai", f"{n}-0", str(20 + n)), id=f"10{n}-0")
    pipe.xadd(previous_dead_letter_key("coimbatore"), letter("coimbatore", "1-0", "30"), id="5-0")
    pipe.xadd(key_bytes(previous_dead_letter_key(CAFE)), letter(CAFE, "1-0", "10"), id="6-0")
    pipe.hset(previous_errors_key("chennai", GROUP), mapping={"2-0": "old error of 2", "3-0": "old error of 3"})
    # "weatherstreams:errors:a:b:c" reads as group a of b:c, or group a:b of c: the one that exists.
    pipe.xgroup_create("c", "a:b", id="0", mkstream=True)
    pipe.hset(previous_errors_key("c", "a:b"), mapping={"1-0": "error in c"})
    pipe.hset(previous_stats_key("chennai", M1), mapping=minute(2, 41.0, 20, 21))
    pipe.hset(previous_stats_key("chennai", M2), mapping=minute(1, 30.5, 30.5, 30.5))
    pipe.zadd(previous_stats_index_key("chennai"), {str(M1): M1, str(M2): M2})
    for key in [
        previous_errors_key("chennai", GROUP),
        previous_errors_key("c", "a:b"),
        previous_stats_key("chennai", M1),
        previous_stats_key("chennai", M2),
        previous_stats_index_key("chennai"),
    ]:
        pipe.expire(key, HOUR)
    # Since the upgrade:
    pipe.xadd(dead_letter_key("chennai"), letter("chennai", "9-0", "99"), id="200-0")
    pipe.hset(errors_key("chennai", GROUP), mapping={"3-0": "new error of 3"})
    pipe.expire(errors_key("chennai", GROUP), 60)
    pipe.execute()
    since = MinuteAggregate(city="chennai", minute=M2)
    since.add({"temperature": 10.0})
    StatsStore(redis_client).merge([since])
    return snapshot(redis_client)


def minute(count: int, total: float, low: float, high: float) -> dict:
    return {"count": count, "temperature_sum": total, "temperature_min": low, "temperature_max": high}


def temperature_stats(client, key: str) -> dict:
    return {field.decode(): float(value) for field, value in client.hgetall(key).items()}


@SINGLE_NODE
def test_a_dry_run_lists_the_moves_and_changes_nothing(redis_client, previous):
    output = migrate("--dry-run")

    assert snapshot(redis_client) == previous
    assert "would move dead letters of “chennai”: chennai:dead → {chennai}:dead" in output
    assert "would move dead letters of “caf\\xe9”: caf\\xe9:dead → {caf\\xe9}:dead" in output
    assert "would move errors of “c”: weatherstreams:errors:a:b:c → weatherstreams:{c}:errors:a:b" in output
    assert (
        "would move statistics index of “chennai”: weatherstreams:stats:chennai → weatherstreams:{chennai}:stats"
        in output
    )
    assert output.endswith(
        "Would move 8 keys: 3 dead-letter streams, 2 error hashes, 2 statistics minutes, 1 statistics index; "
        "run without --dry-run to move them.\n"
    )
    assert not AuditEvent.objects.exists()


@SINGLE_NODE
def test_a_run_moves_every_key_with_its_data_merged_and_a_second_run_finds_nothing(redis_client, previous):
    output = migrate()

    # Dead letters: appended after those written since the upgrade (new IDs, same fields) ...
    rows = redis_client.xrange(dead_letter_key("chennai"))
    assert [fields[b"id"] for _, fields in rows] == [b"9-0", b"1-0", b"2-0", b"3-0"]
    assert rows[1][1] == as_stored(letter("chennai", "1-0", "21"))
    # ... or renamed, IDs kept, where nothing was written since.
    assert [raw for raw, _ in redis_client.xrange(dead_letter_key("coimbatore"))] == [b"5-0"]
    assert [raw for raw, _ in redis_client.xrange(key_bytes(dead_letter_key(CAFE)))] == [b"6-0"]
    # Errors: merged, the later error wins, the expiry kept (the longer one).
    assert redis_client.hgetall(errors_key("chennai", GROUP)) == {b"2-0": b"old error of 2", b"3-0": b"new error of 3"}
    assert 60 < redis_client.ttl(errors_key("chennai", GROUP)) <= HOUR
    assert redis_client.hgetall(errors_key("c", "a:b")) == {b"1-0": b"error in c"}
    # Statistics: counts and sums add up, minima and maxima compare; both minutes in the index.
    assert temperature_stats(redis_client, stats_key("chennai", M1)) == minute(2, 41.0, 20, 21)
    assert temperature_stats(redis_client, stats_key("chennai", M2)) == minute(2, 40.5, 10, 30.5)
    assert redis_client.zrange(stats_index_key("chennai"), 0, -1, withscores=True) == [
        (str(M1).encode(), M1),
        (str(M2).encode(), M2),
    ]
    assert all(redis_client.ttl(key) > 0 for key in [stats_key("chennai", M1), stats_index_key("chennai")])
    # Nothing is left under the previous names.
    assert redis_client.keys("weatherstreams:errors:*") == redis_client.keys("weatherstreams:stats:*") == []
    assert not redis_client.exists("chennai:dead", "coimbatore:dead", key_bytes(f"{CAFE}:dead"))
    assert "moved dead letters of “chennai”: chennai:dead → {chennai}:dead" in output
    assert re.search(
        r"Moved 8 keys: 3 dead-letter streams, 2 error hashes, 2 statistics minutes, 1 statistics index "
        r"\(\d+ entries, fields and members\); nothing left in the old scheme.\n$",
        output,
    ), output
    moved = snapshot(redis_client)

    assert migrate() == "Nothing to move: nothing left in the old scheme.\n"
    assert migrate("--dry-run") == "Nothing to move: nothing left in the old scheme.\n"
    assert snapshot(redis_client) == moved

    first, second = AuditEvent.objects.order_by("id")
    assert (first.username, first.door, first.action, first.succeeded) == ("cli", "command", "migrate_keys", True)
    assert first.outcome == output.splitlines()[-1]
    assert first.detail == {
        "dead_letter": "{stream}:dead",
        "moved": {"dead letters": 3, "errors": 2, "statistics": 2, "statistics index": 1},
        "left": 0,
    }
    assert second.outcome == "Nothing to move: nothing left in the old scheme." and second.succeeded


@SINGLE_NODE
def test_after_the_move_the_app_shows_and_redrives_the_old_dead_letters_and_statistics(api, redis_client, previous):
    migrate()

    body = api.get("/api/streams/chennai/dead-letters").json()
    assert body["dead_stream"] == "{chennai}:dead"
    assert [letter["id"] for letter in body["dead_letters"]] == ["3-0", "2-0", "1-0", "9-0"]
    oldest = body["dead_letters"][-2]["dead_id"]
    response = api.post(
        "/api/streams/chennai/dead-letters/redrive", data={"ids": [oldest]}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["missing"] == []
    minutes = StatsStore(redis_client).minutes("chennai", fields=["temperature"])
    assert [(m.minute, m.count, m.fields["temperature"].mean) for m in minutes] == [(M1, 2, 20.5), (M2, 2, 20.25)]


@SINGLE_NODE
def test_a_big_dead_letter_stream_is_appended_a_chunk_at_a_time_in_order(redis_client, monkeypatch):
    monkeypatch.setattr(key_migration, "STREAM_CHUNK", 2)
    for n in range(1, 6):
        redis_client.xadd("chennai:dead", letter("chennai", f"{n}-0", "20"), id=f"{n}-0")
    redis_client.xadd(dead_letter_key("chennai"), letter("chennai", "9-0", "20"), id="100-0")

    migrate()

    ids = [fields[b"id"] for _, fields in redis_client.xrange(dead_letter_key("chennai"))]
    assert ids == [b"9-0", b"1-0", b"2-0", b"3-0", b"4-0", b"5-0"]
    assert not redis_client.exists("chennai:dead")


@SINGLE_NODE
def test_keys_that_cannot_be_moved_are_left_and_said(redis_client):
    # Group a of b:c, or group a:b of c: neither exists, so it is not guessed.
    redis_client.hset(previous_errors_key("c", "a:b"), "1-0", "error")
    redis_client.xadd("madurai:dead", letter("madurai", "1-0", "20"))
    redis_client.set(dead_letter_key("madurai"), "not a stream")
    before = snapshot(redis_client)

    output = migrate()

    assert snapshot(redis_client) == before
    assert "left weatherstreams:errors:a:b:c: could be the errors of group “a” of “b:c”; group “a:b” of “c”" in output
    assert "left madurai:dead: its new name {madurai}:dead holds a string" in output
    assert output.endswith("Nothing to move: 2 left in the old scheme (see above).\n")


@SINGLE_NODE
def test_the_previous_dead_letter_template_can_be_given(redis_client):
    redis_client.xadd("dlq.chennai", letter("chennai", "1-0", "20"), id="7-0")
    redis_client.xadd("chennai:dead", letter("chennai", "2-0", "20"), id="8-0")

    output = migrate("--dead-letter", "dlq.{stream}")

    assert [raw for raw, _ in redis_client.xrange("dlq.{chennai}")] == [b"7-0"]
    assert redis_client.exists("chennai:dead")  # not a dead-letter stream under that template
    assert "Moved 1 key: 1 dead-letter stream (" in output
    with pytest.raises(CommandError, match=re.escape("--dead-letter must contain {stream}")):
        migrate("--dead-letter", "dlq")


@pytest.fixture
def on_a_cluster(settings):
    with ClusterNode(persistent=False) as node:
        settings.REDIS_URL = node.url
        yield node


def test_a_cluster_is_refused_in_so_many_words_and_recorded(on_a_cluster):
    with pytest.raises(CommandError) as refused:
        migrate()

    assert str(refused.value) == ON_A_CLUSTER
    event = AuditEvent.objects.get()
    assert (event.action, event.succeeded, event.outcome) == ("migrate_keys", False, f"failed: {ON_A_CLUSTER}")
    with pytest.raises(CommandError):
        migrate("--dry-run")
    assert AuditEvent.objects.count() == 1  # a dry run is never recorded
