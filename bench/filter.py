"""Filter benchmark: entries scanned per second by a filtered page, against a plain XRANGE of the same range.

    .venv/bin/python bench/filter.py [--runs N] [--count N]

Starts its own redis-server (free port, temporary directory, persistence off) and stops it at
the end; it never touches a Redis that was already running. It writes a simulated day of
readings (86,400 entries, `temperature` and `humidity`, as `produce` writes them) and then, in
interleaved rounds (order rotated each round, median of --runs reported):

  (x) plain XRANGE: redis-py, the whole range in reads of COUNT 1000, replies parsed by redis-py
      (hiredis) and nothing else done with them;
  (g) the gateway's unfiltered read: StreamStore.ranges, the same reads, entries decoded to text;
  (f) filtered pages through the domain function, for each filter below: entries_page with
      count 1000 and a scan budget of the whole day, `next` followed until it is None (for the
      filter that matches nothing that is one page that reads every entry);
  (p) the pages a user follows: count 50 and the default budget (WEATHERSTREAMS_FILTER_SCAN_BUDGET).

Rates are the entries of the range over the time taken to go through it (an entry a page reads
again after its look-ahead counts once). The ratio is (f) or (p) over (x); goal (issue 10): at
least 0.5.
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
CHUNK = 1000
GOAL = 0.5
# The search (a simulated Chennai day never passes 40 °C), one that matches about a
# quarter of the day, and one that matches every entry (so every entry is also decoded whole).
FILTERS = {
    "above 40 °C (no match)": "temperature > 40",
    "hot and dry (a quarter)": "temperature > 31 and humidity < 62",
    "every entry": 'not (note ~ "storm") and humidity >= 0',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=COUNT, help="entries in the stream (default a day: 86,400)")
    args = parser.parse_args()

    processes = Processes()
    server = PrivateRedis(processes).start()
    try:
        django_on(server.url)
        from streams_app.conf import app_settings
        from streams_app.domain.browsing import RangeRequest, entries_page
        from streams_app.domain.ids import FIRST_ID, LAST_ID
        from streams_app.gateway import RangeQuery
        from streams_app.gateway.stores import stream_store

        client = server.client()
        store = stream_store()
        produce_readings(store, KEY, args.count)
        assert client.xlen(KEY) == args.count

        def gateway_all() -> int:
            low, read = FIRST_ID, 0
            while True:
                [rows] = store.ranges(KEY, [RangeQuery(low, LAST_ID, CHUNK)])
                read += len(rows)
                if len(rows) < CHUNK:
                    return read
                low = rows[-1].stream_id.successor()

        matches: dict[str, int] = {}

        def followed_pages(text: str, *, count: int, budget: int | None) -> Callable[[], int]:
            """Follow `next` through the whole range; returns the entries of the range read."""

            def run() -> int:
                request, found, pages, last_seen = RangeRequest(filter=text, count=count), 0, 0, None
                while request is not None:
                    page = entries_page(store=store, name=KEY, request=request, tz=UTC, scan_budget=budget)
                    found += len(page.entries)
                    pages += 1
                    last_seen = page.scanned_to or last_seen
                    request = page.next_request
                matches[text] = found
                return args.count  # the whole range was gone through (the last page reached its end)

            return run

        measurements: dict[str, Callable[[], int]] = {
            "(x) XRANGE, redis-py": lambda: xrange_all(client, KEY, CHUNK),
            "(g) StreamStore.ranges, unfiltered": gateway_all,
        }
        for label, text in FILTERS.items():
            measurements[f"(f) filtered, count 1000, no budget: {label}"] = followed_pages(
                text, count=1000, budget=args.count
            )
        for label, text in list(FILTERS.items())[:2]:
            measurements[f"(p) filtered, count 50, default budget: {label}"] = followed_pages(
                text, count=50, budget=None
            )

        print(shown_command())
        print(machine())
        print(load_note())
        print(f"{args.count:,} entries; filter scan budget {app_settings().filter_scan_budget:,}; runs {args.runs}")
        rates: dict[str, list[float]] = {name: [] for name in measurements}
        names = list(measurements)
        for round_number in range(args.runs):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                started = time.perf_counter()
                scanned = measurements[name]()
                elapsed = time.perf_counter() - started
                assert scanned == args.count, (name, scanned)
                rates[name].append(scanned / elapsed)

        baseline = median(rates["(x) XRANGE, redis-py"])
        print()
        print("| measurement (median) | entries/s | / XRANGE | runs (entries/s) |")
        print("|---|---:|---:|---|")
        for name in names:
            rate = median(rates[name])
            runs = ", ".join(f"{value:,.0f}" for value in rates[name])
            print(f"| {name} | {rate:,.0f} | {rate / baseline:.2f}× | {runs} |")
        print()
        for label, text in FILTERS.items():
            share = matches[text] / args.count
            print(f"filter {label!r}: `{text}`, {matches[text]:,} matches ({share:.1%})")
        print()
        for name in names:
            if name.startswith(("(f)", "(p)")):
                ratio = median(rates[name]) / baseline
                print(f"{name}: {ratio:.2f}× XRANGE (goal ≥ {GOAL}×: {'met' if ratio >= GOAL else 'MISSED'})")
        print(load_note().replace("before the run", "after the run"))
    finally:
        processes.stop_all()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
