"""One entry read and written byte for byte.

`StreamStore` shows field names and values as text, with bytes that are not UTF-8 written out
as `\\xff` (backslashreplace): right for pages that only show them, but a value that really
holds the four characters `\\xff` reads the same, so nothing can be copied back from it. Here
names and values travel as keys do (see keys.py): bytes that are not UTF-8 are kept as surrogate
escapes, so an entry read here and written again (the entry page's "add again", its XADD
command, its hex view) has exactly the bytes it had.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from streams_app.gateway.clients import app_client
from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes, key_from_bytes
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import Entry, StreamId, text


class ExactEntryStore(StreamStore):
    """A stream store that also reads and writes single entries with their exact bytes."""

    @redis_call
    def exact_entry(self, name: str, entry_id: StreamId) -> Entry | None:
        """The entry with this ID, its names and values surrogate-escaped; NotFound without the
        stream, Conflict when the key is not a stream."""
        self.require_stream(name)
        rows = self.client.xrange(key_bytes(name), min=str(entry_id), max=str(entry_id), count=1)
        if not rows:
            return None
        raw_id, raw_fields = rows[0]
        return Entry(
            id=text(raw_id),
            fields={key_from_bytes(field): key_from_bytes(value) for field, value in raw_fields.items()},
        )

    @redis_call
    def add_exact_entry(self, name: str, fields: Mapping[str, str], entry_id: str = "*") -> str:
        """XADD one entry whose names and values may hold surrogate escapes (written as the bytes
        they stand for); returns its ID. Refusals as `add_entry` words them."""
        encoded = {key_bytes(field): key_bytes(value) for field, value in fields.items()}
        try:
            new_id = self.client.xadd(key_bytes(name), encoded, id=entry_id)
        except redis.ResponseError as error:
            raise self.refusal(name, error, entry_id) from error
        return text(new_id)


def exact_entry_store() -> ExactEntryStore:
    return ExactEntryStore(app_client())
