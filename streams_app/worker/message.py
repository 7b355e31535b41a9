"""What a handler receives, and what a handler is."""

from __future__ import annotations

from collections.abc import Callable

from streams_app.gateway.worker_reads import Delivery

# What a handler receives: one entry, where it came from and how often it was delivered
# (stream, id, fields, group, consumer, deliveries). It is the gateway's Delivery itself, so the
# worker builds one object per entry it reads; a handler never gets one whose fields are None
# (an entry deleted while pending is acked and skipped).
Message = Delivery

# Raising means "not processed": the entry stays pending. It may also have `flush()`,
# called once per batch before the acks.
Handler = Callable[[Message], object]
