"""The bulk XADD path (gateway/bulk.py) on a real Redis Cluster: each stream's batches reach the
primary that owns its slot; a resharding while batches flow (the slot moved with CLUSTER SETSLOT
IMPORTING/MIGRATING, MIGRATE and SETSLOT NODE, as `redis-cli --cluster reshard` does) ends with
every entry exactly once and in order, through MOVED and ASK; refusals are the same domain
errors as on one node; a primary killed mid-produce is RedisUnavailable, and the next produce
reaches its promoted replica."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import pytest

from streams_app.domain.producer import produce_plan, produce_run
from streams_app.errors import Conflict, RedisUnavailable
from streams_app.gateway.clients import connect_cluster
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import EntryBatch
from tests.support.redis_cluster import HOST, LocalCluster

BATCH = 2_000
START_MS = 1_700_000_000_000


@pytest.fixture
def slot_moves(redis_cluster):
    """Moves slots for a test (`SlotMove`); afterwards every slot it touched is empty and back
    with the primary that served it, so the shared cluster looks as it did."""
    moves: list[SlotMove] = []

    def move(key: str, to_port: int) -> SlotMove:
        moves.append(SlotMove(redis_cluster, redis_cluster.keyslot(key), to_port))
        return moves[-1]

    yield move
    redis_cluster.flushall()
    for slot_move in reversed(moves):
        slot_move.give_back()
    redis_cluster.wait_healthy()


class SlotMove:
    """One slot moved from its primary to another, step by step, as a resharding does it."""

    def __init__(self, cluster: LocalCluster, slot: int, to_port: int) -> None:
        self.cluster, self.slot, self.to_port = cluster, slot, to_port
        self.from_port = next(port for first, last, port in cluster.slot_map() if first <= slot <= last)
        assert self.from_port != to_port
        self.ids = {port: cluster.node(port).node_id for port in cluster.running_ports}

    def _on(self, port: int, *command: object) -> object:
        with self.cluster.node_client(port, decode_responses=True) as client:
            return client.execute_command(*command)

    def start(self) -> None:
        """IMPORTING on the target, then MIGRATING on the source: the source now answers ASK for
        the slot's keys it no longer holds."""
        self._on(self.to_port, "CLUSTER SETSLOT", self.slot, "IMPORTING", self.ids[self.from_port])
        self._on(self.from_port, "CLUSTER SETSLOT", self.slot, "MIGRATING", self.ids[self.to_port])

    def move_keys(self) -> None:
        """MIGRATE every key of the slot (a stream moves whole, atomically)."""
        keys = self._on(self.from_port, "CLUSTER GETKEYSINSLOT", self.slot, 1000)
        if keys:
            self._on(self.from_port, "MIGRATE", HOST, self.to_port, "", 0, 10_000, "KEYS", *keys)

    def finish(self) -> None:
        """SETSLOT NODE on the target, the source, then the others: every node now answers MOVED."""
        self._set_owner(self.to_port)

    def all_at_once(self) -> None:
        self.start()
        self.move_keys()
        self.finish()

    def give_back(self) -> None:
        """The (empty) slot back with its first primary, moved the same way, whatever state the
        test left it in."""
        for port in self.cluster.running_ports:
            self._on(port, "CLUSTER SETSLOT", self.slot, "STABLE")
        owner = next(port for first, last, port in self.cluster.slot_map() if first <= self.slot <= last)
        if owner != self.from_port:
            self._on(self.from_port, "CLUSTER SETSLOT", self.slot, "IMPORTING", self.ids[owner])
            self._on(owner, "CLUSTER SETSLOT", self.slot, "MIGRATING", self.ids[self.from_port])
        self._set_owner(self.from_port)

    def _set_owner(self, owner: int) -> None:
        others = [port for port in self.cluster.running_ports if port not in (owner, self.from_port, self.to_port)]
        # The new owner first: it takes the slot (and a new config epoch) before the others are told.
        for port in dict.fromkeys([owner, self.to_port, self.from_port, *others]):
            self._on(port, "CLUSTER SETSLOT", self.slot, "NODE", self.ids[owner])


def numbered_batches(
    count: int,
    *,
    explicit_ids: bool = False,
    first: int = 0,
    before: Mapping[int, Sequence[Callable[[], object]]] | None = None,
    pause: float = 0.0,
) -> Iterator[EntryBatch]:
    """Entries `first`..`first+count-1`, each carrying its number `n`, in batches of BATCH;
    the steps in `before[k]` run just before batch k is handed over (batch k-1 is then on the wire)."""
    for number, batch_start in enumerate(range(first, first + count, BATCH)):
        for step in (before or {}).get(number, ()):
            step()
        numbers = [str(index) for index in range(batch_start, min(batch_start + BATCH, first + count))]
        ids = [f"{START_MS + int(index)}-0" for index in numbers] if explicit_ids else None
        yield EntryBatch(ids=ids, columns=[("n", numbers), ("temperature", ["21.5"] * len(numbers))])
        if pause:
            time.sleep(pause)


def numbers_in(cluster_client, name: str) -> list[int]:
    return [int(fields[b"n"]) for _, fields in cluster_client.xrange(name)]


def owner_port(store: StreamStore, name: str) -> int:
    """Where the store's own client believes the stream's slot is served."""
    client = store.client
    return client.nodes_manager.get_node_from_slot(client.keyslot(name)).port


def asking_calls(redis_cluster, port: int) -> int:
    with redis_cluster.node_client(port) as client:
        return int(client.info("commandstats").get("cmdstat_asking", {}).get("calls", 0))


def other_primary(redis_cluster, name: str) -> int:
    owner = redis_cluster.primary_for(name).port
    return next(node.port for node in redis_cluster.primaries if node.port != owner)


# --- every primary ----------------------------------------------------------------------------


def test_bulk_produce_writes_each_stream_on_the_primary_that_owns_it(cluster_streams, cluster_client, redis_cluster):
    names = redis_cluster.names_on_each_primary("city")
    for name in names:
        totals = list(cluster_streams.add_entries(name, numbered_batches(5 * BATCH + 7)))
        assert totals == [BATCH, 2 * BATCH, 3 * BATCH, 4 * BATCH, 5 * BATCH, 5 * BATCH + 7]
    for name in names:
        assert numbers_in(cluster_client, name) == list(range(5 * BATCH + 7))
        for node in redis_cluster.primaries:
            with redis_cluster.node_client(node.port) as client:
                # Only the owner holds it; asking another node for it would be a MOVED.
                owns = node.port == redis_cluster.primary_for(name).port
                assert (client.execute_command("CLUSTER COUNTKEYSINSLOT", redis_cluster.keyslot(name)) == 1) == owns
        with redis_cluster.node_client(redis_cluster.primary_for(name).port) as owner:
            assert owner.xlen(name) == 5 * BATCH + 7


def test_the_producer_back_fills_a_day_on_each_primary(cluster_streams, cluster_client, redis_cluster):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for seed, name in enumerate(redis_cluster.names_on_each_primary("city")):
        result = produce_run(store=cluster_streams, plan=produce_plan(city=name, count=25_000, start=start, seed=seed))
        assert result.written == 25_000 == cluster_client.xlen(name)
        assert result.last_id == f"{int(start.timestamp() * 1000) + 24_999_000}-0"
        # Every reading carries the measurements, none the city (the stream's name says it).
        assert set(cluster_client.xrange(name, count=1)[0][1]) == {b"temperature", b"humidity"}


# --- a resharding while batches flow -------------------------------------------------------------

# Batch numbers at which each step of the move happens, just before that batch is handed over.
SCHEDULES = {
    # The whole move between two batches: the client's slot map is stale, so the next batch
    # goes to the old primary and comes back MOVED (and the one on the wire may be split).
    "moved between batches": {"start": 3, "move_keys": 3, "finish": 3},
    # The stream moves while the slot is migrating: the old primary answers ASK, the batches
    # follow to the importing node behind ASKING, and go on there after the move is finished.
    "asked while migrating": {"start": 2, "move_keys": 4, "finish": 7},
    # A new stream while its slot is migrating: the old primary has no such key, so even the
    # first XADD is asked over; the (empty) move finishes meanwhile.
    "new stream during a migration": {"start": 0, "move_keys": 0, "finish": 5},
}


@pytest.mark.parametrize("explicit_ids", [False, True], ids=["star IDs", "explicit IDs"])
@pytest.mark.parametrize("schedule", list(SCHEDULES.values()), ids=list(SCHEDULES))
def test_a_resharding_during_a_produce_writes_every_entry_once_in_order(
    cluster_streams, cluster_client, redis_cluster, slot_moves, schedule, explicit_ids
):
    name = "reshard-0"
    target = other_primary(redis_cluster, name)
    move = slot_moves(name, target)
    before: dict[int, list[Callable[[], object]]] = {}
    for step in ("start", "move_keys", "finish"):
        before.setdefault(schedule[step], []).append(getattr(move, step))
    count = 10 * BATCH + 3
    asked_before = asking_calls(redis_cluster, target)

    totals = list(cluster_streams.add_entries(name, numbered_batches(count, explicit_ids=explicit_ids, before=before)))

    if schedule["finish"] > schedule["move_keys"]:
        # Batches were sent while the slot was migrating: the ASK was followed, behind ASKING.
        assert asking_calls(redis_cluster, target) > asked_before
    else:
        assert owner_port(cluster_streams, name) == target  # the MOVED patched the slot map
    assert totals[-1] == count and totals == sorted(totals)
    assert numbers_in(cluster_client, name) == list(range(count))
    with redis_cluster.node_client(target) as new_owner:
        assert new_owner.xlen(name) == count
    with redis_cluster.node_client(move.from_port) as old_owner:
        assert old_owner.execute_command("CLUSTER COUNTKEYSINSLOT", move.slot) == 0
    if explicit_ids:
        assert cluster_client.xrange(name, count=1)[0][0] == f"{START_MS}-0".encode()

    # Another produce on the same client: its slot map (patched by MOVED, or still stale after
    # ASK alone) leads to the new owner, and the stream goes on where it stopped.
    more = list(cluster_streams.add_entries(name, numbered_batches(BATCH, explicit_ids=explicit_ids, first=count)))
    assert more == [BATCH]
    assert owner_port(cluster_streams, name) == target
    assert numbers_in(cluster_client, name) == list(range(count + BATCH))


@pytest.mark.parametrize("explicit_ids", [False, True], ids=["star IDs", "explicit IDs"])
def test_a_resharding_from_another_thread_while_batches_flow(
    cluster_streams, cluster_client, redis_cluster, slot_moves, explicit_ids
):
    """The move runs on its own, as an operator's `redis-cli --cluster reshard` would: it may land
    mid-batch, between the entries Redis has run and those still in its socket buffer."""
    name = "reshard-1"
    first_owner = redis_cluster.primary_for(name).port
    second, third = (node.port for node in redis_cluster.primaries if node.port != first_owner)
    moves = [slot_moves(name, second), None]
    flowing, moved = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def reshard() -> None:
        try:
            flowing.wait(timeout=30)
            moves[0].all_at_once()
            time.sleep(0.01)
            moves[1] = SlotMove(redis_cluster, moves[0].slot, third)  # on again, never back
            moves[1].all_at_once()
        except BaseException as error:
            failures.append(error)
        finally:
            moved.set()

    count = 60 * BATCH
    batches = numbered_batches(count, explicit_ids=explicit_ids, before={5: [flowing.set]}, pause=0.002)
    mover = threading.Thread(target=reshard)
    mover.start()
    finished_during = []

    def watched() -> Iterator[EntryBatch]:
        yield from batches
        finished_during.append(moved.is_set())

    try:
        totals = list(cluster_streams.add_entries(name, watched()))
    finally:
        mover.join(timeout=60)
    assert not failures
    assert finished_during == [True], "the resharding did not finish while batches were flowing"
    assert totals[-1] == count
    assert numbers_in(cluster_client, name) == list(range(count))
    with redis_cluster.node_client(third) as owner:
        assert owner.xlen(name) == count


# --- refusals: the same as on one node ----------------------------------------------------------


def test_a_refused_id_in_a_batch_is_the_same_conflict_as_on_one_node(cluster_streams, streams, cluster_client):
    messages = []
    for store in (cluster_streams, streams):
        ids = [f"{START_MS + index}-0" for index in range(BATCH + 10)]
        good = EntryBatch(ids=ids[:BATCH], columns=[("n", ["x"] * BATCH)])
        bad = EntryBatch(ids=[*ids[BATCH:], ids[BATCH + 5]], columns=[("n", [str(i) for i in range(11)])])
        with pytest.raises(Conflict) as refused:
            list(store.add_entries("chennai", iter([good, bad])))
        assert refused.value.field == "id"
        messages.append(str(refused.value))
        # Written: the first batch and the second up to the refused ID.
        assert store.client.xlen("chennai") == BATCH + 10
        assert list(store.add_entries("chennai", iter([EntryBatch(ids=None, columns=[("n", ["y"])])]))) == [1]
    assert messages[0] == messages[1]
    assert f"The ID {START_MS + BATCH + 5}-0 is not greater" in messages[0]


def test_a_key_of_another_type_is_the_same_conflict_as_on_one_node(cluster_streams, streams):
    messages = []
    for store in (cluster_streams, streams):
        store.client.set("plain", "x")
        with pytest.raises(Conflict, match="holds a string") as refused:
            list(store.add_entries("plain", numbered_batches(3 * BATCH)))
        messages.append(str(refused.value))
    assert messages[0] == messages[1]


def test_a_refusal_among_redirected_entries_names_the_refused_id(
    cluster_streams, cluster_client, redis_cluster, slot_moves
):
    name = "reshard-2"
    ids = [f"{START_MS + index}-0" for index in range(BATCH)]
    list(cluster_streams.add_entries(name, iter([EntryBatch(ids=ids[:10], columns=[("n", ["a"] * 10)])])))
    target = other_primary(redis_cluster, name)
    slot_moves(name, target).all_at_once()  # the client's slot map is now stale
    resent = [*ids[10:20], ids[15]]  # the last one does not grow
    with pytest.raises(Conflict, match=f"The ID {ids[15]} is not greater") as refused:
        list(cluster_streams.add_entries(name, iter([EntryBatch(ids=resent, columns=[("n", ["b"] * 11)])])))
    assert refused.value.field == "id"
    assert cluster_client.xlen(name) == 20
    assert owner_port(cluster_streams, name) == target


# --- a primary lost ------------------------------------------------------------------------------


def test_a_primary_killed_mid_produce_is_unavailable_and_the_next_produce_reaches_its_replica(replicated_cluster):
    name = "chennai"
    client = connect_cluster(replicated_cluster.url)
    store = StreamStore(client)
    owner = replicated_cluster.primary_for(name).port
    kill = [lambda: replicated_cluster.kill(owner)]
    try:
        with pytest.raises(RedisUnavailable):
            list(store.add_entries(name, numbered_batches(20 * BATCH, before={3: kill})))
        promoted = replicated_cluster.wait_for_failover(owner)
        # The client's slot map still names the dead primary: the bulk path reads it afresh
        # before sending anything, instead of failing again.
        assert owner_port(store, name) == owner
        assert list(store.add_entries(name, numbered_batches(BATCH, first=10**6))) == [BATCH]
        assert owner_port(store, name) == promoted.port
        tail = [int(fields[b"n"]) for _, fields in client.xrevrange(name, count=BATCH)][::-1]
        assert tail == list(range(10**6, 10**6 + BATCH))
    finally:
        client.close()
