"""Per-city, per-minute reading statistics kept by the weather processor."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from streams_app.domain.names import key_bytes
from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import stats_index_key, stats_key
from streams_app.gateway.types import text

STATS_TTL_SECONDS = 7 * 24 * 3600

# Merge one aggregate into a minute's hash: counts and sums add up, minima and maxima compare.
_MERGE = """
local key = KEYS[1]
redis.call('HINCRBY', key, 'count', ARGV[1])
for i = 0, 1 do
  local base = 2 + i * 4
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
redis.call('EXPIRE', key, ARGV[10])
redis.call('ZADD', KEYS[2], ARGV[11], ARGV[11])
return 1
"""


@dataclass(slots=True)
class MinuteAggregate:
    city: str
    minute: int  # minutes since the epoch
    count: int = 0
    temperature_sum: float = 0.0
    temperature_min: float = float("inf")
    temperature_max: float = float("-inf")
    humidity_sum: float = 0.0
    humidity_min: float = float("inf")
    humidity_max: float = float("-inf")

    def add(self, temperature: float, humidity: float) -> None:
        self.count += 1
        self.temperature_sum += temperature
        self.temperature_min = min(self.temperature_min, temperature)
        self.temperature_max = max(self.temperature_max, temperature)
        self.humidity_sum += humidity
        self.humidity_min = min(self.humidity_min, humidity)
        self.humidity_max = max(self.humidity_max, humidity)


@dataclass(frozen=True, slots=True)
class MinuteStats:
    minute: int
    count: int
    temperature_mean: float
    temperature_min: float
    temperature_max: float
    humidity_mean: float
    humidity_min: float
    humidity_max: float


class StatsStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._merge = client.register_script(_MERGE)

    @redis_call
    def merge(self, aggregates: list[MinuteAggregate]) -> None:
        """Add the aggregates to the stored minutes, in one round trip."""
        if not aggregates:
            return
        pipe = self.client.pipeline(transaction=False)
        for agg in aggregates:
            self._merge(
                keys=[key_bytes(stats_key(agg.city, agg.minute)), key_bytes(stats_index_key(agg.city))],
                args=[
                    agg.count,
                    "temperature",
                    repr(agg.temperature_sum),
                    repr(agg.temperature_min),
                    repr(agg.temperature_max),
                    "humidity",
                    repr(agg.humidity_sum),
                    repr(agg.humidity_min),
                    repr(agg.humidity_max),
                    STATS_TTL_SECONDS,
                    agg.minute,
                ],
                client=pipe,
            )
        pipe.execute()

    @redis_call
    def minutes(self, city: str, *, last: int = 60) -> list[MinuteStats]:
        """The most recent `last` minutes with readings, oldest first."""
        minutes = [int(m) for m in self.client.zrevrange(key_bytes(stats_index_key(city)), 0, last - 1)]
        pipe = self.client.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(key_bytes(stats_key(city, minute)))
        found = []
        for minute, row in zip(minutes, pipe.execute(), strict=True):
            if not row:
                continue
            values = {text(k): float(v) for k, v in row.items()}
            count = int(values["count"])
            found.append(
                MinuteStats(
                    minute=minute,
                    count=count,
                    temperature_mean=values["temperature_sum"] / count,
                    temperature_min=values["temperature_min"],
                    temperature_max=values["temperature_max"],
                    humidity_mean=values["humidity_sum"] / count,
                    humidity_min=values["humidity_min"],
                    humidity_max=values["humidity_max"],
                )
            )
        return sorted(found, key=lambda stats: stats.minute)
