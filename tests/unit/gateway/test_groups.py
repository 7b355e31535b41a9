"""GroupStore against the real redis-server: a group's whole life (created at $, 0 or an ID, once
only; ensured; its ID moved; destroyed), its consumers and pending entries with their filters,
acks that count only what was pending, claims that move ownership, consumers deleted only once
they hold nothing, and dead letters re-driven all or nothing."""

from __future__ import annotations

import pytest

from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.gateway.groups import GroupExists, GroupStore, PendingSummary, dead_letter_fields
from streams_app.gateway.keys import dead_letter_key
from streams_app.gateway.types import Entry
from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, WorkerIO

STREAM = "chennai"
GROUP = "processors"
DEAD = dead_letter_key(STREAM, "{stream}:dead")


@pytest.fixture
def groups(app_redis):
    return GroupStore(app_redis)


def add(redis_client, count: int, *, stream: str = STREAM, start: int = 1) -> list[str]:
    """`count` entries with IDs 1-0, 2-0, ... (from `start`)."""
    return [redis_client.xadd(stream, {"n": str(n)}, id=f"{n}-0").decode() for n in range(start, start + count)]


def read(redis_client, consumer: str, count: int, *, group: str = GROUP, position: str = ">") -> list[str]:
    """What XREADGROUP hands `consumer` (which makes it pending)."""
    reply = redis_client.xreadgroup(group, consumer, {STREAM: position}, count=count)
    return [raw_id.decode() for _, rows in reply for raw_id, _ in rows]


def make_idle(redis_client, entry_id: str, consumer: str, idle_ms: int) -> None:
    """Set a pending entry's idle time without waiting for it (XCLAIM ... IDLE, JUSTID keeps its deliveries)."""
    redis_client.xclaim(STREAM, GROUP, consumer, 0, [entry_id], idle=idle_ms, justid=True)


def summary_of(groups: GroupStore, group: str = GROUP):
    [found] = [summary for summary in groups.groups(STREAM) if summary.name == group]
    return found


# --- a group's life -------------------------------------------------------------------------


def test_a_group_created_at_dollar_gets_only_new_entries(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP)

    summary = summary_of(groups)
    assert (summary.last_delivered_id, summary.consumers, summary.pending, summary.lag) == ("3-0", 0, 0, 0)
    assert read(redis_client, "alice", 10) == []
    add(redis_client, 1, start=4)
    assert read(redis_client, "alice", 10) == ["4-0"]


def test_a_group_created_at_zero_gets_every_entry(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP, start_id="0")

    summary = summary_of(groups)
    assert (summary.last_delivered_id, summary.lag) == ("0-0", 3)
    assert read(redis_client, "alice", 10) == ["1-0", "2-0", "3-0"]


def test_a_group_created_at_an_id_gets_the_entries_after_it(groups, redis_client):
    add(redis_client, 4)
    groups.create_group(STREAM, GROUP, start_id="2-0")

    assert summary_of(groups).last_delivered_id == "2-0"
    assert read(redis_client, "alice", 10) == ["3-0", "4-0"]


def test_creating_a_group_twice_is_group_exists_a_conflict(groups, redis_client):
    groups.create_group(STREAM, GROUP)

    with pytest.raises(GroupExists, match=f"“{GROUP}” already exists on “{STREAM}”") as refused:
        groups.create_group(STREAM, GROUP, start_id="0")
    assert isinstance(refused.value, Conflict)
    assert [summary.name for summary in groups.groups(STREAM)] == [GROUP]


def test_ensure_group_creates_the_group_and_the_stream_once(groups, redis_client):
    assert groups.ensure_group(STREAM, GROUP) is True
    assert groups.ensure_group(STREAM, GROUP) is False

    assert redis_client.type(STREAM) == b"stream" and redis_client.xlen(STREAM) == 0
    assert [summary.name for summary in groups.groups(STREAM)] == [GROUP]


def test_without_mkstream_a_missing_stream_is_not_found_and_nothing_is_created(groups, redis_client):
    with pytest.raises(NotFound, match=f"no stream called “{STREAM}”"):
        groups.create_group(STREAM, GROUP, make_stream=False)
    assert redis_client.exists(STREAM) == 0


def test_a_group_on_a_key_of_another_type_is_a_conflict(groups, redis_client):
    redis_client.set(STREAM, "x")

    with pytest.raises(Conflict, match="is not a stream"):
        groups.create_group(STREAM, GROUP)
    with pytest.raises(Conflict, match="is not a stream"):
        groups.groups(STREAM)
    assert redis_client.get(STREAM) == b"x"


def test_a_start_id_that_is_not_an_id_is_bad_input(groups, redis_client):
    add(redis_client, 1)

    with pytest.raises(BadInput) as refused:
        groups.create_group(STREAM, GROUP, start_id="yesterday")
    assert refused.value.field == "start" and "yesterday" in refused.value.message
    assert groups.groups(STREAM) == []


def test_set_group_id_moves_what_the_group_reads_next(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP)

    groups.set_group_id(STREAM, GROUP, "0")
    assert summary_of(groups).last_delivered_id == "0-0"
    assert read(redis_client, "alice", 1) == ["1-0"]

    groups.set_group_id(STREAM, GROUP, "2-0")
    assert read(redis_client, "alice", 10) == ["3-0"]

    groups.set_group_id(STREAM, GROUP, "$")
    add(redis_client, 1, start=4)
    assert read(redis_client, "alice", 10) == ["4-0"]


def test_set_group_id_refusals(groups, redis_client):
    add(redis_client, 1)
    groups.create_group(STREAM, GROUP)

    with pytest.raises(BadInput) as refused:
        groups.set_group_id(STREAM, GROUP, "soon")
    assert refused.value.field == "id"
    with pytest.raises(NotFound, match="no group “ghosts” on “chennai”"):
        groups.set_group_id(STREAM, "ghosts", "0")
    with pytest.raises(NotFound, match="no stream called “nowhere”"):
        groups.set_group_id("nowhere", GROUP, "0")
    assert summary_of(groups).last_delivered_id == "1-0"


def test_destroying_a_group_removes_it_and_its_pending_entries(groups, redis_client):
    add(redis_client, 2)
    groups.create_group(STREAM, GROUP, start_id="0")
    groups.create_group(STREAM, "others", start_id="0")
    read(redis_client, "alice", 2)

    assert groups.destroy_group(STREAM, GROUP) is True
    assert [summary.name for summary in groups.groups(STREAM)] == ["others"]
    assert groups.destroy_group(STREAM, GROUP) is False
    assert redis_client.xlen(STREAM) == 2  # the entries stay
    with pytest.raises(NotFound, match="no stream called “nowhere”"):
        groups.destroy_group("nowhere", GROUP)


def test_groups_of_a_missing_stream_is_not_found(groups):
    with pytest.raises(NotFound, match="no stream called “nowhere”"):
        groups.groups("nowhere")


def test_groups_lists_each_group_with_its_consumers_pending_and_lag(groups, redis_client):
    add(redis_client, 5)
    groups.create_group(STREAM, GROUP, start_id="0")
    groups.create_group(STREAM, "late")
    read(redis_client, "alice", 2)
    read(redis_client, "bob", 1)

    found = {summary.name: summary for summary in groups.groups(STREAM)}

    assert set(found) == {GROUP, "late"}
    ours = found[GROUP]
    assert (ours.consumers, ours.pending, ours.last_delivered_id, ours.entries_read, ours.lag) == (2, 3, "3-0", 3, 2)
    assert (found["late"].consumers, found["late"].pending, found["late"].lag) == (0, 0, 0)


# --- consumers and pending ------------------------------------------------------------------


def test_consumers_with_what_each_has_pending(groups, redis_client):
    add(redis_client, 4)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 3)
    read(redis_client, "bob", 1)
    redis_client.xgroup_createconsumer(STREAM, GROUP, "carol")

    found = {consumer.name: consumer for consumer in groups.consumers(STREAM, GROUP)}

    assert {name: consumer.pending for name, consumer in found.items()} == {"alice": 3, "bob": 1, "carol": 0}
    assert all(consumer.idle_ms >= 0 for consumer in found.values())


def test_pending_summary_of_a_group_and_of_one_with_nothing_pending(groups, redis_client):
    add(redis_client, 4)
    groups.create_group(STREAM, GROUP, start_id="0")
    groups.create_group(STREAM, "idle")
    read(redis_client, "alice", 1)
    read(redis_client, "bob", 2)

    assert groups.pending_summary(STREAM, GROUP) == PendingSummary(count=3, lowest_id="1-0", highest_id="3-0")
    assert groups.pending_summary(STREAM, "idle") == PendingSummary(count=0, lowest_id=None, highest_id=None)


def test_pending_entries_lists_each_with_its_consumer_and_deliveries(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 2)
    read(redis_client, "bob", 1)
    read(redis_client, "alice", 10, position="0")  # alice reads her own history again

    found = groups.pending_entries(STREAM, GROUP)

    assert [(entry.id, entry.consumer, entry.deliveries) for entry in found] == [
        ("1-0", "alice", 2),
        ("2-0", "alice", 2),
        ("3-0", "bob", 1),
    ]


def test_pending_entries_by_consumer_by_bounds_and_by_count(groups, redis_client):
    add(redis_client, 5)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 3)
    read(redis_client, "bob", 2)

    assert [entry.id for entry in groups.pending_entries(STREAM, GROUP, consumer="bob")] == ["4-0", "5-0"]
    assert [entry.id for entry in groups.pending_entries(STREAM, GROUP, low="2-0", high="4-0")] == ["2-0", "3-0", "4-0"]
    assert [entry.id for entry in groups.pending_entries(STREAM, GROUP, count=2)] == ["1-0", "2-0"]
    assert groups.pending_entries(STREAM, GROUP, consumer="nobody") == []


def test_pending_entries_idle_at_least_min_idle(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 3)
    make_idle(redis_client, "2-0", "alice", 60_000)

    [stale] = groups.pending_entries(STREAM, GROUP, min_idle_ms=30_000)

    assert stale.id == "2-0" and stale.idle_ms >= 60_000 and stale.deliveries == 1
    assert len(groups.pending_entries(STREAM, GROUP, min_idle_ms=0)) == 3


def test_ack_counts_only_the_ids_that_were_pending(groups, redis_client):
    add(redis_client, 4)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 3)  # 4-0 is never delivered

    assert groups.ack(STREAM, GROUP, ["1-0", "3-0", "4-0", "99-0"]) == 2
    assert groups.ack(STREAM, GROUP, ["1-0"]) == 0  # already acked
    assert groups.ack(STREAM, GROUP, []) == 0
    assert [entry.id for entry in groups.pending_entries(STREAM, GROUP)] == ["2-0"]


def test_ack_of_an_id_that_is_not_an_id_is_bad_input(groups, redis_client):
    add(redis_client, 1)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 1)

    with pytest.raises(BadInput):
        groups.ack(STREAM, GROUP, ["1-0", "first"])
    assert groups.pending_summary(STREAM, GROUP).count == 1


def test_claim_moves_ownership_to_another_consumer(groups, redis_client):
    add(redis_client, 3)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 3)

    assert groups.claim(STREAM, GROUP, consumer="bob", ids=["1-0", "3-0"]) == ["1-0", "3-0"]

    # Only the IDs are claimed (JUSTID): nothing was delivered, so delivery counts stay as they were.
    owners = {entry.id: (entry.consumer, entry.deliveries) for entry in groups.pending_entries(STREAM, GROUP)}
    assert owners == {"1-0": ("bob", 1), "2-0": ("alice", 1), "3-0": ("bob", 1)}
    assert {consumer.name: consumer.pending for consumer in groups.consumers(STREAM, GROUP)} == {"alice": 1, "bob": 2}


def test_claim_leaves_entries_idle_less_than_min_idle_where_they_are(groups, redis_client):
    add(redis_client, 2)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 2)
    make_idle(redis_client, "1-0", "alice", 60_000)

    assert groups.claim(STREAM, GROUP, consumer="bob", ids=["1-0", "2-0"], min_idle_ms=30_000) == ["1-0"]
    assert [(entry.id, entry.consumer) for entry in groups.pending_entries(STREAM, GROUP)] == [
        ("1-0", "bob"),
        ("2-0", "alice"),
    ]


def test_claim_drops_entries_deleted_while_pending(groups, redis_client):
    add(redis_client, 2)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 2)
    redis_client.xdel(STREAM, "1-0")

    assert groups.claim(STREAM, GROUP, consumer="bob", ids=["1-0", "2-0"]) == ["2-0"]
    assert groups.claim(STREAM, GROUP, consumer="bob", ids=[]) == []


def test_delete_consumer_is_refused_while_it_has_pending_and_allowed_after_ack(groups, redis_client):
    add(redis_client, 2)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 2)

    with pytest.raises(Conflict, match="“alice” still has pending entries"):
        groups.delete_consumer(STREAM, GROUP, "alice")
    assert [consumer.name for consumer in groups.consumers(STREAM, GROUP)] == ["alice"]
    assert groups.pending_summary(STREAM, GROUP).count == 2

    groups.ack(STREAM, GROUP, ["1-0", "2-0"])
    groups.delete_consumer(STREAM, GROUP, "alice")
    assert groups.consumers(STREAM, GROUP) == []


def test_delete_consumer_is_allowed_once_its_entries_were_claimed_away(groups, redis_client):
    add(redis_client, 1)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 1)
    groups.claim(STREAM, GROUP, consumer="bob", ids=["1-0"])

    groups.delete_consumer(STREAM, GROUP, "alice")

    assert [consumer.name for consumer in groups.consumers(STREAM, GROUP)] == ["bob"]
    [entry] = groups.pending_entries(STREAM, GROUP)
    assert (entry.id, entry.consumer) == ("1-0", "bob")


@pytest.mark.parametrize(
    "call",
    [
        lambda groups: groups.consumers(STREAM, "ghosts"),
        lambda groups: groups.pending_summary(STREAM, "ghosts"),
        lambda groups: groups.pending_entries(STREAM, "ghosts"),
        lambda groups: groups.claim(STREAM, "ghosts", consumer="bob", ids=["1-0"]),
        lambda groups: groups.delete_consumer(STREAM, "ghosts", "alice"),
    ],
    ids=["consumers", "pending_summary", "pending_entries", "claim", "delete_consumer"],
)
def test_a_missing_group_is_not_found_naming_the_group(groups, redis_client, call):
    add(redis_client, 1)

    with pytest.raises(NotFound, match="no group “ghosts” on “chennai”"):
        call(groups)


@pytest.mark.parametrize(
    "call",
    [
        lambda groups: groups.consumers("nowhere", GROUP),
        lambda groups: groups.pending_summary("nowhere", GROUP),
        lambda groups: groups.pending_entries("nowhere", GROUP),
        lambda groups: groups.claim("nowhere", GROUP, consumer="bob", ids=["1-0"]),
        lambda groups: groups.delete_consumer("nowhere", GROUP, "alice"),
    ],
    ids=["consumers", "pending_summary", "pending_entries", "claim", "delete_consumer"],
)
def test_a_missing_stream_is_not_found_naming_the_stream(groups, call):
    with pytest.raises(NotFound, match="no stream called “nowhere”"):
        call(groups)


# --- re-drive ---------------------------------------------------------------------------------


def dead_letter(entry_id: str, fields: dict[str, str], *, stream: str = STREAM) -> DeadLetter:
    return DeadLetter(
        stream=stream,
        id=entry_id,
        fields=fields,
        group=GROUP,
        consumer="alice",
        deliveries=5,
        error="ValueError: no",
        dead_stream=DEAD,
    )


def write_dead_letters(redis_client, *letters: DeadLetter) -> list[str]:
    """Dead letters as the worker writes them (WorkerIO.finish_batch); their IDs in the dead-letter stream."""
    WorkerIO(redis_client).finish_batch(GROUP, "alice", BatchOutcome(dead_letters=list(letters)))
    return [raw_id.decode() for raw_id, _ in redis_client.xrange(DEAD)]


def test_redrive_moves_dead_letters_back_with_new_ids_and_removes_them(groups, redis_client):
    add(redis_client, 1, start=500)
    dead_ids = write_dead_letters(
        redis_client,
        dead_letter("1-0", {"temperature": "21", "humidity": "40"}),
        dead_letter("2-0", {"temperature": "99"}),
        dead_letter("3-0", {"temperature": "7"}),
    )

    moved = groups.redrive(DEAD, STREAM, dead_ids[:2])

    assert [dead_id for dead_id, _ in moved] == dead_ids[:2]
    new_ids = [new_id for _, new_id in moved]
    assert [raw_id.decode() for raw_id, _ in redis_client.xrange(STREAM)] == ["500-0", *new_ids]
    assert [fields for _, fields in redis_client.xrange(STREAM, min=new_ids[0])] == [
        {b"temperature": b"21", b"humidity": b"40"},
        {b"temperature": b"99"},
    ]
    assert [raw_id.decode() for raw_id, _ in redis_client.xrange(DEAD)] == [dead_ids[2]]


def test_redrive_skips_ids_that_are_not_in_the_dead_letter_stream(groups, redis_client):
    [dead_id] = write_dead_letters(redis_client, dead_letter("1-0", {"temperature": "21"}))

    moved = groups.redrive(DEAD, STREAM, ["1-1", dead_id])

    assert [dead for dead, _ in moved] == [dead_id]
    assert redis_client.xlen(DEAD) == 0 and redis_client.xlen(STREAM) == 1
    assert groups.redrive(DEAD, STREAM, []) == []


def test_redrive_is_all_or_nothing_when_one_letter_belongs_to_another_stream(groups, redis_client):
    write_dead_letters(redis_client, dead_letter("1-0", {"temperature": "21"}))
    # A letter of another stream filed in ours, by hand: no worker writes one (on a cluster it
    # could not even ack it in the same step), but another program might.
    redis_client.xadd(DEAD, {"stream": "madurai", "id": "2-0", "group": GROUP, "orig:temperature": "22"})
    write_dead_letters(redis_client, dead_letter("3-0", {"temperature": "23"}))
    dead_ids = [raw_id.decode() for raw_id, _ in redis_client.xrange(DEAD)]

    with pytest.raises(Conflict, match=f"Nothing was moved: entry {dead_ids[1]} is not a dead letter of this stream"):
        groups.redrive(DEAD, STREAM, dead_ids)

    assert [raw_id.decode() for raw_id, _ in redis_client.xrange(DEAD)] == dead_ids
    assert redis_client.exists(STREAM) == 0


def test_redrive_refuses_an_entry_without_original_fields(groups, redis_client):
    [dead_id] = write_dead_letters(redis_client, dead_letter("1-0", {"temperature": "21"}))
    stray = redis_client.xadd(DEAD, {"stream": STREAM, "id": "2-0", "note": "written by hand"}).decode()

    with pytest.raises(Conflict, match=f"entry {stray} is not a dead letter"):
        groups.redrive(DEAD, STREAM, [dead_id, stray])
    assert redis_client.xlen(DEAD) == 2 and redis_client.exists(STREAM) == 0


def test_dead_letter_fields_are_the_original_fields_of_a_dead_letter(redis_client):
    [dead_id] = write_dead_letters(redis_client, dead_letter("1-0", {"temperature": "21", "humidity": "40"}))
    [(raw_id, raw_fields)] = redis_client.xrange(DEAD)
    letter = Entry.from_redis(raw_id, raw_fields)

    assert letter.id == dead_id
    assert (letter.fields["stream"], letter.fields["id"], letter.fields["deliveries"]) == (STREAM, "1-0", "5")
    assert dead_letter_fields(letter) == {"temperature": "21", "humidity": "40"}


# --- lag where Redis 7.0 says nil, and ENTRIESREAD ---------------------------------------------


def xinfo_group(redis_client, group: str | bytes = GROUP) -> dict:
    name = group.encode() if isinstance(group, str) else group
    [row] = [row for row in redis_client.xinfo_groups(STREAM) if row["name"] == name]
    return row


def test_the_tutorials_flow_leaves_lag_nil_in_redis_and_we_count_it(groups, redis_client):
    # The tutorial: `xadd chennai 1 …`, `XGROUP CREATE chennai mygroup $` (by redis-cli, no
    # ENTRIESREAD), new entries, a consumer reads one.
    redis_client.xadd(STREAM, {"temperature": "29", "humidity": "10"}, id="1")
    redis_client.xgroup_create(STREAM, GROUP, id="$")
    add(redis_client, 3, start=100)
    read(redis_client, "alice", 1)
    assert xinfo_group(redis_client)["lag"] is None  # what Redis 7.0 says

    summary = summary_of(groups)

    assert (summary.lag, summary.lag_exact, summary.lag_estimated) == (2, True, False)


def test_groups_the_app_creates_carry_entriesread_so_redis_itself_knows_the_lag(groups, redis_client):
    redis_client.xadd(STREAM, {"temperature": "29", "humidity": "10"}, id="1")
    groups.create_group(STREAM, GROUP)  # at $
    add(redis_client, 3, start=100)
    read(redis_client, "alice", 1)

    row = xinfo_group(redis_client)
    assert (row["entries-read"], row["lag"]) == (2, 2)
    assert summary_of(groups).lag == 2


@pytest.mark.parametrize(
    ("start", "lag"), [("$", 0), ("0", 6), ("0-0", 6), ("3-0", 3), ("3", 3), ("6-0", 0), ("9-0", 0)]
)
def test_a_group_created_at_any_start_has_the_lag_redis_reports(groups, redis_client, start, lag):
    add(redis_client, 6)

    groups.create_group(STREAM, GROUP, start_id=start)

    assert xinfo_group(redis_client)["lag"] == lag
    read(redis_client, "alice", 2)
    assert xinfo_group(redis_client)["lag"] == max(0, lag - 2)


def test_entriesread_counts_only_what_is_left_after_trims_and_deletions(groups, redis_client):
    add(redis_client, 10)
    redis_client.xtrim(STREAM, maxlen=8, approximate=False)  # 3-0 ... 10-0
    redis_client.xdel(STREAM, "4-0")

    groups.create_group(STREAM, GROUP, start_id="5-0")

    assert summary_of(groups).lag == 5
    assert read(redis_client, "alice", 10) == ["6-0", "7-0", "8-0", "9-0", "10-0"]
    assert summary_of(groups).lag == 0


def test_a_group_moved_with_setid_keeps_a_known_lag(groups, redis_client):
    add(redis_client, 6)
    groups.create_group(STREAM, GROUP)

    groups.set_group_id(STREAM, GROUP, "2-0")

    assert xinfo_group(redis_client)["lag"] == 4
    groups.set_group_id(STREAM, GROUP, "$")
    assert xinfo_group(redis_client)["lag"] == 0


def test_after_a_deletion_past_the_last_delivered_id_the_lag_is_counted_exactly(groups, redis_client):
    add(redis_client, 6)
    groups.create_group(STREAM, GROUP, start_id="0")
    read(redis_client, "alice", 2)
    redis_client.xdel(STREAM, "5-0")
    assert xinfo_group(redis_client)["lag"] is None

    summary = summary_of(groups)

    assert (summary.lag, summary.lag_exact) == (3, True)  # 3-0, 4-0, 6-0


def test_a_lag_too_long_to_count_is_an_estimate_with_a_lower_bound(groups, redis_client, monkeypatch):
    from streams_app.gateway import lag

    add(redis_client, 5000)
    redis_client.xgroup_create(STREAM, GROUP, id="2500-0")
    redis_client.xdel(STREAM, "4000-0")
    monkeypatch.setattr(lag, "COUNT_BUDGET", 1000)

    summary = summary_of(groups)

    # 2,499 entries follow 2500-0; a count of at most about 1,000 entries cannot get there.
    assert summary.lag_estimated and not summary.lag_exact
    assert summary.lag_at_least is not None and 0 < summary.lag_at_least <= 2499
    assert summary.lag_at_least <= summary.lag
    assert abs(summary.lag - 2499) < 50  # entries are one millisecond apart: the estimate is close


def test_at_either_end_of_the_stream_the_lag_needs_no_count(groups, redis_client):
    add(redis_client, 4, start=10)
    redis_client.xgroup_create(STREAM, "before", id="5-0")  # before the first entry
    redis_client.xgroup_create(STREAM, "after", id="20-0")  # past the last one
    redis_client.xgroup_create("empty", "g", id="0", mkstream=True)

    found = {summary.name: summary for summary in groups.groups(STREAM)}
    assert (found["before"].lag, found["after"].lag) == (4, 0)
    assert [summary.lag for summary in groups.groups("empty")] == [0]


# --- names that are not UTF-8 ---------------------------------------------------------------


def test_a_group_whose_name_is_not_utf8_is_listed_exactly_and_answers_every_call(groups, redis_client):
    add(redis_client, 4)
    redis_client.xgroup_create(STREAM, b"\xff", id="0")
    redis_client.xreadgroup(b"\xff", b"\xfe", {STREAM: ">"}, count=3)
    odd = "\udcff"

    [summary] = groups.groups(STREAM)
    assert summary.name == odd and summary.pending == 3

    assert [consumer.pending for consumer in groups.consumers(STREAM, odd)] == [3]
    assert groups.pending_summary(STREAM, odd).count == 3
    assert [entry.id for entry in groups.pending_entries(STREAM, odd)] == ["1-0", "2-0", "3-0"]
    assert [entry.id for entry in groups.pending_entries(STREAM, odd, consumer="\udcfe")] == ["1-0", "2-0", "3-0"]
    assert groups.claim(STREAM, odd, consumer="bob", ids=["1-0"]) == ["1-0"]
    assert groups.ack(STREAM, odd, ["2-0"]) == 1
    groups.set_group_id(STREAM, odd, "0")
    assert redis_client.xinfo_groups(STREAM)[0]["last-delivered-id"] == b"0-0"
    assert groups.destroy_group(STREAM, odd) is True
    assert redis_client.xinfo_groups(STREAM) == []


def test_a_name_holding_a_lone_surrogate_is_bad_input_and_nothing_is_sent(groups, redis_client):
    add(redis_client, 1)

    for call in (
        lambda: groups.create_group(STREAM, "\ud800"),
        lambda: groups.consumers(STREAM, "\ud800"),
        lambda: groups.groups("\ud800"),
        lambda: groups.claim(STREAM, GROUP, consumer="\ud800", ids=["1-0"]),
    ):
        with pytest.raises(BadInput, match=r"lone surrogate"):
            call()
    assert redis_client.xinfo_groups(STREAM) == []


def test_re_driving_onto_a_stream_that_has_used_the_last_id_is_a_conflict_and_moves_nothing(groups, redis_client):
    top = "18446744073709551615-18446744073709551615"
    redis_client.xadd(STREAM, {"n": "1"}, id=top)
    dead = redis_client.xadd(DEAD, {"stream": STREAM, "id": "1-0", "orig:n": "1"}).decode()

    with pytest.raises(Conflict, match="last possible ID"):
        groups.redrive(DEAD, STREAM, [dead])

    assert redis_client.xlen(DEAD) == 1 and redis_client.xlen(STREAM) == 1


def test_the_live_pages_async_client_counts_the_same_lag(groups, redis_client):
    import asyncio

    from streams_app.gateway.clients import live_client
    from streams_app.gateway.lag import groups_with_lag_async
    from streams_app.gateway.types import GroupSummary, StreamSummary

    redis_client.xadd(STREAM, {"temperature": "29", "humidity": "10"}, id="1")
    redis_client.xgroup_create(STREAM, GROUP, id="$")
    add(redis_client, 3, start=100)
    read(redis_client, "alice", 1)

    async def counted() -> list[GroupSummary]:
        client = live_client()
        try:
            stream = StreamSummary.from_xinfo(STREAM, await client.xinfo_stream(STREAM))
            rows = [GroupSummary.from_xinfo(row) for row in await client.xinfo_groups(STREAM)]
            return await groups_with_lag_async(client, STREAM.encode(), stream, rows, budget=100)
        finally:
            await client.aclose()

    [summary] = asyncio.run(counted())
    assert (summary.lag, summary.lag_exact) == (2, True) == (summary_of(groups).lag, summary_of(groups).lag_exact)
