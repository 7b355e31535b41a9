"""Per-city, per-minute reading statistics kept by the weather processor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis
import redis.cluster

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes, stats_index_key, stats_key
from streams_app.gateway.types import text

STATS_TTL_SECONDS = 7 * 24 * 3600

# Merge one aggregate into a minute's hash: counts and sums add up, minima and maxima compare.
# ARGV: count, ttl, minute, then (field name, sum, min, max) for each field.
_MERGE = """
local key = KEYS[1]
redis.call('HINCRBY', key, 'count', ARGV[1])
for base = 4, #ARGV, 4 do
  local name = ARGV[base]
  redis.call('HINCRBYFLOAT', key, name .. '_sum', ARGV[base + 1])
  local low = redis.call('HGET', key, name .. '_min')
  if (not low) or tonumber(ARGV[base + 2]) < tonumber(low) then
    redis.call('HSET', key, name .. '_min', ARGV[base + 2])
  end
  local high = redis.call('HGET', key, name .. '_max')
  if (not high) or tonumber(ARGV[base + 3]) > tonumber(high) then
    redis.call('HSET', key, name .. '_max', ARGV[base + 3])
  end
end
redis.call('EXPIRE', key, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


@dataclass(slots=True)
class FieldAggregate:
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, value: float) -> None:
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)


@dataclass(slots=True)
class MinuteAggregate:
    """What one batch saw of one city's minute: how many readings, and per field sum, min, max."""

    city: str
    minute: int  # minutes since the epoch
    count: int = 0
    fields: dict[str, FieldAggregate] = field(default_factory=dict)

    def add(self, values: Mapping[str, float]) -> None:
        self.count += 1
        for name, value in values.items():
            found = self.fields.get(name)
            if found is None:
                found = self.fields[name] = FieldAggregate()
            found.add(value)


@dataclass(frozen=True, slots=True)
class FieldStats:
    name: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MinuteStats:
    minute: int
    count: int
    fields: dict[str, FieldStats]


class StatsStore:
    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client
        self.on_cluster = isinstance(client, redis.cluster.RedisCluster)
        self._merge = client.register_script(_MERGE)

    @redis_call
    def merge(self, aggregates: list[MinuteAggregate]) -> None:
        """Add the aggregates to the stored minutes: in one round trip on one node; on a cluster
        one script call per aggregate (redis-py refuses scripts in a cluster pipeline; a minute
        and its index share their city's slot, so each call goes to one node)."""
        if not aggregates:
            return
        pipe = None if self.on_cluster else self.client.pipeline(transaction=False)
        for agg in aggregates:
            args: list[object] = [agg.count, STATS_TTL_SECONDS, agg.minute]
            for name, values in agg.fields.items():
                args += [name, repr(values.total), repr(values.low), repr(values.high)]
            self._merge(
                keys=[key_bytes(stats_key(agg.city, agg.minute)), key_bytes(stats_index_key(agg.city))],
                args=args,
                client=pipe,
            )
        if pipe is not None:
            pipe.execute()

    @redis_call
    def minutes(self, city: str, *, fields: Sequence[str], last: int = 60) -> list[MinuteStats]:
        """The most recent `last` minutes with readings, oldest first, with the statistics of `fields`."""
        minutes = [int(m) for m in self.client.zrevrange(key_bytes(stats_index_key(city)), 0, last - 1)]
        pipe = self.client.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(key_bytes(stats_key(city, minute)))
        found = []
        for minute, row in zip(minutes, pipe.execute(), strict=True):
            values = {text(k): float(v) for k, v in row.items()}
            count = int(values.get("count", 0))
            if not count:
                continue
            stats = {
                name: FieldStats(name, values[f"{name}_sum"] / count, values[f"{name}_min"], values[f"{name}_max"])
                for name in fields
                if f"{name}_sum" in values
            }
            found.append(MinuteStats(minute=minute, count=count, fields=stats))
        return sorted(found, key=lambda stats: stats.minute)
