"""A group's last hour, from the samples its workers keep (gateway/group_history.py): its lag
and pending per sample interval, and each worker's processed and failed per second.

- The group's figures of an interval are those of its newest sample (every worker's sample
  carries them; which worker said them does not matter).
- A worker's rate over an interval is the growth of its counter between two of its samples in
  a row, divided by the time between them (the server's clock). A counter that went back, or a
  new start time, is a new life of that name (a restart): the new count is what it processed
  since, as Prometheus's `rate()` reads a counter reset.
- Samples more than GAP_MS apart are a gap (no worker was running, or it could not reach
  Redis): nothing is drawn across it, and no rate spans it.
- Lag None (Redis could not tell it then) stays None: a gap in the lag alone.

The picture of it is domain/group_history_chart.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams_app.gateway.group_history import (
    HORIZON_SECONDS,
    MAX_SAMPLES,
    SAMPLE_SECONDS,
    GroupHistoryStore,
    HistoryRead,
    HistorySample,
)

INTERVAL_MS = SAMPLE_SECONDS * 1000
HORIZON_MS = HORIZON_SECONDS * 1000
# A running worker samples every 10 s (9–11 s apart, as its heartbeat ticks): 2.5 intervals
# without one is a gap, not a late sample.
GAP_MS = INTERVAL_MS * 5 // 2
# Two samples closer than this (a restart right after a sample) say nothing about a rate.
MIN_RATE_SPAN_MS = 1000


@dataclass(frozen=True, slots=True)
class GroupPoint:
    """The group at `ms` (its newest sample of an interval): lag None where Redis could not tell."""

    ms: int
    lag: int | None
    pending: int


@dataclass(frozen=True, slots=True)
class RateSpan:
    """What one worker did from `start_ms` to `end_ms`, per second."""

    start_ms: int
    end_ms: int
    processed_per_second: float
    failed_per_second: float


@dataclass(frozen=True, slots=True)
class WorkerRates:
    """One worker's rates over the hour, oldest first; `processed` is their sum (entries)."""

    name: str
    spans: list[RateSpan]
    processed: int
    failed: int


@dataclass(frozen=True, slots=True)
class GroupHistory:
    """The hour from `start_ms` to `end_ms` (the server's clock, now); `capped` when the samples
    kept (MAX_SAMPLES) reach back less than the hour: then `covered_from_ms` is the oldest."""

    start_ms: int
    end_ms: int
    interval_ms: int
    gap_ms: int
    points: list[GroupPoint]
    workers: list[WorkerRates]
    samples: int
    capped: bool
    covered_from_ms: int | None

    @property
    def empty(self) -> bool:
        return not self.points

    @property
    def lag_unknown(self) -> int:
        """How many intervals have no lag because Redis could not tell it."""
        return sum(point.lag is None for point in self.points)


def group_history(*, store: GroupHistoryStore, stream: str, group: str) -> GroupHistory:
    """The last hour of `group` on `stream` (empty when no worker has recorded any)."""
    return history_of(store.read(stream, group))


def history_of(read: HistoryRead) -> GroupHistory:
    """What the samples of `read` say: the group per interval, each worker's rates."""
    samples = sorted(read.samples, key=lambda sample: sample.ms)
    start = read.now_ms - HORIZON_MS
    capped = len(samples) >= MAX_SAMPLES and samples[0].ms > start + GAP_MS
    return GroupHistory(
        start_ms=start,
        end_ms=read.now_ms,
        interval_ms=INTERVAL_MS,
        gap_ms=GAP_MS,
        points=group_points(samples),
        workers=worker_rates(samples),
        samples=len(samples),
        capped=capped,
        covered_from_ms=samples[0].ms if capped else None,
    )


def group_points(samples: Sequence[HistorySample]) -> list[GroupPoint]:
    """One point per interval that has a sample: the newest of them (samples oldest first)."""
    newest: dict[int, HistorySample] = {}
    for sample in samples:
        newest[sample.ms // INTERVAL_MS] = sample
    return [GroupPoint(sample.ms, sample.lag, sample.pending) for _, sample in sorted(newest.items())]


def worker_rates(samples: Sequence[HistorySample]) -> list[WorkerRates]:
    """Each worker's rates between its samples in a row (samples oldest first), by name."""
    by_worker: dict[str, list[HistorySample]] = {}
    for sample in samples:
        by_worker.setdefault(sample.worker, []).append(sample)
    return [_rates_of(name, own) for name, own in sorted(by_worker.items())]


def _rates_of(name: str, samples: list[HistorySample]) -> WorkerRates:
    spans: list[RateSpan] = []
    processed = failed = 0
    before = samples[0]
    for sample in samples[1:]:
        elapsed = sample.ms - before.ms
        restarted = (
            sample.started_ms != before.started_ms
            or sample.processed < before.processed
            or sample.failed < before.failed
        )
        if elapsed < MIN_RATE_SPAN_MS:
            if restarted:
                before = sample  # the new life's counts start here
            continue
        if elapsed <= GAP_MS:
            done = sample.processed if restarted else sample.processed - before.processed
            refused = sample.failed if restarted else sample.failed - before.failed
            spans.append(RateSpan(before.ms, sample.ms, done * 1000 / elapsed, refused * 1000 / elapsed))
            processed += done
            failed += refused
        before = sample
    return WorkerRates(name=name, spans=spans, processed=processed, failed=failed)


def segments(times: Sequence[int], *, gap_ms: int = GAP_MS) -> list[tuple[int, int]]:
    """Runs of moments (ascending) no more than `gap_ms` apart, as (first index, last index + 1)."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(times) + 1):
        if index == len(times) or times[index] - times[index - 1] > gap_ms:
            runs.append((start, index))
            start = index
    return runs if times else []
