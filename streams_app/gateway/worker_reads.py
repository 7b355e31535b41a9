"""A worker's XREADGROUP on a Redis Cluster, where one command may name the keys of one hash slot
only (CROSSSLOT otherwise): one read per slot, and one blocking read at a time.

When the streams sit in one slot (one stream, or streams sharing a `{tag}`), the read is what it
is on a single node: one XREADGROUP that blocks as long as asked. Across several slots a read
first looks at every slot at once without blocking (one pipeline, sent to each node in parallel),
then waits on one slot for at most `SLOT_BLOCK_MS`, looks at the others again, waits on the next
slot, and so on until something comes or the time asked for is up. No slot is starved: every
read looks at all of them. An entry arriving on any slot is seen within about `SLOT_BLOCK_MS`;
the price is a few cheap reads per idle slot every `SLOT_BLOCK_MS`.

Each XREADGROUP is sent straight to the node that serves its slot: redis-py would otherwise ask
a node to find its keys (COMMAND GETKEYS, twice) before every read, as XREADGROUP's keys move.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis.cluster

from streams_app.gateway.keys import key_bytes, slot_of

# The longest wait on one slot while others may be receiving entries.
SLOT_BLOCK_MS = 100

Replies = list  # XREADGROUP's parsed reply: [[stream (bytes), [(id, fields), ...]], ...]


@dataclass(frozen=True, slots=True)
class SlotRead:
    """The streams of one hash slot, each with the position to read it from."""

    slot: int
    positions: dict[bytes, str]


def slot_reads(positions: Mapping[str, str]) -> list[SlotRead]:
    """The streams grouped by hash slot, in the order the streams come."""
    by_slot: dict[int, dict[bytes, str]] = {}
    for stream, position in positions.items():
        by_slot.setdefault(slot_of(stream), {})[key_bytes(stream)] = position
    return [SlotRead(slot, streams) for slot, streams in by_slot.items()]


class ClusterReads:
    """XREADGROUP for one worker on a cluster (see the module's docstring)."""

    def __init__(self, client: redis.cluster.RedisCluster) -> None:
        self.client = client
        self._turn = 0  # which slot the next blocking wait is on: each in turn

    def read(
        self,
        group: str,
        consumer: str,
        positions: Mapping[str, str],
        *,
        count: int,
        block_ms: int | None,
        write_first: Callable[[redis.cluster.ClusterPipeline], None] | None = None,
    ) -> Replies:
        """What XREADGROUP returns for these streams, read slot by slot; BLOCK 0 waits for ever.

        `write_first` queues plain commands (a batch's acks) into the first round trip, ahead of
        its reads. The first error of that round trip is raised; entries a failed round trip
        delivered are in this consumer's pending list (the worker reads it again after a failure).
        """
        reads = slot_reads(positions)
        if len(reads) == 1 or block_ms is None:
            return self._read_at_once(group, consumer, reads, count=count, block_ms=block_ms, write_first=write_first)
        found = self._read_at_once(group, consumer, reads, count=count, block_ms=None, write_first=write_first)
        deadline = math.inf if block_ms == 0 else time.monotonic() + block_ms / 1000
        while not found:
            left_ms = math.inf if deadline == math.inf else int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return []
            waited_on = reads[self._turn % len(reads)]
            self._turn += 1
            found = self._read_at_once(group, consumer, [waited_on], count=count, block_ms=min(SLOT_BLOCK_MS, left_ms))
            if not found:
                others = [read for read in reads if read is not waited_on]
                found = self._read_at_once(group, consumer, others, count=count, block_ms=None)
        return found

    def _read_at_once(
        self,
        group: str,
        consumer: str,
        reads: Sequence[SlotRead],
        *,
        count: int,
        block_ms: int | float | None,
        write_first: Callable[[redis.cluster.ClusterPipeline], None] | None = None,
    ) -> Replies:
        """One round trip: what `write_first` queues, then one XREADGROUP per slot (a block on
        more than one slot would keep the others' replies waiting)."""
        pipe = self.client.pipeline(transaction=False)
        if write_first is not None:
            write_first(pipe)
        written = len(pipe)
        for read in reads:
            pipe.execute_command(
                *xreadgroup_command(group, consumer, read.positions, count=count, block_ms=block_ms),
                target_nodes=self.client.nodes_manager.get_node_from_slot(read.slot),
            )
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [row for reply in replies[written:] for row in reply or []]


def xreadgroup_command(
    group: str, consumer: str, positions: Mapping[bytes, str], *, count: int, block_ms: int | float | None
) -> list:
    """XREADGROUP's arguments, as redis-py's `xreadgroup` builds them (a block of `None`: no BLOCK)."""
    command: list = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count]
    if block_ms is not None:
        command += ["BLOCK", int(block_ms)]
    return [*command, "STREAMS", *positions.keys(), *positions.values()]
