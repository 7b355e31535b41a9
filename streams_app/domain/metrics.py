"""The app's metrics in the Prometheus text format (what GET /metrics answers), written with
prometheus_client: streams, groups, consumers, dead letters and workers, as Redis holds them.

Names are shown as everywhere in the app (`display_name`: bytes that are not UTF-8 and control
characters as visible escapes); prometheus_client escapes quotes, backslashes and newlines.

At most `WEATHERSTREAMS_METRICS_MAX_SERIES` samples, filled in order of importance, one thing at
a time (all samples of a stream, of a group, of a worker, or none): streams, then groups, then
workers, then consumers. What the cap (or the gateway's bounds) leave out is said by
`weatherstreams_metrics_truncated` (1) and `weatherstreams_metrics_series_dropped` (the samples
left out that the scrape knew of), which the cap never drops. Two things whose shown names are
the same (a name with a byte that is not UTF-8 and one spelling that byte out) would be one
series twice: the second is dropped and counted.

A group's lag has no sample where Redis cannot tell it without a count (see gateway/metrics_io.py):
an absent sample, not a NaN, so sums and alerts over the lag stay numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from streams_app.conf import app_settings
from streams_app.gateway.heartbeats import GONE, WorkerHeartbeat
from streams_app.gateway.keys import display_name
from streams_app.gateway.metrics_io import GroupState, MetricsReading, MetricsStore, StreamState
from streams_app.gateway.types import StreamId

STREAM, GROUP, CONSUMER, WORKER = "stream", "group", "consumer", "worker"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # a counter's name ends in _total, as its samples are named
    kind: str  # "gauge" or "counter"
    help: str
    labels: tuple[str, ...]


SPECS = (
    MetricSpec("weatherstreams_stream_length", "gauge", "Entries in the stream (XLEN).", (STREAM,)),
    MetricSpec(
        "weatherstreams_stream_last_entry_timestamp_seconds",
        "gauge",
        "When the stream's newest entry was added, from its ID (no sample for an empty stream).",
        (STREAM,),
    ),
    MetricSpec("weatherstreams_dead_letters", "gauge", "Entries in the stream's dead-letter stream.", (STREAM,)),
    MetricSpec(
        "weatherstreams_group_pending",
        "gauge",
        "Entries delivered to the group's consumers and not yet acknowledged.",
        (STREAM, GROUP),
    ),
    MetricSpec(
        "weatherstreams_group_lag",
        "gauge",
        "Entries of the stream not yet delivered to the group (no sample where Redis cannot tell without "
        "counting; the group page counts it).",
        (STREAM, GROUP),
    ),
    MetricSpec(
        "weatherstreams_worker_up",
        "gauge",
        "1 while the worker's heartbeat lives and does not say it stopped, else 0 (workers seen in the last day).",
        (WORKER, GROUP),
    ),
    MetricSpec(
        "weatherstreams_worker_last_seen_timestamp_seconds", "gauge", "The worker's last heartbeat.", (WORKER, GROUP)
    ),
    MetricSpec(
        "weatherstreams_worker_processed_total",
        "counter",
        "Entries the worker process handled and acknowledged since it started (while its heartbeat lives).",
        (WORKER, GROUP),
    ),
    MetricSpec(
        "weatherstreams_worker_failed_total",
        "counter",
        "Entries whose handler failed in the worker process since it started (while its heartbeat lives).",
        (WORKER, GROUP),
    ),
    MetricSpec(
        "weatherstreams_worker_dead_lettered_total",
        "counter",
        "Entries the worker process moved to a dead-letter stream since it started (while its heartbeat lives).",
        (WORKER, GROUP),
    ),
    MetricSpec(
        "weatherstreams_consumer_pending",
        "gauge",
        "Entries delivered to the consumer and not yet acknowledged.",
        (STREAM, GROUP, CONSUMER),
    ),
)
SERIES_DROPPED = "weatherstreams_metrics_series_dropped"
TRUNCATED = "weatherstreams_metrics_truncated"

Sample = tuple[str, tuple[str, ...], float]  # metric name, label values, value


class _Series:
    """The samples of one scrape, under the cap on series."""

    def __init__(self, max_series: int) -> None:
        self.remaining = max_series
        self.dropped = 0
        self.families: dict[str, Metric] = {spec.name: _family(spec) for spec in SPECS}
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, samples: Sequence[Sample]) -> None:
        """All of `samples` (one thing's), or none when the cap or a same-named thing is in the way."""
        keys = [(name, labels) for name, labels, _ in samples]
        if len(samples) > self.remaining or any(key in self._seen for key in keys):
            self.dropped += len(samples)
            return
        self.remaining -= len(samples)
        self._seen.update(keys)
        for name, labels, value in samples:
            self.families[name].add_metric(list(labels), value)


def _family(spec: MetricSpec) -> Metric:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def _stream_samples(state: StreamState) -> list[Sample]:
    summary = state.summary
    labels = (display_name(summary.name),)
    samples: list[Sample] = [("weatherstreams_stream_length", labels, summary.length)]
    if summary.last_id:
        samples.append(("weatherstreams_stream_last_entry_timestamp_seconds", labels, _seconds(summary.last_id)))
    if summary.dead_letters is not None:
        samples.append(("weatherstreams_dead_letters", labels, summary.dead_letters))
    return samples


def _group_samples(stream: str, state: GroupState) -> list[Sample]:
    labels = (display_name(stream), display_name(state.summary.name))
    samples: list[Sample] = [("weatherstreams_group_pending", labels, state.summary.pending)]
    if state.summary.lag is not None:
        samples.append(("weatherstreams_group_lag", labels, state.summary.lag))
    return samples


def _worker_samples(worker: WorkerHeartbeat) -> list[Sample]:
    labels = (display_name(worker.name), display_name(worker.group))
    samples: list[Sample] = [
        ("weatherstreams_worker_up", labels, 1 if worker.alive else 0),
        ("weatherstreams_worker_last_seen_timestamp_seconds", labels, worker.last_seen),
    ]
    if worker.state != GONE:  # the counters live in the heartbeat hash, which is gone
        samples += [
            ("weatherstreams_worker_processed_total", labels, worker.processed),
            ("weatherstreams_worker_failed_total", labels, worker.failed),
            ("weatherstreams_worker_dead_lettered_total", labels, worker.dead_lettered),
        ]
    return samples


def _seconds(entry_id: str) -> float:
    return StreamId.parse(entry_id).ms / 1000


def metrics_families(reading: MetricsReading, *, max_series: int) -> list[Metric]:
    """The metric families of `reading`, at most `max_series` samples (and the two that say what was cut)."""
    series = _Series(max_series)
    for stream in reading.streams:
        series.add(_stream_samples(stream))
    for stream in reading.streams:
        for group in stream.groups:
            series.add(_group_samples(stream.summary.name, group))
    for worker in reading.workers:
        series.add(_worker_samples(worker))
    for stream in reading.streams:
        for group in stream.groups:
            for consumer in group.consumers or ():
                names = (stream.summary.name, group.summary.name, consumer.name)
                series.add([("weatherstreams_consumer_pending", tuple(map(display_name, names)), consumer.pending)])
    truncated = (
        series.dropped > 0
        or not reading.streams_complete
        or reading.workers_left_out > 0
        or reading.consumer_reads_left_out > 0
    )
    dropped = GaugeMetricFamily(
        SERIES_DROPPED,
        "Samples this scrape left out, as far as it knew of them: raise WEATHERSTREAMS_METRICS_MAX_SERIES "
        "(see also weatherstreams_metrics_truncated).",
        value=series.dropped,
    )
    cut = GaugeMetricFamily(
        TRUNCATED,
        "1 when this scrape shows less than Redis holds (the cap on series, or the bounds of the keyspace "
        "walk, the workers or the consumer reads), else 0.",
        value=1 if truncated else 0,
    )
    return [*series.families.values(), dropped, cut]


class ReadingCollector:
    """A prometheus_client collector of one reading's families (registered in a registry of its own)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def metrics_text(reading: MetricsReading, *, max_series: int) -> bytes:
    """`reading` in the Prometheus text format (0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReadingCollector(metrics_families(reading, max_series=max_series)))
    return generate_latest(registry)


def metrics_scrape(*, store: MetricsStore) -> bytes:
    """What Redis holds now, in the Prometheus text format, under the app's cap on series."""
    conf = app_settings()
    limit = conf.metrics_max_series  # no more of each than could be shown
    reading = store.read(
        max_streams=limit, max_workers=limit, max_consumer_reads=limit, dead_letter_template=conf.dead_letter_stream
    )
    return metrics_text(reading, max_series=limit)
