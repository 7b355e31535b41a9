"""RetentionStore against the real redis-server: the oldest entry an exact MAXLEN trim keeps,
the oldest pending entry of each group (groups with nothing pending left out), and trims by
MAXLEN or MINID, exact or approximate, that return how many entries went."""

from __future__ import annotations

import pytest

from streams_app.errors import Conflict
from streams_app.gateway.retention import RetentionStore

STREAM = "chennai"


@pytest.fixture
def retention(redis_client) -> RetentionStore:
    return RetentionStore(redis_client)


def add(redis_client, count: int, *, stream: str = STREAM) -> list[str]:
    """`count` entries with IDs 1-0, 2-0, ..."""
    pipe = redis_client.pipeline(transaction=False)
    for n in range(1, count + 1):
        pipe.xadd(stream, {"n": str(n)}, id=f"{n}-0")
    return [raw_id.decode() for raw_id in pipe.execute()]


def first_id(redis_client) -> str:
    [(raw_id, _)] = redis_client.xrange(STREAM, count=1)
    return raw_id.decode()


def test_first_kept_by_maxlen_is_the_oldest_of_the_newest_maxlen(retention, redis_client):
    ids = add(redis_client, 5)

    assert retention.first_kept_by_maxlen(STREAM, 2) == ids[3]
    assert retention.first_kept_by_maxlen(STREAM, 5) == ids[0]
    assert retention.first_kept_by_maxlen(STREAM, 50) == ids[0]


def test_first_kept_by_maxlen_is_none_when_nothing_is_kept(retention, redis_client):
    add(redis_client, 3)

    assert retention.first_kept_by_maxlen(STREAM, 0) is None
    assert retention.first_kept_by_maxlen("nowhere", 3) is None
    redis_client.xgroup_create("empty", "readers", mkstream=True)
    assert retention.first_kept_by_maxlen("empty", 3) is None


def test_an_exact_maxlen_trim_keeps_from_the_entry_first_kept_by_maxlen(retention, redis_client):
    add(redis_client, 10)
    expected_first = retention.first_kept_by_maxlen(STREAM, 4)

    assert retention.trim(STREAM, maxlen=4, approximate=False) == 6

    assert redis_client.xlen(STREAM) == 4
    assert first_id(redis_client) == expected_first == "7-0"


def test_an_exact_minid_trim_removes_the_entries_below_the_id(retention, redis_client):
    add(redis_client, 10)

    assert retention.trim(STREAM, minid="4-0", approximate=False) == 3

    assert redis_client.xlen(STREAM) == 7 and first_id(redis_client) == "4-0"
    assert retention.trim(STREAM, minid="4-0", approximate=False) == 0


def test_an_approximate_trim_removes_whole_nodes_only_and_says_how_many_went(retention, redis_client):
    # stream-node-max-entries is 100 by default: 1000 entries fill about ten nodes.
    add(redis_client, 1000)

    removed = retention.trim(STREAM, maxlen=250, approximate=True)

    left = redis_client.xlen(STREAM)
    assert removed > 0 and removed == 1000 - left
    assert 250 <= left < 1000


def test_an_approximate_trim_of_a_stream_smaller_than_a_node_removes_nothing(retention, redis_client):
    add(redis_client, 20)

    assert retention.trim(STREAM, maxlen=5, approximate=True) == 0
    assert redis_client.xlen(STREAM) == 20


def test_trimming_a_missing_stream_removes_nothing_and_another_type_is_a_conflict(retention, redis_client):
    redis_client.set("a-string", "x")

    assert retention.trim("nowhere", maxlen=1, approximate=False) == 0
    with pytest.raises(Conflict):
        retention.trim("a-string", maxlen=1, approximate=False)
    assert redis_client.get("a-string") == b"x"


def test_oldest_pending_per_group_leaves_out_groups_with_nothing_pending(retention, redis_client):
    add(redis_client, 6)
    for group, start in (("early", "0"), ("late", "4-0"), ("caught-up", "0"), ("never-read", "0")):
        redis_client.xgroup_create(STREAM, group, id=start)
    redis_client.xreadgroup("early", "alice", {STREAM: ">"}, count=3)
    redis_client.xack(STREAM, "early", "1-0")  # 2-0 is now its oldest pending
    redis_client.xreadgroup("late", "bob", {STREAM: ">"}, count=2)  # 5-0 and 6-0
    redis_client.xreadgroup("caught-up", "carol", {STREAM: ">"}, count=6)
    redis_client.xack(STREAM, "caught-up", *[f"{n}-0" for n in range(1, 7)])

    assert retention.oldest_pending(STREAM) == {"early": "2-0", "late": "5-0"}


def test_oldest_pending_of_a_stream_without_groups_is_empty(retention, redis_client):
    add(redis_client, 2)

    assert retention.oldest_pending(STREAM) == {}
