"""How one worker runs. The app's defaults are filled in by `streams_app.worker.build.worker_config`,
which reads them from `streams_app.conf`; nothing here repeats them."""

from __future__ import annotations

from dataclasses import dataclass

from streams_app.gateway.keys import dead_letter_key


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """A worker's name, streams, group and the knobs of its loop (see `run_consumer --help`)."""

    name: str
    streams: tuple[str, ...]
    group: str
    count: int
    block_ms: int
    claim_idle_ms: int
    max_deliveries: int
    start_id: str
    dead_letter_template: str
    work_seconds: float = 0.0
    heartbeat_seconds: float = 1.0
    quiet_above_per_second: int = 20

    def dead_letter_stream(self, stream: str) -> str:
        """The dead-letter stream of `stream`."""
        return dead_letter_key(stream, self.dead_letter_template)

    @property
    def claim_every_seconds(self) -> float:
        """How often to look for entries idle longer than `claim_idle_ms`."""
        return min(max(self.claim_idle_ms / 4000, 0.2), 10.0)

    @property
    def lock_ttl_ms(self) -> int:
        """How long the name lock outlives the last heartbeat that renewed it."""
        return int(self.heartbeat_seconds * 5000)
