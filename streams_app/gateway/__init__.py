"""The gateway: the only package that talks to Redis (clients, keys, error translation and one
store per concern). Everything else speaks in domain terms."""

from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import Entry, EntryBatch, RangeQuery, ServerMemory, StreamKeysPage, StreamSummary

__all__ = [
    "Entry",
    "EntryBatch",
    "RangeQuery",
    "ServerMemory",
    "StreamKeysPage",
    "StreamStore",
    "StreamSummary",
]
