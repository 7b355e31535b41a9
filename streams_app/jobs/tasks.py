"""django-rq jobs: thin doors onto the domain functions, reporting progress as they go.
A domain error fails the job with its message, which the job's page shows."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from streams_app.domain.exports import FORMATS, export_plan, export_write
from streams_app.domain.producer import produce_plan, produce_run
from streams_app.domain.retention import trim_apply, trim_plan
from streams_app.domain.weather import SECONDS_PER_DAY
from streams_app.errors import DomainError
from streams_app.gateway.job_queue import running_job
from streams_app.gateway.stores import retention_store, stream_store
from streams_app.jobs.progress import JobProgress, export_dir
from streams_app.team.audit import Actor, audit_record
from streams_app.team.roles import PRODUCE, START_JOB, TRIM, Action


def _run(progress: JobProgress, work, *, action: Action, stream: str):
    """Run the job's work; its outcome (or failure) goes into the audit trail as the job's
    owner, from the door "job" (its start was recorded by the door that started it)."""
    try:
        result, outcome = work()
    except DomainError as error:
        progress.fail(error.message)
        _record(progress, action, stream=stream, succeeded=False, outcome=f"failed: {error.message}")
        raise
    _record(progress, action, stream=stream, succeeded=True, outcome=outcome)
    return result


def _record(progress: JobProgress, action: Action, *, stream: str, succeeded: bool, outcome: str) -> None:
    if progress.job is None:
        return  # not run by RQ: nothing was started through the app
    meta = progress.job.record().meta
    owner = get_user_model().objects.filter(pk=meta.get("user_id")).first() if meta.get("user_id") else None
    detail = {"job": progress.job.id, "kind": meta.get("kind", "")}
    audit_record(Actor(owner, "job"), action, succeeded=succeeded, outcome=outcome, stream=stream, detail=detail)


def simulate_day(*, city: str, start: str) -> dict:
    """86,400 one-per-second readings from `start` (ISO date-time) with a plausible daily curve."""
    progress = JobProgress(running_job())

    def work() -> dict:
        plan = produce_plan(city=city, count=SECONDS_PER_DAY, start=datetime.fromisoformat(start))
        store = stream_store()
        result = produce_run(
            store=store,
            plan=plan,
            progress=lambda done, total: progress.update(
                done=done, total=total, fraction=done / total, message=f"{done:,} of {total:,} readings written"
            ),
        )
        message = f"Wrote {result.written:,} readings to {city} in {result.seconds:.2f} s; last ID {result.last_id}"
        progress.finish(message=message)
        return {"written": result.written, "last_id": result.last_id}, f"{result.written} written"

    return _run(progress, work, action=PRODUCE, stream=city)


def export_stream(*, stream: str, start: str, end: str, fmt: str, filter_text: str = "") -> dict:
    """Export the range (with `filter_text`, only the entries it matches)."""
    progress = JobProgress(running_job())

    def work() -> dict:
        tz = timezone.get_current_timezone()
        plan = export_plan(
            store=stream_store(), stream=stream, start=start, end=end, fmt=fmt, tz=tz, filter_text=filter_text
        )
        name = f"{progress.job.id if progress.job else 'export'}.{plan.fmt}"
        result = export_write(
            store=stream_store(),
            plan=plan,
            path=export_dir() / name,
            progress=lambda written, fraction: progress.update(
                done=written, total=None, fraction=fraction, message=f"{written:,} entries written"
            ),
        )
        message = f"Exported {result.entries:,} entries as {FORMATS[plan.fmt]}"
        if plan.filter_text:
            message += f": those of {result.scanned:,} that match {plan.filter_text.strip()}"
        progress.finish(message=message, download=name)
        return {"entries": result.entries, "scanned": result.scanned, "file": name}, f"{result.entries} exported"

    return _run(progress, work, action=START_JOB, stream=stream)


def trim(*, stream: str, strategy: str, threshold: str, approximate: bool, confirm_pending: bool) -> dict:
    progress = JobProgress(running_job())

    def work() -> dict:
        retention = retention_store()
        plan = trim_plan(
            store=stream_store(),
            retention=retention,
            stream=stream,
            strategy=strategy,
            threshold=threshold,
            approximate=approximate,
            tz=timezone.get_current_timezone(),
        )
        progress.update(done=0, total=None, fraction=0.1, message=f"running {plan.describe()}", force=True)
        removed = trim_apply(retention=retention, plan=plan, confirm_pending=confirm_pending)
        progress.finish(message=f"{plan.describe()} removed {removed:,} entries")
        return {"removed": removed}, f"{removed} removed"

    return _run(progress, work, action=TRIM, stream=stream)
