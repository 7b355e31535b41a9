"""The Redis side of `manage.py migrate_keys`: finding the keys the previous key scheme wrote
(SCAN) and moving each one to its name in this scheme, every step atomic (one script), so a
run that is stopped half-way leaves nothing twice and the next run finishes the job.

Each script takes the old and the new name together, which are in different hash slots: it
runs on the one Redis the previous version used (that version never ran on a cluster), and
refuses a cluster rather than failing there with CROSSSLOT.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis

from streams_app.gateway.clients import app_client
from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes, key_from_bytes
from streams_app.gateway.types import text

STREAM_CHUNK = 500  # entries one step copies when the new dead-letter stream exists already

# The new key keeps the longer of the two expiries (no expiry is the longest).
_KEEP_LONGER_EXPIRY = """
local function keep_longer_expiry(from, to)
  local from_ttl, to_ttl = redis.call('PTTL', from), redis.call('PTTL', to)
  if from_ttl == -1 then
    redis.call('PERSIST', to)
  elseif to_ttl ~= -1 and from_ttl > to_ttl then
    redis.call('PEXPIRE', to, from_ttl)
  end
end
"""

# A stream: renamed when its new name is free (IDs, groups and expiry kept); otherwise its
# entries are appended to the new one a chunk at a time (new IDs, same fields), each chunk
# added and deleted in one step. Returns {entries moved, 1 when the old key is gone}.
_MOVE_STREAM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 1} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local length = redis.call('XLEN', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return {length, 1}
end
local rows = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[1])
for _, row in ipairs(rows) do
  redis.call('XADD', KEYS[2], '*', unpack(row[2]))
  redis.call('XDEL', KEYS[1], row[1])
end
if redis.call('XLEN', KEYS[1]) > 0 then return {#rows, 0} end
redis.call('DEL', KEYS[1])
return {#rows, 1}
"""

# A hash of handler errors: renamed, or merged with the new one's fields winning (they were
# written after the upgrade, so they are the later errors). Returns the fields moved.
_MOVE_HASH = (
    _KEEP_LONGER_EXPIRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local length = redis.call('HLEN', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return length
end
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do redis.call('HSETNX', KEYS[2], fields[i], fields[i + 1]) end
keep_longer_expiry(KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1])
return #fields / 2
"""
)

# One minute of statistics, into the new minute and its index, merged as the statistics merge
# (stats.py) merges a batch: counts and sums add up, minima and maxima compare. Its own script,
# because that one takes a batch's aggregate, and this one must read, merge and delete the old
# hash in one step (a second run must never count a minute twice). Every number is checked
# before anything is written: a script that fails half-way keeps what it wrote.
# KEYS: old minute, new minute, new index; ARGV: the minute. Returns the fields moved.
_MOVE_STATS_MINUTE = (
    _KEEP_LONGER_EXPIRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local fields = redis.call('HGETALL', KEYS[1])
local function kind_of(name)
  if name == 'count' then return 'count' end
  local suffix = string.sub(name, -4)
  if suffix == '_sum' or suffix == '_min' or suffix == '_max' then return suffix end
  return 'other'
end
local function valid(kind, value)
  if kind == 'count' then return string.match(value, '^%-?%d+$') ~= nil end
  return kind == 'other' or tonumber(value) ~= nil
end
for i = 1, #fields, 2 do
  local kind, current = kind_of(fields[i]), redis.call('HGET', KEYS[2], fields[i])
  if not valid(kind, fields[i + 1]) or (current and not valid(kind, current)) then
    return redis.error_reply('field ' .. fields[i] .. ' is not a number')
  end
end
local index_was_there = redis.call('EXISTS', KEYS[3]) == 1
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  for i = 1, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    local kind = kind_of(name)
    if kind == 'count' then
      redis.call('HINCRBY', KEYS[2], name, value)
    elseif kind == '_sum' then
      redis.call('HINCRBYFLOAT', KEYS[2], name, value)
    elseif kind == '_min' or kind == '_max' then
      local current = tonumber(redis.call('HGET', KEYS[2], name))
      local number = tonumber(value)
      if current == nil or (kind == '_min' and number < current) or (kind == '_max' and number > current) then
        redis.call('HSET', KEYS[2], name, value)
      end
    else
      redis.call('HSETNX', KEYS[2], name, value)
    end
  end
  keep_longer_expiry(KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[1])
end
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
if index_was_there then
  keep_longer_expiry(KEYS[2], KEYS[3])
elseif redis.call('PTTL', KEYS[2]) > 0 then
  redis.call('PEXPIRE', KEYS[3], redis.call('PTTL', KEYS[2]))
end
return #fields / 2
"""
)

# A sorted set (a statistics index: members are minutes, scored by themselves): renamed, or
# its members added to the new one. Returns the members moved.
_MOVE_SORTED_SET = (
    _KEEP_LONGER_EXPIRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local length = redis.call('ZCARD', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return length
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do redis.call('ZADD', KEYS[2], 'GT', members[i + 1], members[i]) end
keep_longer_expiry(KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1])
return #members / 2
"""
)


class KeyMigrationStore:
    """Finds keys by pattern and type, and moves them to new names (one Redis, not a cluster)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._move_stream = client.register_script(_MOVE_STREAM)
        self._move_hash = client.register_script(_MOVE_HASH)
        self._move_stats_minute = client.register_script(_MOVE_STATS_MINUTE)
        self._move_sorted_set = client.register_script(_MOVE_SORTED_SET)

    @redis_call
    def is_cluster(self) -> bool:
        """Whether this Redis runs in cluster mode (INFO cluster)."""
        return bool(int(self.client.info("cluster").get("cluster_enabled", 0)))

    @redis_call
    def scan(self, pattern: str, kind: str) -> list[str]:
        """Every key matching the glob `pattern` that holds a `kind` (stream, hash, zset), each once."""
        return list(dict.fromkeys(self._scan(pattern, kind)))

    def _scan(self, pattern: str, kind: str) -> Iterator[str]:
        for key in self.client.scan_iter(match=key_bytes(pattern), count=1000, _type=kind):
            yield key_from_bytes(key)

    @redis_call
    def key_type(self, name: str) -> str:
        return text(self.client.type(key_bytes(name)))

    @redis_call
    def group_names(self, stream: str) -> set[str]:
        """The consumer groups of `stream` (none when it is not a stream)."""
        try:
            found = self.client.xinfo_groups(key_bytes(stream))
        except redis.ResponseError:  # no such key, or not a stream
            return set()
        return {key_from_bytes(group["name"]) for group in found}

    @redis_call
    def move_stream(self, old: str, new: str) -> int:
        """Move a stream to `new` (renamed, or appended to an existing one); returns the entries moved."""
        moved, done = 0, 0
        while not done:
            count, done = self._move_stream(keys=[key_bytes(old), key_bytes(new)], args=[STREAM_CHUNK])
            moved += int(count)
        return moved

    @redis_call
    def move_hash(self, old: str, new: str) -> int:
        """Move a hash to `new` (renamed, or merged: fields already in `new` are kept); returns the fields moved."""
        return int(self._move_hash(keys=[key_bytes(old), key_bytes(new)]))

    @redis_call
    def move_stats_minute(self, old: str, new: str, new_index: str, minute: int) -> int:
        """Move a minute of statistics to `new` (renamed or merged) and list it in `new_index`."""
        return int(self._move_stats_minute(keys=[key_bytes(old), key_bytes(new), key_bytes(new_index)], args=[minute]))

    @redis_call
    def move_sorted_set(self, old: str, new: str) -> int:
        """Move a sorted set to `new` (renamed, or its members added); returns the members moved."""
        return int(self._move_sorted_set(keys=[key_bytes(old), key_bytes(new)]))


def key_migration_store() -> KeyMigrationStore:
    """The migration's store, on the app's Redis."""
    return KeyMigrationStore(app_client())
