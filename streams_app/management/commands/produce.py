"""manage.py produce CITY: the tutorial's producer (86,400 readings), fast, or paced with --rate."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from streams_app.domain.ids import parse_datetime
from streams_app.domain.producer import produce_plan, produce_run
from streams_app.domain.readings import MEASUREMENTS, READING_FIELDS
from streams_app.errors import DomainError
from streams_app.gateway.stores import stream_store
from streams_app.team.audit import Actor, audit_record
from streams_app.team.roles import PRODUCE


class Command(BaseCommand):
    # No system checks: they load every URL and view, and this command needs neither (it starts faster).
    requires_system_checks = ()
    help = (
        "Append weather readings to CITY's stream: plausible values (a daily temperature curve plus "
        "noise) unless fixed values are given (--temperature, --humidity). Without --rate they are written as fast as "
        "pipelined batches allow; --rate 1 is the tutorial's one-reading-per-second feed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("city", help="the city, which is the stream's name")
        parser.add_argument(
            "--count", type=int, default=86_400, help="how many readings (default 86400: a day of seconds)"
        )
        parser.add_argument("--rate", type=float, help="readings per second, paced in real time, IDs chosen by Redis")
        parser.add_argument(
            "--start",
            help="back-fill: explicit IDs from this date-time on, one --interval apart (e.g. '2024-05-01 00:00')",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between back-filled readings (default 1)"
        )
        for measurement in MEASUREMENTS:
            unit = measurement.unit.replace("%", "%%")  # argparse formats help text with %
            parser.add_argument(
                f"--{measurement.name}", help=f"a fixed {measurement.label.lower()} ({unit}) instead of simulated ones"
            )
        parser.add_argument("--id", dest="entry_id", help="an explicit ID for a single reading (with --count 1)")
        parser.add_argument("--seed", type=int, help="random seed, for repeatable simulated weather")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def _record(self, asked: dict, *, succeeded: bool, outcome: str) -> None:
        """The audit trail's line for this run (as user "cli"); a database that cannot take it
        is said on stderr, not hidden: the readings are written either way."""
        try:
            audit_record(
                Actor(None, "command"),
                PRODUCE,
                succeeded=succeeded,
                outcome=outcome,
                stream=asked["city"],
                detail=asked,
            )
        except DatabaseError as error:
            self.stderr.write(f"Not recorded in the audit trail ({error}); run `python manage.py migrate`.")

    def handle(self, *args, **options) -> None:
        try:
            start = (
                parse_datetime(options["start"], timezone.get_current_timezone(), field="start")
                if options["start"]
                else None
            )
            plan = produce_plan(
                city=options["city"],
                count=options["count"],
                rate=options["rate"],
                start=start,
                interval_seconds=options["interval"],
                **{name: options[name] for name in READING_FIELDS},
                entry_id=options["entry_id"],
                seed=options["seed"],
            )
            bar = ProgressBar(plan.count) if sys.stderr.isatty() and not options["quiet"] else None
            result = produce_run(store=stream_store(), plan=plan, progress=bar.update if bar else None)
        except DomainError as error:
            self._record(plan_of(options), succeeded=False, outcome=f"failed: {error.message}")
            raise CommandError(error.message) from error
        self._record(plan_of(options), succeeded=True, outcome=f"{result.written} written, last ID {result.last_id}")
        if bar:
            bar.finish()
        if plan.count == 1:
            self.stdout.write(result.last_id or "")
            return
        self.stdout.write(
            f"Wrote {result.written:,} readings to {result.city} in {result.seconds:.3f} s "
            f"({result.rate:,.0f} readings/s); last ID {result.last_id}"
        )


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total, self.width = total, width
        self.started = time.perf_counter()
        self.drawn_at = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        filled = int(self.width * done / total)
        rate = done / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{total:,} {rate:,.0f}/s ")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def plan_of(options: dict) -> dict:
    """What the command was asked, for the audit trail."""
    asked = ("city", "count", "rate", "start", "interval", "entry_id", "seed", *READING_FIELDS)
    return {name: options[name] for name in asked if options.get(name) is not None}
