"""Planning a trim reads none of the entries it would remove: on a stream of 1,000,000 entries a
MAXLEN plan asks Redis for a few counts (a handful of XRANGE calls of at most 1,000 entries each,
run inside Redis) and gets back a few bytes, wherever the groups' pending entries are; what it
cannot settle within its budget it reports as at risk, "not checked to the end"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams_app.domain.ids import datetime_to_ms
from streams_app.domain.producer import produce_plan, produce_run
from streams_app.domain.retention import parse_maxlen, trim_confirmation_check, trim_plan
from streams_app.errors import BadInput, Conflict
from streams_app.gateway.lag import COUNT_BUDGET, COUNT_CHUNK
from streams_app.gateway.stores import retention_store

CITY = "chennai"
MILLION = 1_000_000


START = datetime(2024, 5, 1, tzinfo=UTC)


def id_at_rank(rank: int) -> str:
    """The ID of the `rank`-th entry (from 1) of the million: one a millisecond from START."""
    return f"{datetime_to_ms(START) + rank - 1}-0"


@pytest.fixture(scope="module")
def million(redis_server):
    """A stream of 1,000,000 readings one millisecond apart (the bulk path), built once for this
    module; its tests make and drop their own groups on it."""
    from streams_app.gateway.clients import app_client
    from streams_app.gateway.stores import stream_store

    client = app_client()  # the app's own (shared: not closed here), on a cluster in a cluster run
    client.flushall()  # on a cluster: every primary
    plan = produce_plan(city=CITY, count=MILLION, start=START, interval_seconds=0.001, seed=1)
    produce_run(store=stream_store(), plan=plan)
    assert client.xlen(CITY) == MILLION
    assert client.xrange(CITY, count=1)[0][0].decode() == id_at_rank(1)
    assert client.xrevrange(CITY, count=1)[0][0].decode() == id_at_rank(MILLION)
    yield {rank: id_at_rank(rank) for rank in (1, 2, 500_000, 999_000, MILLION)}


@pytest.fixture
def stream_of_a_million(million, redis_server):
    """The million-entry stream with no groups (this module's tests share it: no flush)."""
    from streams_app.gateway.clients import app_client

    client = app_client()
    for row in client.xinfo_groups(CITY):
        client.xgroup_destroy(CITY, row["name"])
    yield client, million
    for row in client.xinfo_groups(CITY):
        client.xgroup_destroy(CITY, row["name"])


def pending_at(client, group: str, entry_id: str) -> None:
    """`group` with exactly one pending entry: `entry_id`."""
    client.xgroup_create(CITY, group, id="0")
    client.xclaim(CITY, group, "alice", 0, [entry_id], force=True, justid=True)


def measured_plan(client, threshold: str):
    """trim_plan of MAXLEN `threshold`, with what Redis did for it: XRANGE/XREVRANGE calls and
    bytes sent back to clients."""
    from streams_app.gateway.stores import stream_store

    client.config_resetstat()
    sent_before = client.info("stats")["total_net_output_bytes"]
    plan = trim_plan(
        store=stream_store(),
        retention=retention_store(),
        stream=CITY,
        strategy="maxlen",
        threshold=threshold,
        approximate=False,
        tz=UTC,
    )
    sent = client.info("stats")["total_net_output_bytes"] - sent_before
    stats = client.info("commandstats")
    calls = sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("xrange", "xrevrange"))
    return plan, calls, sent


def test_a_maxlen_plan_that_removes_one_entry_of_a_million_reads_a_bounded_few(stream_of_a_million):
    client, ranks = stream_of_a_million
    pending_at(client, "first", ranks[1])
    pending_at(client, "second", ranks[2])
    pending_at(client, "recent", ranks[999_000])

    plan, calls, sent = measured_plan(client, str(MILLION - 1))

    assert plan.pending_at_risk == {"first": ranks[1]}
    assert plan.pending_unchecked == frozenset()
    # Today's check read the 999,999 entries it keeps (about 50 MB of reply); now: counts only.
    assert calls <= 6
    assert sent < 16_384
    assert client.xlen(CITY) == MILLION


def test_a_maxlen_plan_that_keeps_a_few_of_a_million_reads_a_bounded_few(stream_of_a_million):
    client, ranks = stream_of_a_million
    pending_at(client, "middle", ranks[500_000])
    pending_at(client, "last", ranks[MILLION])

    plan, calls, sent = measured_plan(client, "1000")

    assert plan.pending_at_risk == {"middle": ranks[500_000]}
    assert calls <= 6 and sent < 16_384


def test_a_maxlen_plan_that_cannot_settle_within_its_budget_says_so_and_stays_bounded(stream_of_a_million):
    client, ranks = stream_of_a_million
    pending_at(client, "middle", ranks[500_000])

    plan, calls, sent = measured_plan(client, str(MILLION // 2))

    assert plan.pending_at_risk == {"middle": ranks[500_000]}
    assert plan.pending_unchecked == frozenset({"middle"})
    assert calls <= COUNT_BUDGET // COUNT_CHUNK + 4
    assert sent < 16_384
    with pytest.raises(Conflict, match="not checked to the end"):
        trim_confirmation_check(plan, confirm_pending=False)


@pytest.mark.parametrize("threshold", [str(2**63), str(2**64), "1" * 30, "-1", "1_000", "١٢", "1e3", "\ud800"])
def test_maxlen_beyond_64_bits_or_not_a_plain_number_is_bad_input(threshold):
    with pytest.raises(BadInput) as refused:
        parse_maxlen(threshold)
    assert refused.value.field == "threshold"
    assert "MAXLEN" in refused.value.message


def test_the_largest_maxlen_redis_takes_is_accepted():
    assert parse_maxlen(str(2**63 - 1)) == 2**63 - 1
