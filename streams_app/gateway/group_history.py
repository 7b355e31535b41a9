"""The last hour of a consumer group on a stream, kept by its workers: the only code that reads
or writes it (`history_key`: `weatherstreams:{chennai}:history:<group>`).

Each worker's heartbeat adds, at most every SAMPLE_SECONDS, one sample per stream it reads:
the group's lag and pending as XINFO GROUPS says them then (lag None where Redis cannot tell),
and the worker's own cumulative processed and failed counts with its start time (a new start
time is a new life of that name: its counts began again).

Why a capped stream and not per-minute hashes with a TTL: a stream entry is a sample with its
time in its ID (the server's clock, never a worker's), appended in O(1); XADD ... MINID ~ drops
what is older than the hour whole nodes at a time, and an exact MAXLEN cap bounds the key
whatever the number of workers (at most MAX_SAMPLES entries: with more than
MAX_SAMPLES / 360 workers it covers less than an hour, which the page says). A sample takes
about 47 bytes (MEMORY USAGE on Redis 7.0, 1 to 40 workers), so a (stream, group) holds at most
~170 KB, ~17 KB per worker running a whole hour. The key expires an hour after its last sample, so the history of a
group nobody runs any more goes by itself; destroying the group deletes it at once
(GroupStore.destroy_group).

One call per stream, a Lua script on the stream's slot: it reads the group from XINFO GROUPS
and adds the sample in one step, so the figures and the sample's time come from the same node at
the same moment, and a group that is gone gets no sample (its history is not brought back). On
one node the calls of every stream go out in one pipeline (one round trip), as EVALSHA: a
registered script in a pipeline would first cost a SCRIPT EXISTS round trip each time. On a
cluster each runs on its own, since redis-py refuses scripts in a cluster pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.cluster
from redis.exceptions import NoScriptError

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import history_key, key_bytes, key_from_bytes

SAMPLE_SECONDS = 10
HORIZON_SECONDS = 3600
SAMPLES_PER_WORKER_HOUR = HORIZON_SECONDS // SAMPLE_SECONDS  # 360
MAX_SAMPLES = 10 * SAMPLES_PER_WORKER_HOUR  # 3,600: ten workers for a whole hour
_HORIZON_MS = HORIZON_SECONDS * 1000
# An hour after its last sample nothing in the key is shown any more: it may go.
_TTL_MS = _HORIZON_MS + SAMPLE_SECONDS * 1000

# KEYS: the stream, its history of the group (one slot). ARGV: the group, the worker, its processed
# and failed counts, its start (ms), the horizon (ms), the most samples kept, the key's TTL (ms).
# Returns the sample's ID, or false when the stream or the group is not there.
_RECORD = """
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(groups) ~= 'table' or groups.err then return false end
for _, row in ipairs(groups) do
  local group = {}
  for i = 1, #row, 2 do group[row[i]] = row[i + 1] end
  if group['name'] == ARGV[1] then
    local now = redis.call('TIME')
    local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[6])
    local lag = group['lag'] or ''
    local id = redis.call('XADD', KEYS[2], 'MINID', '~', string.format('%.0f', oldest), '*',
      'worker', ARGV[2], 'processed', ARGV[3], 'failed', ARGV[4], 'started', ARGV[5],
      'pending', group['pending'], 'lag', lag)
    redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[7])
    redis.call('PEXPIRE', KEYS[2], ARGV[8])
    return id
  end
end
return false
"""
# KEYS: a history. ARGV: the horizon (ms), the most samples. Returns the server's time (ms) and
# the samples of the horizon, oldest first (none when the key holds something else).
_READ = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local start = string.format('%.0f', now_ms - tonumber(ARGV[1]))
local samples = redis.pcall('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[2])
if samples.err then samples = {} end
return {string.format('%.0f', now_ms), samples}
"""


@dataclass(frozen=True, slots=True)
class HistorySample:
    """What one worker recorded at `ms` (the server's clock): the group's lag (None: Redis could
    not tell) and pending then, and its own counts since `started_ms` (its life)."""

    ms: int
    worker: str
    processed: int
    failed: int
    started_ms: int
    pending: int
    lag: int | None


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The samples of the last hour, oldest first, as of `now_ms` (the server's clock)."""

    now_ms: int
    samples: list[HistorySample]


class GroupHistoryStore:
    """Records and reads the last hour of a group, on one node or a cluster."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client
        self.on_cluster = isinstance(client, redis.cluster.RedisCluster)
        self._record = client.register_script(_RECORD)
        self._read = client.register_script(_READ)

    @redis_call
    def record(
        self, *, group: str, worker: str, streams: Sequence[str], processed: int, failed: int, started_ms: int
    ) -> int:
        """Add a sample of `group` on each of `streams` with this worker's counts; how many were
        added (a stream or group that is not there gets none). One round trip on one node."""
        bounds = [_HORIZON_MS, MAX_SAMPLES, _TTL_MS]
        calls = [
            (
                [key_bytes(stream), key_bytes(history_key(stream, group))],
                [key_bytes(group), key_bytes(worker), processed, failed, started_ms, *bounds],
            )
            for stream in streams
        ]
        if self.on_cluster:
            return sum(self._record(keys=keys, args=args) is not None for keys, args in calls)
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._record.sha, len(keys), *keys, *args)
        replies = pipe.execute(raise_on_error=False)
        added = 0
        for (keys, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):  # Redis restarted, or SCRIPT FLUSH: load it again
                reply = self._record(keys=keys, args=args)
            elif isinstance(reply, Exception):
                raise reply
            added += reply is not None
        return added

    @redis_call
    def read(self, stream: str, group: str) -> HistoryRead:
        """The samples of `group` on `stream` of the last hour, oldest first."""
        now, rows = self._read(keys=[key_bytes(history_key(stream, group))], args=[_HORIZON_MS, MAX_SAMPLES])
        return HistoryRead(now_ms=int(now), samples=[sample for row in rows if (sample := _sample(row)) is not None])

    @redis_call
    def forget(self, stream: str, group: str) -> None:
        """Delete the history of `group` on `stream`."""
        self.client.delete(key_bytes(history_key(stream, group)))


def _sample(row: list) -> HistorySample | None:
    """A sample from XRANGE's reply inside a script (an ID, then names and values in turn);
    None for an entry the app did not write."""
    raw_id, flat = row
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    try:
        lag = fields[b"lag"]
        return HistorySample(
            ms=int(raw_id.split(b"-")[0]),
            worker=key_from_bytes(fields[b"worker"]),
            processed=int(fields[b"processed"]),
            failed=int(fields[b"failed"]),
            started_ms=int(fields[b"started"]),
            pending=int(fields[b"pending"]),
            lag=int(lag) if lag else None,
        )
    except (KeyError, ValueError):
        return None
