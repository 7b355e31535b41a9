"""Whole-range chart benchmark: the stream page's chart of a day (or a month), against a plain XRANGE of the same range.

    .venv/bin/python bench/chart.py [--runs N] [--count N] [--interval SECONDS]

Starts its own redis-server (free port, temporary directory, persistence off) and stops it at
the end; it never touches a Redis that was already running. It writes a simulated day of
readings (86,400 entries one second apart, as `produce` writes them; `--interval 30` spreads
the same count over a month) and then, in interleaved rounds (order rotated each round, median
of --runs reported), times:

  (x) plain XRANGE: redis-py, the whole range in reads of COUNT READ_CHUNK (the chart's own
      chunk), replies parsed by redis-py (hiredis) and nothing else done with them;
  (a) the aggregation alone: range_aggregate over the whole range (the range's ends, then every
      entry read once, min/mean/max per bucket of each measurement);
  (c) the chart as the stream page builds it: range_chart (aggregation and picture);
  (r) (c) and the template that draws it (templates/streams_app/_range_chart.html);
  (f) range_chart with a filter that keeps about a quarter of the day.

The ratio is a line's time over (x)'s time for the same entries (1.0 would be "as fast as just
reading the range"). Goal (issue 10): a day in well under a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    PrivateRedis,
    Processes,
    django_on,
    load_note,
    machine,
    median,
    produce_readings,
    shown_command,
    xrange_all,
)

COUNT = 86_400
KEY = "chennai"
FILTER = "temperature > 31 and humidity < 62"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=COUNT, help="entries in the stream (default a day: 86,400)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings (30: a month)")
    args = parser.parse_args()

    processes = Processes()
    server = PrivateRedis(processes).start()
    try:
        django_on(server.url)
        from django.template.loader import render_to_string

        from streams_app.domain.browsing import RangeRequest
        from streams_app.domain.filters import parse_filter
        from streams_app.domain.ids import FIRST_ID, LAST_ID
        from streams_app.domain.range_chart import READ_CHUNK, range_aggregate, range_chart
        from streams_app.gateway import RangeQuery
        from streams_app.gateway.stores import stream_store

        client = server.client()
        store = stream_store()
        produce_readings(store, KEY, args.count, interval_seconds=args.interval)
        assert client.xlen(KEY) == args.count
        limit = max(args.count, 1)
        [shown] = store.ranges(KEY, [RangeQuery(FIRST_ID, LAST_ID, 50)])  # the page's first 50 rows
        charts: dict[str, object] = {}

        def aggregate() -> int:
            found = range_aggregate(store=store, name=KEY, low=FIRST_ID, high=LAST_ID, tz=UTC, scan_limit=limit)
            return found.read

        def chart(text: str = "", *, render: bool = False) -> Callable[[], int]:
            def run() -> int:
                picture = range_chart(
                    store=store, name=KEY, request=RangeRequest(filter=text), shown=shown, tz=UTC, scan_limit=limit
                )
                if render:
                    charts["html"] = render_to_string("streams_app/_range_chart.html", {"range_chart": picture})
                charts[text] = picture
                return picture.read

            return run

        measurements: dict[str, Callable[[], int]] = {
            f"(x) XRANGE, redis-py, COUNT {READ_CHUNK}": lambda: xrange_all(client, KEY, READ_CHUNK),
            "(a) range_aggregate": aggregate,
            "(c) range_chart": chart(),
            "(r) range_chart + template": chart(render=True),
            f"(f) range_chart, filter `{FILTER}`": chart(FILTER),
        }

        print(shown_command())
        print(machine())
        print(load_note())
        print(f"{args.count:,} entries, {args.interval:g} s apart; runs {args.runs}")
        seconds: dict[str, list[float]] = {name: [] for name in measurements}
        names = list(measurements)
        for round_number in range(args.runs):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                started = time.perf_counter()
                read = measurements[name]()
                elapsed = time.perf_counter() - started
                assert read == args.count, (name, read)
                seconds[name].append(elapsed)

        baseline = median(seconds[names[0]])
        print()
        print("| measurement (median) | ms | entries/s | time / XRANGE's | runs (ms) |")
        print("|---|---:|---:|---:|---|")
        for name in names:
            taken = median(seconds[name])
            runs = ", ".join(f"{value * 1000:.0f}" for value in seconds[name])
            print(f"| {name} | {taken * 1000:,.0f} | {args.count / taken:,.0f} | {taken / baseline:.2f}× | {runs} |")
        print()
        whole = charts[""]
        matched = charts[FILTER].matched
        share = matched / args.count
        print(f"chart: {whole.buckets:,} buckets of {whole.bucket_size}; the filter keeps {matched:,} ({share:.0%})")
        print(f"the chart's HTML: {len(charts['html']):,} characters")
        print(f"filter: {parse_filter(FILTER).text}")
        print(load_note().replace("before the run", "after the run"))
    finally:
        processes.stop_all()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
