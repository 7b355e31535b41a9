"""What a worker has done so far, as its heartbeat reports it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class WorkerCounters:
    """Counts since the worker started; the loop and the batch processor add, the heartbeat reads."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped_deleted: int = 0  # entries deleted or trimmed while pending
    started: float = field(default_factory=time.time)
