"""RetentionStore against the real redis-server: whether an exact MAXLEN trim would remove the
entries up to an ID (counted in Redis, within a budget), the oldest pending entry of each group
(groups with nothing pending left out, names that are not UTF-8 kept exact), and trims by
MAXLEN or MINID, exact or approximate, that return how many entries went."""

from __future__ import annotations

import pytest

from streams_app.errors import Conflict
from streams_app.gateway.retention import RemovalCheck, RetentionStore

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


def removes(retention, maxlen: int, position: str, **options) -> bool | None:
    return retention.maxlen_removes(STREAM, maxlen, {"g": position}, **options)["g"].removes


def test_maxlen_removes_says_whether_an_id_lies_before_the_first_kept_entry(retention, redis_client):
    add(redis_client, 10)  # 1-0 ... 10-0; MAXLEN 4 keeps 7-0 ... 10-0

    assert [removes(retention, 4, f"{n}-0") for n in range(1, 11)] == [True] * 6 + [False] * 4
    assert removes(retention, 4, "6-5") is True  # between entries: what precedes 7-0 goes
    assert removes(retention, 4, "0-1") is True  # before the first entry (already trimmed)
    assert removes(retention, 10, "1-0") is False  # keeps everything
    assert removes(retention, 50, "1-0") is False
    assert removes(retention, 0, "10-0") is True  # keeps nothing


def test_maxlen_removes_agrees_with_an_exact_trim_at_every_length(retention, redis_client):
    ids = add(redis_client, 30)
    for maxlen in (0, 1, 2, 15, 29, 30, 31):
        for position in ids:
            expected = maxlen < 30 and ids.index(position) < 30 - maxlen
            assert removes(retention, maxlen, position) is expected, (maxlen, position)


def test_maxlen_removes_of_a_missing_stream_removes_nothing(retention, redis_client):
    assert retention.maxlen_removes("nowhere", 3, {"g": "1-0"}) == {"g": RemovalCheck(False)}
    assert retention.maxlen_removes(STREAM, 3, {}) == {}


def test_maxlen_removes_counts_in_redis_and_stops_at_its_budget(retention, redis_client):
    # Chunks of 1000: a position 5,000 entries from either end of 20,000 cannot be settled
    # within a budget of 2,000 entries, and says so (None) instead of reading on.
    add(redis_client, 20_000)

    check = retention.maxlen_removes(STREAM, 10_000, {"g": "5000-0"}, budget=2_000)["g"]
    assert check.removes is None and check.examined <= 4_000
    settled = retention.maxlen_removes(STREAM, 10_000, {"g": "5000-0"})["g"]
    assert settled.removes is True and settled.examined <= 12_000


def test_an_exact_maxlen_trim_keeps_what_maxlen_removes_says_it_keeps(retention, redis_client):
    ids = add(redis_client, 10)
    kept = [entry_id for entry_id in ids if not removes(retention, 4, entry_id)]

    assert retention.trim(STREAM, maxlen=4, approximate=False) == 6

    assert redis_client.xlen(STREAM) == 4
    assert first_id(redis_client) == kept[0] == "7-0"


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


def test_oldest_pending_of_a_group_whose_name_is_not_utf8_can_be_asked_back(retention, redis_client):
    add(redis_client, 3)
    redis_client.xgroup_create(STREAM, b"\xff", id="0")
    redis_client.xreadgroup(b"\xff", "alice", {STREAM: ">"}, count=2)

    assert retention.oldest_pending(STREAM) == {"\udcff": "1-0"}
    assert retention.maxlen_removes(STREAM, 1, {"\udcff": "1-0"})["\udcff"].removes is True
