"""StreamStore on a real Redis Cluster, with streams on every primary: writes and reads routed per
key, summaries of keys on different nodes in one call, SCAN over every primary under one cursor,
memory summed over the primaries, and the same domain errors as on one Redis."""

from __future__ import annotations

import pytest

from streams_app.domain.catalog import parse_scan_cursor
from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import RangeQuery, StreamId


def test_connect_cluster_knows_every_primary(cluster_streams, redis_cluster):
    assert cluster_streams.on_cluster
    ports = {node.port for node in cluster_streams.client.get_primaries()}
    assert ports == {node.port for node in redis_cluster.primaries}


def test_writes_and_reads_reach_the_node_of_each_key(cluster_streams, redis_cluster):
    names = redis_cluster.names_on_each_primary("city")
    assert redis_cluster.on_different_primaries(*names)
    for number, name in enumerate(names):
        first = cluster_streams.add_entry(name, [("temperature", str(number))])
        cluster_streams.add_entry(name, [("temperature", "99")], entry_id=f"{StreamId.parse(first).ms + 1}-0")
        assert cluster_streams.key_type(name) == "stream"
        cluster_streams.require_stream(name)
        assert cluster_streams.last_generated_id(name) == f"{StreamId.parse(first).ms + 1}-0"
        forward, backward = cluster_streams.ranges(
            name,
            [RangeQuery(StreamId(0), StreamId(2**64 - 1), 10), RangeQuery(StreamId(0), StreamId(2**64 - 1), 1, True)],
        )
        assert [entry.fields["temperature"] for entry in forward] == [str(number), "99"]
        assert [entry.fields["temperature"] for entry in backward] == ["99"]
        assert cluster_streams.entry(name, StreamId.parse(first)).fields == {"temperature": str(number)}
    with pytest.raises(NotFound):
        cluster_streams.require_stream("nowhere")
    with pytest.raises(NotFound):
        cluster_streams.ranges("nowhere", [RangeQuery(StreamId(0), StreamId(1), 1)])


def test_a_refused_explicit_id_is_the_same_conflict_as_on_one_node(cluster_streams, streams, redis_cluster):
    for store in (cluster_streams, streams):  # `streams`: the suite's single-node store
        store.add_entry("chennai", [("temperature", "20")], entry_id="5-0")
        with pytest.raises(Conflict) as refused:
            store.add_entry("chennai", [("temperature", "21")], entry_id="5-0")
        assert refused.value.field == "id"
        assert str(refused.value) == str(StreamStore.id_not_growing(store, "chennai", "5-0"))
        assert "(5-0)" in str(refused.value)
    cluster_streams.client.set("plain", "x")
    with pytest.raises(Conflict, match="holds a string"):
        cluster_streams.add_entry("plain", [("temperature", "1")])


def test_summaries_of_streams_on_different_nodes_come_in_one_call(cluster_streams, redis_cluster):
    names = redis_cluster.names_on_each_primary("city")
    for count, name in enumerate(names, start=1):
        for _ in range(count):
            cluster_streams.add_entry(name, [("temperature", "1")])
    cluster_streams.add_entry("{city-x}:dead", [("error", "boom")])
    dead_letters = {names[0]: "{city-x}:dead", names[1]: "{nothing}:dead"}
    summaries = cluster_streams.summaries([*names, "vanished"], dead_letter_keys=dead_letters)
    assert [(summary.name, summary.length) for summary in summaries] == [
        (name, count) for count, name in enumerate(names, start=1)
    ]
    assert all(summary.memory_bytes and summary.memory_bytes > 0 for summary in summaries)
    assert [summary.dead_letters for summary in summaries] == [1, 0, None]


def test_scan_pages_over_every_primary_until_the_cursor_is_done(cluster_streams, redis_cluster):
    names = {f"city-{number}" for number in range(60)}
    for name in names:
        cluster_streams.add_entry(name, [("temperature", "1")])
    cluster_streams.client.set("not-a-stream", "x")
    assert len({redis_cluster.primary_for(name).port for name in names}) == len(redis_cluster.primaries)

    seen: list[str] = []
    cursor: int | str = 0
    cursors = []
    while True:
        page = cluster_streams.scan_stream_keys(cursor=cursor, want=5, scan_count=3, max_calls=4)
        seen.extend(page.names)
        if page.next_cursor is None:
            break
        cursors.append(page.next_cursor)
        # What a page links to comes back through the domain's parser unchanged.
        cursor = parse_scan_cursor(str(page.next_cursor))
        assert cursor == page.next_cursor
    assert sorted(seen) == sorted(names)  # each exactly once: the keyspace did not change
    assert len(cursors) >= len(redis_cluster.primaries)
    assert {int(str(position).partition(".")[0]) for position in cursors} >= {1, 2}


def test_scan_stays_bounded_by_max_calls(cluster_streams, redis_cluster):
    for number in range(30):
        cluster_streams.add_entry(f"city-{number}", [("temperature", "1")])

    def scans() -> int:
        total = 0
        for node in redis_cluster.primaries:
            client = redis_cluster.node_client(node.port)
            total += int(client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
            client.close()
        return total

    before = scans()
    page = cluster_streams.scan_stream_keys(want=1000, scan_count=1, max_calls=2)
    # SCAN's COUNT is a hint (a call may return more keys), so the bound is on the calls made.
    assert scans() - before == 2
    assert isinstance(page.next_cursor, str) and len(page.names) < 30


@pytest.mark.parametrize("cursor", [7, "3.0", "9.1", "x.1"])
def test_scan_refuses_a_cursor_that_is_not_this_clusters(cluster_streams, cursor):
    with pytest.raises(BadInput):
        cluster_streams.scan_stream_keys(cursor=cursor)


def test_a_cluster_cursor_on_one_node_is_bad_input(streams):
    with pytest.raises(BadInput):
        streams.scan_stream_keys(cursor="1.5")


@pytest.mark.parametrize("raw", ["1.", ".5", "1.2.3", "a.1", "-1.2", "1.-2", "16384.0", f"0.{2**64}", "١.1"])
def test_the_domain_refuses_malformed_cluster_cursors(raw):
    with pytest.raises(BadInput, match="not a valid page cursor"):
        parse_scan_cursor(raw)


def test_server_memory_sums_the_primaries(cluster_streams, redis_cluster):
    memory = cluster_streams.server_memory()
    assert [port for port in (int(address.rsplit(":", 1)[1]) for address, _ in memory.nodes)] == sorted(
        (node.port for node in redis_cluster.primaries), key=lambda port: redis_cluster.node(port).slots[0][0]
    )
    assert all(used > 0 for _, used in memory.nodes)
    total = sum(used for _, used in memory.nodes)
    number, unit = float(memory.used_memory_human[:-1]), memory.used_memory_human[-1]
    assert unit == "M" and abs(number * 1024 * 1024 - total) < 0.05 * total
    assert memory.redis_version and memory.used_memory_dataset > 0 and memory.maxmemory == 0
