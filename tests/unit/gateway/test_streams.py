"""StreamStore against the real redis-server: XADD returns the ID and refuses, writing nothing,
an ID that does not grow and a key of another type (naming it); the pipelined bulk path writes
batches in order with running totals, keeps what came before a refusal and leaves the client
usable; keys that are not UTF-8 round-trip; range reads, key types, SCAN paging, summaries
and server memory read what Redis holds."""

from __future__ import annotations

import pytest

from streams_app.errors import Conflict, NotFound
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import MAX_PART, Entry, EntryBatch, RangeQuery, StreamId

CITY = "chennai"
# Bytes another program may have written: not UTF-8, carried as surrogate escapes.
RAW_NAME = b"caf\xe9-\xff"
ODD_NAME = RAW_NAME.decode("utf-8", "surrogateescape")
FIRST_ID, LAST_ID = StreamId(0, 0), StreamId(MAX_PART, MAX_PART)


@pytest.fixture
def streams(app_redis):
    return StreamStore(app_redis)


def ids_in(redis_client, name: str | bytes = CITY) -> list[str]:
    return [raw_id.decode() for raw_id, _ in redis_client.xrange(name)]


def batch(ids: list[str] | None, temperatures: list[str]) -> EntryBatch:
    return EntryBatch(ids=ids, columns=[("temperature", temperatures), ("humidity", ["50"] * len(temperatures))])


def make_other_types(redis_client) -> None:
    redis_client.set("a-string", "x")
    redis_client.rpush("a-list", "x")
    redis_client.hset("a-hash", "x", "y")
    redis_client.sadd("a-set", "x")
    redis_client.zadd("a-zset", {"x": 1})


OTHER_TYPES = [("a-string", "string"), ("a-list", "list"), ("a-hash", "hash"), ("a-set", "set"), ("a-zset", "zset")]


# --- add_entry --------------------------------------------------------------------------


def test_add_entry_returns_the_id_redis_gave_and_stores_the_fields(streams, redis_client):
    chosen = streams.add_entry(CITY, [("temperature", "21.5"), ("humidity", "40")])
    explicit = streams.add_entry(CITY, [("temperature", "22")], entry_id="99999999999999-7")

    assert StreamId.parse(chosen) < StreamId.parse(explicit) == StreamId(99999999999999, 7)
    assert ids_in(redis_client) == [chosen, explicit]
    [(_, fields)] = redis_client.xrange(CITY, min=chosen, max=chosen)
    assert fields == {b"temperature": b"21.5", b"humidity": b"40"}


@pytest.mark.parametrize("entry_id", ["5-3", "5-2", "4-9"])
def test_an_explicit_id_not_above_the_last_one_is_a_conflict_naming_the_last_id_and_writes_nothing(
    streams, redis_client, entry_id
):
    streams.add_entry(CITY, [("n", "1")], entry_id="5-3")

    with pytest.raises(Conflict) as refused:
        streams.add_entry(CITY, [("n", "2")], entry_id=entry_id)

    assert refused.value.field == "id"
    assert entry_id in refused.value.message and "(5-3)" in refused.value.message
    assert ids_in(redis_client) == ["5-3"]


def test_the_last_id_in_the_refusal_is_the_last_generated_one_even_after_it_was_deleted(streams, redis_client):
    streams.add_entry(CITY, [("n", "1")], entry_id="5-0")
    streams.add_entry(CITY, [("n", "2")], entry_id="7-0")
    redis_client.xdel(CITY, "7-0")

    with pytest.raises(Conflict, match=r"\(7-0\)"):
        streams.add_entry(CITY, [("n", "3")], entry_id="6-0")
    assert streams.last_generated_id(CITY) == "7-0"


@pytest.mark.parametrize(("key", "kind"), OTHER_TYPES)
def test_adding_to_a_key_of_another_type_is_a_conflict_naming_its_type(streams, redis_client, key, kind):
    make_other_types(redis_client)

    with pytest.raises(Conflict, match=f"“{key}” holds a {kind}, not a stream"):
        streams.add_entry(key, [("n", "1")])
    assert redis_client.type(key).decode() == kind


# --- add_entries ------------------------------------------------------------------------


def test_add_entries_writes_the_batches_in_order_and_yields_running_totals(streams, redis_client):
    batches = [
        batch(["1-1", "1-2", "1-3"], ["20", "21", "22"]),
        batch([], []),  # an empty batch is skipped: no total for it
        batch(["2-1", "2-2"], ["23", "24"]),
        batch(None, ["25"]),  # Redis chooses the ID
    ]

    totals = list(streams.add_entries(CITY, batches))

    assert totals == [3, 5, 6]
    found = ids_in(redis_client)
    assert found[:5] == ["1-1", "1-2", "1-3", "2-1", "2-2"] and len(found) == 6
    assert StreamId.parse(found[5]) > StreamId(2, 2)
    temperatures = [fields[b"temperature"].decode() for _, fields in redis_client.xrange(CITY)]
    assert temperatures == ["20", "21", "22", "23", "24", "25"]
    assert all(fields[b"humidity"] == b"50" for _, fields in redis_client.xrange(CITY))


def test_add_entries_yields_after_each_batch_so_a_caller_can_report_progress(streams, redis_client):
    written_before_each_total = []
    for total in streams.add_entries(CITY, (batch(None, ["1"] * 100) for _ in range(4))):
        written_before_each_total.append((total, redis_client.xlen(CITY)))

    assert [total for total, _ in written_before_each_total] == [100, 200, 300, 400]
    assert all(length >= total for total, length in written_before_each_total)
    assert redis_client.xlen(CITY) == 400


def test_a_batch_whose_ids_stop_growing_is_a_conflict_after_the_entries_before_it_are_written(streams, redis_client):
    streams.add_entry(CITY, [("n", "0")], entry_id="1-0")
    batches = [batch(["2-1", "2-2", "2-3"], ["a", "b", "c"]), batch(["3-1", "3-2", "3-2"], ["d", "e", "f"])]
    totals = []

    with pytest.raises(Conflict) as refused:
        for total in streams.add_entries(CITY, batches):
            totals.append(total)

    assert totals == [3]
    assert redis_client.xlen(CITY) == 1 + 3 + 2
    assert ids_in(redis_client)[-1] == "3-2"
    assert refused.value.field == "id"
    assert "The ID 3-2 is not greater" in refused.value.message and "(3-2)" in refused.value.message


def test_a_first_explicit_id_below_the_streams_last_writes_nothing(streams, redis_client):
    streams.add_entry(CITY, [("n", "0")], entry_id="9-0")

    with pytest.raises(Conflict, match=r"The ID 8-0 .*\(9-0\)"):
        list(streams.add_entries(CITY, [batch(["8-0"], ["a"])]))
    assert ids_in(redis_client) == ["9-0"]


def test_after_a_refused_batch_the_client_is_usable_for_single_and_bulk_writes(streams, redis_client):
    streams.add_entry(CITY, [("n", "0")], entry_id="5-0")
    with pytest.raises(Conflict):
        list(streams.add_entries(CITY, [batch(["4-0", "6-0"], ["a", "b"])]))

    assert streams.client.ping()
    assert streams.add_entry(CITY, [("n", "1")], entry_id="7-0") == "7-0"
    assert list(streams.add_entries(CITY, [batch(["8-0", "9-0"], ["c", "d"])])) == [2]
    assert streams.key_type(CITY) == "stream"
    assert ids_in(redis_client)[-3:] == ["7-0", "8-0", "9-0"]


def test_a_caller_that_stops_early_leaves_the_client_usable(streams, redis_client):
    entries = streams.add_entries(CITY, (batch(None, ["1"] * 50) for _ in range(5)))
    assert next(entries) == 50
    entries.close()

    # Replies to the batch sent ahead must not be read as the answers to later commands.
    new_id = streams.add_entry(CITY, [("n", "after")])
    [[last]] = streams.ranges(CITY, [RangeQuery(FIRST_ID, LAST_ID, 1, reverse=True)])
    assert last == Entry(id=new_id, fields={"n": "after"})


@pytest.mark.parametrize(("key", "kind"), OTHER_TYPES)
def test_bulk_adding_to_a_key_of_another_type_is_a_conflict_naming_its_type(streams, redis_client, key, kind):
    make_other_types(redis_client)

    with pytest.raises(Conflict, match=f"holds a {kind}, not a stream"):
        list(streams.add_entries(key, [batch(None, ["1", "2"])]))
    assert redis_client.type(key).decode() == kind
    assert streams.client.ping()


def test_add_entries_of_nothing_writes_nothing(streams, redis_client):
    assert list(streams.add_entries(CITY, [])) == []
    assert list(streams.add_entries(CITY, [batch([], [])])) == []
    assert redis_client.dbsize() == 0


def test_bulk_values_that_are_not_ascii_arrive_as_utf8(streams, redis_client):
    columns = [("city", ["Zürich", "München"]), ("note", ["☀", "caf\udce9"])]
    list(streams.add_entries(CITY, [EntryBatch(ids=None, columns=columns)]))

    stored = [fields for _, fields in redis_client.xrange(CITY)]
    assert stored == [
        {b"city": "Zürich".encode(), b"note": "☀".encode()},
        {b"city": "München".encode(), b"note": b"caf\xe9"},
    ]
    entries = streams.ranges(CITY, [RangeQuery(FIRST_ID, LAST_ID, 10)])[0]
    assert [entry.fields["note"] for entry in entries] == ["☀", "caf\\xe9"]


# --- names that are not UTF-8 -------------------------------------------------------------


def test_a_key_that_is_not_utf8_round_trips_through_every_read_and_write(streams, redis_client):
    first = streams.add_entry(ODD_NAME, [("n", "1")])
    list(streams.add_entries(ODD_NAME, [batch(None, ["2", "3"])]))

    assert redis_client.xlen(RAW_NAME) == 3
    assert redis_client.dbsize() == 1
    assert streams.key_type(ODD_NAME) == "stream"
    assert streams.scan_stream_keys().names == [ODD_NAME]
    [summary] = streams.summaries([ODD_NAME])
    assert summary.name == ODD_NAME and summary.length == 3 and summary.first_id == first
    [rows] = streams.ranges(ODD_NAME, [RangeQuery(FIRST_ID, LAST_ID, 10)])
    assert [entry.fields["temperature"] for entry in rows[1:]] == ["2", "3"]


def test_a_refusal_about_a_key_that_is_not_utf8_shows_its_bytes_as_escapes(streams, redis_client):
    redis_client.set(RAW_NAME, "x")

    with pytest.raises(Conflict) as refused:
        streams.add_entry(ODD_NAME, [("n", "1")])
    assert "“caf\\xe9-\\xff” holds a string" in refused.value.message


# --- reads ------------------------------------------------------------------------------


def test_ranges_runs_several_queries_in_one_call(streams):
    ids = [streams.add_entry(CITY, [("n", str(n))], entry_id=f"{n}-0") for n in range(1, 11)]

    forward, backward, window, empty = streams.ranges(
        CITY,
        [
            RangeQuery(FIRST_ID, LAST_ID, 3),
            RangeQuery(FIRST_ID, LAST_ID, 2, reverse=True),
            RangeQuery(StreamId(4), StreamId(6), 10),
            RangeQuery(StreamId(20), LAST_ID, 10),
        ],
    )

    assert [entry.id for entry in forward] == ids[:3]
    assert [entry.id for entry in backward] == ["10-0", "9-0"]
    assert [entry.fields["n"] for entry in window] == ["4", "5", "6"]  # bounds are inclusive
    assert empty == []
    assert window[0] == Entry(id="4-0", fields={"n": "4"})


def test_ranges_of_a_missing_key_is_not_found_and_of_another_type_a_conflict(streams, redis_client):
    make_other_types(redis_client)
    query = [RangeQuery(FIRST_ID, LAST_ID, 1)]

    with pytest.raises(NotFound, match="no stream called “nowhere”"):
        streams.ranges("nowhere", query)
    with pytest.raises(Conflict, match="“a-hash” holds a hash"):
        streams.ranges("a-hash", query)


def test_entry_reads_one_entry_by_id_or_none(streams):
    streams.add_entry(CITY, [("n", "1")], entry_id="3-1")

    assert streams.entry(CITY, StreamId(3, 1)) == Entry(id="3-1", fields={"n": "1"})
    assert streams.entry(CITY, StreamId(3, 2)) is None


def test_key_type_and_require_stream(streams, redis_client):
    make_other_types(redis_client)
    streams.add_entry(CITY, [("n", "1")])

    assert streams.key_type(CITY) == "stream"
    assert streams.key_type("a-set") == "set"
    assert streams.key_type("nowhere") == "none"
    streams.require_stream(CITY)
    with pytest.raises(NotFound, match="“nowhere”"):
        streams.require_stream("nowhere")
    with pytest.raises(Conflict, match="“a-list” holds a list, not a stream"):
        streams.require_stream("a-list")


def test_last_generated_id_is_none_without_a_stream(streams, redis_client):
    redis_client.set("a-string", "x")

    assert streams.last_generated_id("nowhere") is None
    assert streams.last_generated_id("a-string") is None
    streams.add_entry(CITY, [("n", "1")], entry_id="12-4")
    assert streams.last_generated_id(CITY) == "12-4"


def test_scan_stream_keys_finds_only_streams(streams, redis_client):
    make_other_types(redis_client)
    for name in ("a", "b", "c"):
        streams.add_entry(name, [("n", "1")])

    page = streams.scan_stream_keys()

    assert sorted(page.names) == ["a", "b", "c"]
    assert page.next_cursor is None


def test_scan_stream_keys_pages_with_a_cursor_until_every_stream_is_found(streams, redis_client):
    names = {f"city-{n:02d}" for n in range(40)}
    pipe = redis_client.pipeline()
    for name in names:
        pipe.xadd(name, {"n": "1"})
        pipe.set(f"not-a-stream-{name}", "x")
    pipe.execute()

    found: list[str] = []
    pages = 0
    cursor = 0
    while True:
        page = streams.scan_stream_keys(cursor=cursor, want=10, scan_count=5)
        pages += 1
        found.extend(page.names)
        if page.next_cursor is None:
            break
        assert len(page.names) >= 10  # a page stops early only when the walk is over
        cursor = page.next_cursor
        assert pages < 100

    assert pages >= 2
    assert set(found) == names  # SCAN may repeat a key, never miss one that stays


def test_scan_stream_keys_stops_after_max_calls_and_hands_back_the_cursor(streams, redis_client):
    pipe = redis_client.pipeline()
    for n in range(200):
        pipe.set(f"not-a-stream-{n}", "x")
    pipe.xadd(CITY, {"n": "1"})
    pipe.execute()

    page = streams.scan_stream_keys(want=50, scan_count=10, max_calls=1)

    assert page.next_cursor is not None
    assert len(page.names) <= 1


def test_summaries_leave_out_keys_that_vanished_or_are_not_streams(streams, redis_client):
    make_other_types(redis_client)
    first = streams.add_entry("a", [("n", "1")], entry_id="1-0")
    streams.add_entry("a", [("n", "2")], entry_id="2-0")
    streams.add_entry("b", [("n", "1")], entry_id="7-0")
    redis_client.xgroup_create("b", "readers", id="0")
    streams.add_entry("gone", [("n", "1")])
    redis_client.delete("gone")

    found = streams.summaries(["a", "gone", "a-string", "b"])

    assert [summary.name for summary in found] == ["a", "b"]
    a, b = found
    assert (a.length, a.first_id, a.last_id, a.last_generated_id, a.groups) == (2, first, "2-0", "2-0", 0)
    assert (b.length, b.groups) == (1, 1)
    assert a.memory_bytes and a.memory_bytes > 0
    assert a.last_time is not None and a.last_time.timestamp() == pytest.approx(0.002)


def test_summary_of_one_stream_and_its_refusals(streams, redis_client):
    redis_client.set("a-string", "x")
    streams.add_entry(CITY, [("n", "1")], entry_id="1-0")

    assert streams.summary(CITY).length == 1
    with pytest.raises(NotFound):
        streams.summary("nowhere")
    with pytest.raises(Conflict, match="holds a string"):
        streams.summary("a-string")


def test_an_empty_stream_has_no_first_or_last_entry(streams, redis_client):
    redis_client.xgroup_create("empty", "readers", mkstream=True)

    [summary] = streams.summaries(["empty"])
    assert (summary.length, summary.first_id, summary.last_id, summary.groups) == (0, None, None, 1)
    assert summary.last_time is None


def test_server_memory_reports_the_servers_version_and_memory(streams, redis_server):
    memory = streams.server_memory()

    assert memory.redis_version == redis_server.version
    # The engine by its own name and version, as its binary's banner says (Valkey's INFO says 7.2.4 too).
    assert memory.engine == f"{redis_server.engine.name} {redis_server.engine.version}"
    assert memory.used_memory_human and memory.used_memory_peak_human
    assert memory.used_memory_dataset >= 0 and memory.maxmemory >= 0


# --- the top of the ID space, filtered SCAN pages, dead-letter counts ---------------------------

TOP_ID = f"{MAX_PART}-{MAX_PART}"


def test_after_the_largest_id_a_new_entry_is_a_conflict_saying_the_stream_is_exhausted(streams, redis_client):
    assert streams.add_entry(CITY, [("n", "1")], entry_id=TOP_ID) == TOP_ID

    with pytest.raises(Conflict, match="used the last possible ID") as refused:
        streams.add_entry(CITY, [("n", "2")])
    assert refused.value.field == "id" and "chennai" in refused.value.message
    with pytest.raises(Conflict, match="used the last possible ID"):
        list(streams.add_entries(CITY, [batch(None, ["1", "2"])]))
    with pytest.raises(Conflict, match="used the last possible ID"):  # Redis says so before "not greater"
        streams.add_entry(CITY, [("n", "3")], entry_id="5-0")

    assert ids_in(redis_client) == [TOP_ID]
    streams.add_entry("other", [("n", "1")])  # the client is still usable


def test_scan_stream_keys_counts_only_the_keys_it_keeps_and_still_moves_on(streams, redis_client):
    pipe = redis_client.pipeline()
    for n in range(60):
        pipe.xadd(f"rq:results:{n:02d}", {"n": "1"})
    for n in range(6):
        pipe.xadd(f"city-{n}", {"n": "1"})
    pipe.execute()

    found, cursor, pages = [], 0, 0
    while True:
        page = streams.scan_stream_keys(
            cursor=cursor, want=4, scan_count=5, max_calls=2, keep=lambda name: name.startswith("city-")
        )
        pages += 1
        assert all(name.startswith("city-") for name in page.names)
        found.extend(page.names)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        assert pages < 200  # each page spends at most two SCAN calls, so the walk ends

    assert set(found) == {f"city-{n}" for n in range(6)}
    assert pages > 2  # pages with fewer (or no) kept keys, the cursor moving on regardless


def test_summaries_carry_the_length_of_the_dead_letter_stream_asked_for(streams, redis_client):
    streams.add_entry("a", [("n", "1")])
    streams.add_entry("b", [("n", "1")])
    for n in range(3):
        redis_client.xadd("a:dead", {"n": str(n)})
    redis_client.set("b:dead", "not a stream")

    found = streams.summaries(["a", "b", "c"], dead_letter_keys={"a": "a:dead", "b": "b:dead"})

    assert [(summary.name, summary.dead_letters) for summary in found] == [("a", 3), ("b", None)]
    assert [summary.dead_letters for summary in streams.summaries(["a"])] == [None]


def test_summaries_read_the_counters_redis_7_keeps(streams, redis_client):
    for n in range(1, 4):
        redis_client.xadd(CITY, {"n": str(n)}, id=f"{n}-0")
    redis_client.xdel(CITY, "2-0")

    [summary] = streams.summaries([CITY])

    assert (summary.entries_added, summary.max_deleted_entry_id, summary.length) == (3, "2-0", 2)
    assert summary.internal_reason is None and not summary.internal
