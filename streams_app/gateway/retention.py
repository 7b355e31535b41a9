"""Trimming streams (XTRIM MAXLEN / MINID) and what stands in its way: entries still pending."""

from __future__ import annotations

import redis

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes
from streams_app.gateway.types import GroupSummary, text


class RetentionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @redis_call
    def first_kept_by_maxlen(self, name: str, maxlen: int) -> str | None:
        """The oldest entry an exact MAXLEN trim keeps (None when the stream is empty or maxlen is 0)."""
        if maxlen <= 0:
            return None
        rows = self.client.xrevrange(key_bytes(name), count=maxlen)
        return text(rows[-1][0]) if rows else None

    @redis_call
    def oldest_pending(self, name: str) -> dict[str, str]:
        """Per group, the oldest entry still pending (groups with nothing pending are left out)."""
        groups = [GroupSummary.from_xinfo(row) for row in self.client.xinfo_groups(key_bytes(name))]
        names = [group.name for group in groups if group.pending]
        if not names:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for group in names:
            pipe.xpending(key_bytes(name), group)
        found = {}
        for group, summary in zip(names, pipe.execute(), strict=True):
            if int(summary["pending"]) and summary["min"]:
                found[group] = text(summary["min"])
        return found

    @redis_call
    def trim(self, name: str, *, maxlen: int | None = None, minid: str | None = None, approximate: bool = True) -> int:
        """XTRIM; returns how many entries went. Approximate trims whole nodes only: cheaper, may keep a few more."""
        return int(self.client.xtrim(key_bytes(name), maxlen=maxlen, minid=minid, approximate=approximate))
