"""What a group's samples say (domain/group_history.py) and how they are drawn
(domain/group_history_chart.py): rates between a worker's samples in a row, a restart read as a
counter reset, gaps where no worker recorded, lag None kept None, the group's figures from the
newest sample of an interval; and a picture that draws nothing across a gap."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from streams_app.domain.group_history import GAP_MS, HORIZON_MS, history_of
from streams_app.domain.group_history_chart import WORKER_LINES, group_history_chart
from streams_app.gateway.group_history import MAX_SAMPLES, HistoryRead, HistorySample

NOW = 1_760_000_000_000
START = NOW - HORIZON_MS
LIFE = 1_759_990_000_000


def sample(seconds_ago: float, worker: str = "alice", *, processed: int = 0, failed: int = 0, **kw) -> HistorySample:
    values = {"started_ms": LIFE, "pending": 0, "lag": 0, **kw}
    return HistorySample(ms=NOW - int(seconds_ago * 1000), worker=worker, processed=processed, failed=failed, **values)


def rates(history, worker: str = "alice") -> list[tuple[float, float, float]]:
    """(seconds ago at the start, at the end, processed per second) of each span of `worker`."""
    [found] = [w for w in history.workers if w.name == worker]
    return [((NOW - s.start_ms) / 1000, (NOW - s.end_ms) / 1000, s.processed_per_second) for s in found.spans]


def test_a_rate_is_the_counters_growth_over_the_time_between_two_samples():
    history = history_of(
        HistoryRead(
            NOW, [sample(30, processed=0), sample(20, processed=100, failed=5), sample(10, processed=300, failed=5)]
        )
    )
    assert rates(history) == [(30, 20, 10.0), (20, 10, 20.0)]
    [alice] = history.workers
    assert [s.failed_per_second for s in alice.spans] == [0.5, 0.0]
    assert (alice.processed, alice.failed) == (300, 5)
    assert (history.start_ms, history.end_ms) == (START, NOW)


def test_a_restarted_worker_counts_from_zero_again():
    """A counter that went back (or a new start time) is a new life: its count is what it did since."""
    history = history_of(
        HistoryRead(
            NOW,
            [
                sample(40, processed=1000),
                sample(30, processed=1500),
                sample(20, processed=30, started_ms=LIFE + 25_000),  # restarted: back to 30
                sample(10, processed=130, started_ms=LIFE + 25_000),
            ],
        )
    )
    assert rates(history) == [(40, 30, 50.0), (30, 20, 3.0), (20, 10, 10.0)]


def test_a_restart_seen_only_in_the_start_time_is_a_restart_too():
    history = history_of(HistoryRead(NOW, [sample(20, processed=10), sample(10, processed=50, started_ms=LIFE + 1)]))
    assert rates(history) == [(20, 10, 5.0)]  # 50 since the restart, not 40 more


def test_no_rate_spans_a_gap_and_the_groups_line_breaks_there():
    seconds = [300, 290, 280, 100, 90]  # nobody recorded from 280 s ago to 100 s ago
    history = history_of(HistoryRead(NOW, [sample(s, processed=(300 - s) * 2, pending=s) for s in seconds]))

    assert rates(history) == [(300, 290, 2.0), (290, 280, 2.0), (100, 90, 2.0)]
    chart = group_history_chart(history, tz=UTC)
    pending = next(panel for panel in chart.panels if panel.key == "pending")
    [line] = pending.lines
    assert line.path.count("M") == 2  # two runs, nothing drawn across the gap
    [rate_line] = next(panel for panel in chart.panels if panel.key == "rate").lines
    assert rate_line.path.count("M") == 2 and rate_line.name == "alice"


def test_samples_just_under_the_gap_apart_are_joined():
    history = history_of(HistoryRead(NOW, [sample(40, processed=0), sample(40 - GAP_MS / 1000, processed=50)]))
    assert len(rates(history)) == 1


def test_two_samples_within_a_second_make_no_rate():
    history = history_of(HistoryRead(NOW, [sample(20.0, processed=0), sample(19.5, processed=500)]))
    assert rates(history) == []


def test_the_groups_figures_of_an_interval_are_its_newest_samples():
    bucket = (NOW - 25_000) // 10_000 * 10_000  # an interval of 10 s well inside the hour
    early = HistorySample(bucket + 1_000, "alice", 0, 0, LIFE, pending=7, lag=70)
    late = HistorySample(bucket + 9_000, "bob", 0, 0, LIFE, pending=8, lag=80)
    history = history_of(HistoryRead(NOW, [late, early]))  # in any order
    assert [(p.ms, p.pending, p.lag) for p in history.points] == [(bucket + 9_000, 8, 80)]


def test_lag_none_stays_none_and_breaks_only_the_lag_line():
    samples = [sample(s, lag=None if s == 20 else 5, pending=3) for s in (40, 30, 20, 10, 0)]
    history = history_of(HistoryRead(NOW, samples))

    assert [p.lag for p in history.points] == [5, 5, None, 5, 5]
    assert history.lag_unknown == 1
    chart = group_history_chart(history, tz=UTC)
    lag, pending, _ = chart.panels
    assert lag.lines[0].path.count("M") == 2 and pending.lines[0].path.count("M") == 1


def test_a_lag_redis_never_told_says_so_in_its_plot():
    history = history_of(HistoryRead(NOW, [sample(20, lag=None), sample(10, lag=None)]))
    lag = group_history_chart(history, tz=UTC).panels[0]
    assert lag.lines == [] and "could not tell the lag" in lag.note


def test_a_lone_point_is_drawn_as_a_dot():
    history = history_of(HistoryRead(NOW, [sample(10, pending=4)]))
    pending = group_history_chart(history, tz=UTC).panels[1]
    [dots] = pending.lines
    assert dots.css_class == "pending dots" and dots.path.endswith("h0")


def test_no_samples_is_empty():
    history = history_of(HistoryRead(NOW, []))
    assert history.empty and history.workers == [] and not history.capped
    assert group_history_chart(history, tz=UTC).empty


def test_the_cap_reaching_back_less_than_the_hour_is_said():
    samples = [sample(1000 - n * 0.25, f"w{n % 40}") for n in range(MAX_SAMPLES)]
    history = history_of(HistoryRead(NOW, samples))
    assert history.capped and history.covered_from_ms == samples[0].ms


def test_each_worker_has_its_line_and_colour_and_only_the_busiest_are_drawn():
    names = [f"w{n:02d}" for n in range(WORKER_LINES + 2)]
    samples = [sample(s, name, processed=(60 - s) * (index + 1)) for s in (60, 50) for index, name in enumerate(names)]
    chart = group_history_chart(history_of(HistoryRead(NOW, samples)), tz=UTC)

    assert [entry.name for entry in chart.legend] == names[2:]  # the two slowest are left out
    assert [entry.css_class for entry in chart.legend] == [f"worker-{n}" for n in range(WORKER_LINES)]
    assert chart.workers_not_drawn == 2
    assert [line.name for line in chart.panels[2].lines] == names[2:]


def test_a_worker_with_one_sample_has_no_line_and_is_not_counted_as_left_out():
    samples = [sample(30, "alice"), sample(20, "alice", processed=10), sample(15, "bob")]
    chart = group_history_chart(history_of(HistoryRead(NOW, samples)), tz=UTC)
    assert [entry.name for entry in chart.legend] == ["alice"] and chart.workers_not_drawn == 0


@pytest.mark.parametrize("high", [0, 3, 7, 10, 99, 12_345])
def test_count_axes_have_whole_ticks_from_zero(high):
    history = history_of(HistoryRead(NOW, [sample(20, pending=high), sample(10, pending=high)]))
    pending = group_history_chart(history, tz=UTC).panels[1]
    labels = [line.label for line in pending.gridlines]
    assert labels[0] == "0" and all(re.fullmatch(r"\d+", label) for label in labels)
    assert int(labels[-1]) >= high


def test_time_ticks_cover_the_hour():
    chart = group_history_chart(history_of(HistoryRead(NOW, [sample(10)])), tz=UTC)
    assert 4 <= len(chart.ticks) <= 7
    assert all(0 <= float(tick.x.rstrip("%")) <= 100 for tick in chart.ticks)
