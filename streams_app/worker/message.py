"""What a handler receives, and what a handler is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Message:
    """What a handler receives: one entry, where it came from and how often it was delivered."""

    stream: str
    id: str
    fields: dict[str, str]
    group: str
    consumer: str
    deliveries: int


# Raising means "not processed": the entry stays pending. It may also have `flush()`,
# called once per batch before the acks.
Handler = Callable[[Message], object]
