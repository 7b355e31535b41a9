"""Stream reads and writes: XADD (the bulk path is in bulk.py), XRANGE/XREVRANGE, XINFO STREAM, SCAN, MEMORY.

On a Redis Cluster (a `RedisCluster` client) key commands and non-transactional pipelines are
routed per key by redis-py; SCAN and INFO are per node, so those two walk every primary here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

import redis
import redis.cluster

from streams_app.errors import BadInput, Conflict, NotFound, RedisUnavailable
from streams_app.gateway.bulk import bulk_add_entries
from streams_app.gateway.errors import EXHAUSTED_ID, redis_call, translate_redis_error
from streams_app.gateway.keys import display_name, key_bytes, key_from_bytes
from streams_app.gateway.types import (
    MAX_PART,
    Entry,
    EntryBatch,
    RangeQuery,
    RangeScan,
    ScanCursor,
    ServerMemory,
    StreamId,
    StreamKeysPage,
    StreamSummary,
    text,
)

TOO_SMALL_ID = "The ID specified in XADD is equal or smaller"
Fields = Sequence[tuple[str, str]]


class StreamStore:
    """Typed access to the streams of one Redis database."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client
        self.on_cluster = isinstance(client, redis.cluster.RedisCluster)

    # --- writes -----------------------------------------------------------------

    @redis_call
    def add_entry(self, name: str, fields: Fields, entry_id: str = "*") -> str:
        """XADD one entry; returns its ID. An ID not above the last one is a Conflict."""
        try:
            new_id = self.client.xadd(key_bytes(name), {k: v for k, v in fields}, id=entry_id)
        except redis.ResponseError as error:
            if str(error).startswith("WRONGTYPE"):
                raise self._not_a_stream(name) from error
            if TOO_SMALL_ID in str(error):
                raise self.id_not_growing(name, entry_id) from error
            if EXHAUSTED_ID in str(error):
                raise self.exhausted(name) from error
            raise
        return text(new_id)

    def add_entries(self, name: str, batches: Iterable[EntryBatch]) -> Iterator[int]:
        """XADD many entries, a pipelined batch at a time (see gateway/bulk.py); yields the total
        written after each batch. Stops at the first refused entry, raised as a domain error
        (the entries before it stay written)."""
        return bulk_add_entries(self.client, name, batches, refusal=self.refusal)

    def _not_a_stream(self, name: str) -> Conflict:
        kind = self.key_type(name)
        return Conflict(f"The key “{display_name(name)}” holds a {kind}, not a stream.", field="city")

    def id_not_growing(self, name: str, entry_id: str) -> Conflict:
        """The refusal of an explicit ID that is not above the stream's last one (same words at every door)."""
        return Conflict(
            f"The ID {entry_id} is not greater than the last ID of “{display_name(name)}” "
            f"({self.last_generated_id(name)}): IDs in a stream must grow.",
            field="id",
        )

    def exhausted(self, name: str) -> Conflict:
        """The refusal of a new entry on a stream whose last ID is the largest there can be."""
        return Conflict(
            f"“{display_name(name)}” has used the last possible ID ({MAX_PART}-{MAX_PART}): nothing more can be "
            "added to it. Write to another stream (or delete this one and start again).",
            field="id",
        )

    def refusal(self, name: str, error: Exception, entry_id: str) -> Exception:
        """The domain error for an XADD Redis refused (not a stream, ID not growing, ...)."""
        if str(error).startswith("WRONGTYPE"):
            return self._not_a_stream(name)
        if TOO_SMALL_ID in str(error):
            return self.id_not_growing(name, entry_id)
        if EXHAUSTED_ID in str(error):
            return self.exhausted(name)
        return translate_redis_error(redis.ResponseError(str(error))) or redis.ResponseError(str(error))

    # --- reads ------------------------------------------------------------------

    @redis_call
    def key_type(self, name: str) -> str:
        """Redis's type of the key: 'stream', 'string', ... or 'none'."""
        return text(self.client.type(key_bytes(name)))

    def require_stream(self, name: str) -> None:
        """NotFound if there is no such key; Conflict if it is not a stream."""
        kind = self.key_type(name)
        if kind == "none":
            raise NotFound(f"There is no stream called “{display_name(name)}”.")
        if kind != "stream":
            raise Conflict(f"The key “{display_name(name)}” holds a {kind}, not a stream.")

    @redis_call
    def last_generated_id(self, name: str) -> str | None:
        try:
            info = self.client.xinfo_stream(key_bytes(name))
        except redis.ResponseError:
            return None
        return StreamSummary.from_xinfo(name, info).last_generated_id

    @redis_call
    def ranges(self, name: str, queries: Sequence[RangeQuery]) -> list[list[Entry]]:
        """Run several range reads of one stream in one round trip (bounds inclusive)."""
        key = key_bytes(name)
        pipe = self.client.pipeline(transaction=False)
        pipe.type(key)
        for query in queries:
            low, high = str(query.low), str(query.high)
            if query.reverse:
                pipe.xrevrange(key, max=high, min=low, count=query.count)
            else:
                pipe.xrange(key, min=low, max=high, count=query.count)
        kind, *results = pipe.execute(raise_on_error=False)
        _require_stream_reply(name, kind, results)
        return [[Entry.from_redis(raw_id, raw_fields) for raw_id, raw_fields in rows] for rows in results]

    @redis_call
    def range_scan(
        self,
        name: str,
        query: RangeQuery,
        *,
        keep: Callable[[Mapping[str, str]], bool],
        reads: Collection[str],
        limit: int,
        also: Sequence[RangeQuery] = (),
    ) -> RangeScan:
        """One range read (as `ranges`) whose entries are tested in order by `keep` until `limit`
        are kept. `keep` sees only the fields named in `reads`, decoded alone, so an entry that is
        not kept costs little more than Redis's reply; kept entries come back whole. The reads in
        `also` go in the same round trip, untested."""
        key = key_bytes(name)
        pipe = self.client.pipeline(transaction=False)
        pipe.type(key)
        for one in (query, *also):
            if one.reverse:
                pipe.xrevrange(key, max=str(one.high), min=str(one.low), count=one.count)
            else:
                pipe.xrange(key, min=str(one.low), max=str(one.high), count=one.count)
        kind, rows, *others = pipe.execute(raise_on_error=False)
        _require_stream_reply(name, kind, [rows, *others])
        seen = _tested_fields(reads)
        kept: list[Entry] = []
        tested = 0
        for raw_id, raw_fields in rows:
            tested += 1
            if keep(seen(raw_id, raw_fields)):
                kept.append(Entry.from_redis(raw_id, raw_fields))
                if len(kept) >= limit:
                    break
        last = StreamId.parse(rows[tested - 1][0]) if tested else None
        also_entries = [[Entry.from_redis(raw_id, raw_fields) for raw_id, raw_fields in other] for other in others]
        return RangeScan(kept=kept, tested=tested, last_tested=last, read=len(rows), also=also_entries)

    @redis_call
    def entry(self, name: str, entry_id: StreamId) -> Entry | None:
        [rows] = self.ranges(name, [RangeQuery(entry_id, entry_id, 1)])
        return rows[0] if rows else None

    @redis_call
    def scan_stream_keys(
        self,
        *,
        cursor: ScanCursor = 0,
        want: int = 50,
        scan_count: int = 1000,
        max_calls: int = 20,
        keep: Callable[[str], bool] | None = None,
    ) -> StreamKeysPage:
        """Walk the keyspace with SCAN ... TYPE stream until `want` keys (that `keep` accepts, when
        given) are found or `max_calls` SCAN calls are spent, so a huge keyspace never holds a page
        up: a page may hold fewer keys than `want`, and its cursor still moves on. On a cluster the
        walk goes through every primary in turn, under one cursor `"<primary>.<node cursor>"`."""
        if self.on_cluster:
            return self._scan_cluster(cursor, want=want, scan_count=scan_count, max_calls=max_calls, keep=keep)
        if not isinstance(cursor, int):
            raise BadInput(f"“{display_name(str(cursor))}” is not a page cursor of this Redis.", field="cursor")
        names: list[str] = []
        scanned_calls = 0
        while True:
            cursor, keys = self.client.scan(cursor=cursor, count=scan_count, _type="stream")
            cursor = int(cursor)
            scanned_calls += 1
            found = (key_from_bytes(key) for key in keys)
            names.extend(found if keep is None else filter(keep, found))
            if cursor == 0 or len(names) >= want or scanned_calls >= max_calls:
                break
        return StreamKeysPage(names=names, next_cursor=cursor or None)

    def _scan_cluster(
        self, cursor: ScanCursor, *, want: int, scan_count: int, max_calls: int, keep: Callable[[str], bool] | None
    ) -> StreamKeysPage:
        primaries = self._primaries_by_slot()
        index, node_cursor = _cluster_position(cursor, len(primaries))
        names: list[str] = []
        scanned_calls = 0
        while True:
            node = primaries[index]
            cursors, keys = self.client.scan(cursor=node_cursor, count=scan_count, _type="stream", target_nodes=node)
            node_cursor = int(cursors[node.name])
            scanned_calls += 1
            found = (key_from_bytes(key) for key in keys)
            names.extend(found if keep is None else filter(keep, found))
            if node_cursor == 0:
                index += 1
                if index == len(primaries):
                    return StreamKeysPage(names=names, next_cursor=None)
            if len(names) >= want or scanned_calls >= max_calls:
                return StreamKeysPage(names=names, next_cursor=f"{index}.{node_cursor}")

    def _primaries_by_slot(self) -> list[redis.cluster.ClusterNode]:
        """The primaries ordered by the lowest slot each serves: a failover keeps a cursor's index valid."""
        lowest: dict[str, tuple[int, redis.cluster.ClusterNode]] = {}
        for slot, nodes in self.client.nodes_manager.slots_cache.items():
            primary = nodes[0]  # redis-py lists a slot's primary first
            if primary.name not in lowest or slot < lowest[primary.name][0]:
                lowest[primary.name] = (slot, primary)
        return [node for _, node in sorted(lowest.values(), key=lambda pair: pair[0])]

    @redis_call
    def summaries(
        self, names: Sequence[str], *, dead_letter_keys: Mapping[str, str] | None = None
    ) -> list[StreamSummary]:
        """Length, first and last entry, groups and memory of each stream, in one round trip, with
        the length of its dead-letter stream for the names `dead_letter_keys` maps to one.
        Keys that vanished (or changed type) since they were listed are left out."""
        dead_letter_keys = dead_letter_keys or {}
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.xinfo_stream(key_bytes(name))
            pipe.memory_usage(key_bytes(name))
            if name in dead_letter_keys:
                pipe.xlen(key_bytes(dead_letter_keys[name]))
        replies = iter(pipe.execute(raise_on_error=False))
        found = []
        for name in names:
            info, memory = next(replies), next(replies)
            dead = next(replies) if name in dead_letter_keys else None
            if isinstance(info, Exception):
                if isinstance(translate_redis_error(info), RedisUnavailable):
                    raise info  # the stream's node cannot answer: not a stream that vanished
                continue
            found.append(
                StreamSummary.from_xinfo(
                    name,
                    info,
                    memory_bytes=None if isinstance(memory, Exception) or memory is None else int(memory),
                    dead_letters=None if isinstance(dead, Exception) or dead is None else int(dead),
                )
            )
        return found

    @redis_call
    def summary(self, name: str) -> StreamSummary:
        self.require_stream(name)
        found = self.summaries([name])
        if not found:
            raise NotFound(f"There is no stream called “{display_name(name)}”.")
        return found[0]

    @redis_call
    def server_memory(self) -> ServerMemory:
        """Memory and version of the Redis; on a cluster summed over the primaries, with each one's use."""
        if self.on_cluster:
            return self._cluster_memory()
        memory = self.client.info("memory")
        server = self.client.info("server")
        return ServerMemory(
            used_memory_human=str(memory.get("used_memory_human", "")),
            used_memory_dataset=int(memory.get("used_memory_dataset", 0)),
            used_memory_peak_human=str(memory.get("used_memory_peak_human", "")),
            maxmemory=int(memory.get("maxmemory", 0)),
            redis_version=str(server.get("redis_version", "")),
            engine=server_engine(server),
        )

    def _cluster_memory(self) -> ServerMemory:
        per_node = []
        for node in self._primaries_by_slot():
            memory = self.client.info("memory", target_nodes=node)
            server = self.client.info("server", target_nodes=node)
            per_node.append((node.name, memory, server))
        limits = [int(memory.get("maxmemory", 0)) for _, memory, _ in per_node]
        return ServerMemory(
            used_memory_human=human_bytes(sum(int(memory.get("used_memory", 0)) for _, memory, _ in per_node)),
            used_memory_dataset=sum(int(memory.get("used_memory_dataset", 0)) for _, memory, _ in per_node),
            # The sum of each primary's peak: a bound on the cluster's peak (they need not coincide).
            used_memory_peak_human=human_bytes(
                sum(int(memory.get("used_memory_peak", 0)) for _, memory, _ in per_node)
            ),
            # 0 is "no limit" in Redis: one unlimited primary leaves the cluster unlimited.
            maxmemory=0 if 0 in limits else sum(limits),
            redis_version=", ".join(sorted({str(server.get("redis_version", "")) for _, _, server in per_node})),
            engine=", ".join(sorted({server_engine(server) for _, _, server in per_node})),
            nodes=tuple((name, int(memory.get("used_memory", 0))) for name, memory, _ in per_node),
        )


def _require_stream_reply(name: str, kind: bytes | Exception, results: Sequence[object]) -> None:
    """Raise what a pipelined TYPE and its range reads say went wrong: no key, not a stream, an error."""
    if isinstance(kind, Exception):  # e.g. CLUSTERDOWN: the stream's node cannot answer
        raise kind
    kind_name = text(kind)
    if kind_name == "none":
        raise NotFound(f"There is no stream called “{display_name(name)}”.")
    if kind_name != "stream":
        raise Conflict(f"The key “{display_name(name)}” holds a {kind_name}, not a stream.")
    for result in results:
        if isinstance(result, Exception):
            raise result


def _tested_fields(reads: Collection[str]) -> Callable[[bytes, dict[bytes, bytes] | list[bytes]], dict[str, str]]:
    """How range_scan shows an entry to its test: the fields named in `reads`, as Entry.fields
    would hold them. A name can be looked up by its UTF-8 bytes unless it holds a backslash (it
    may stand for bytes that are not UTF-8, which Entry shows escaped): then every name is decoded."""
    if any("\\" in field for field in reads):
        return lambda raw_id, raw_fields: Entry.from_redis(raw_id, raw_fields).fields
    wanted = []
    for field in reads:
        try:
            wanted.append((field, field.encode("utf-8")))
        except UnicodeEncodeError:  # a lone surrogate: no name Redis holds decodes to it
            continue

    def seen(raw_id: bytes, raw_fields: dict[bytes, bytes] | list[bytes]) -> dict[str, str]:
        if not isinstance(raw_fields, dict):  # RESP3 or a bare list: name, value, name, value, ...
            raw_fields = dict(zip(raw_fields[::2], raw_fields[1::2], strict=True)) if raw_fields else {}
        # bytes.decode as text() does it, without a call per value: this runs for every entry scanned.
        return {
            field: value.decode("utf-8", "backslashreplace") if type(value) is bytes else text(value)
            for field, raw in wanted
            if (value := raw_fields.get(raw)) is not None
        }

    return seen


def _cluster_position(cursor: ScanCursor, primaries: int) -> tuple[int, int]:
    """(primary index, node cursor) of a cluster cursor; 0 is the start. BadInput for anything else."""
    if cursor == 0:
        return 0, 0
    index, dot, node_cursor = str(cursor).partition(".")
    if isinstance(cursor, str) and dot and index.isdigit() and node_cursor.isdigit() and int(index) < primaries:
        return int(index), int(node_cursor)
    raise BadInput(f"“{display_name(str(cursor))}” is not a page cursor of this Redis Cluster.", field="cursor")


def server_engine(server_info: dict) -> str:
    """The engine and its own version from INFO server: Valkey reports `redis_version` as the Redis
    release it is compatible with, and its own under `server_name`/`valkey_version`."""
    name = str(server_info.get("server_name") or "redis")
    version = server_info.get(f"{name}_version") or server_info.get("redis_version") or ""
    return f"{name.capitalize()} {version}".strip()


def human_bytes(size: int) -> str:
    """A size as Redis's INFO writes it (`used_memory_human`): 1023B, 1.50K, 2.25M, ..."""
    if size < 1024:
        return f"{size}B"
    scaled = float(size)
    for unit in "KMGT":
        scaled /= 1024
        if scaled < 1024:
            return f"{scaled:.2f}{unit}"
    return f"{scaled / 1024:.2f}P"
