"""Starting background jobs: validate now (so a bad request is refused at once, with a
message), then enqueue. Pages, the API and admin all start jobs through these."""

from __future__ import annotations

from datetime import date, tzinfo
from typing import Any

from streams_app.domain.exports import FORMATS, export_plan
from streams_app.domain.names import display_name
from streams_app.domain.producer import simulated_day_start
from streams_app.domain.retention import trim_confirmation_check, trim_plan
from streams_app.gateway import StreamStore
from streams_app.gateway.retention import RetentionStore
from streams_app.gateway.stores import retention_store, stream_store
from streams_app.jobs import tasks
from streams_app.jobs.progress import job_start


def simulate_day_job_start(*, store: StreamStore, city: str, day: date, tz: tzinfo, user_id: int | None) -> str:
    start = simulated_day_start(store=store, city=city, day=day, tz=tz)
    return job_start(
        kind="simulate",
        func=tasks.simulate_day,
        kwargs={"city": city, "start": start.isoformat()},
        title=f"Simulate {day.isoformat()} for {city}",
        user_id=user_id,
    )


def export_job_start(
    *,
    store: StreamStore,
    stream: str,
    start: str,
    end: str,
    fmt: str,
    tz: tzinfo,
    user_id: int | None,
    filter_text: str = "",
) -> str:
    plan = export_plan(store=store, stream=stream, start=start, end=end, fmt=fmt, tz=tz, filter_text=filter_text)
    kwargs = {"stream": plan.stream, "start": plan.start, "end": plan.end, "fmt": plan.fmt}
    title = f"Export {display_name(plan.stream)} {plan.start} … {plan.end} as {FORMATS[plan.fmt]}"
    if plan.filter_text:
        kwargs["filter_text"] = plan.filter_text
        title += f" where {plan.filter_text.strip()}"
    return job_start(kind="export", func=tasks.export_stream, kwargs=kwargs, title=title, user_id=user_id)


def trim_job_start(
    *,
    store: StreamStore,
    retention: RetentionStore,
    stream: str,
    strategy: str,
    threshold: str,
    approximate: bool,
    confirm_pending: bool,
    tz: tzinfo,
    user_id: int | None,
) -> str:
    """Conflict (field `confirm`) when the trim would remove pending entries and that was not confirmed."""
    plan = trim_plan(
        store=store,
        retention=retention,
        stream=stream,
        strategy=strategy,
        threshold=threshold,
        approximate=approximate,
        tz=tz,
    )
    trim_confirmation_check(plan, confirm_pending=confirm_pending)
    return job_start(
        kind="trim",
        func=tasks.trim,
        kwargs={
            "stream": plan.stream,
            "strategy": plan.strategy,
            "threshold": threshold,
            "approximate": plan.approximate,
            "confirm_pending": confirm_pending,
        },
        title=plan.describe(),
        user_id=user_id,
    )


def job_start_from_values(kind: str, values: dict[str, Any], *, tz: tzinfo, user_id: int | None) -> str:
    """Start the job of `kind` (simulate, export, trim) from what a form collected."""
    if kind == "simulate":
        return simulate_day_job_start(
            store=stream_store(), city=values["city"], day=values["day"], tz=tz, user_id=user_id
        )
    if kind == "export":
        return export_job_start(
            store=stream_store(),
            stream=values["stream"],
            start=values["start"],
            end=values["end"],
            fmt=values["format"] or "csv",
            tz=tz,
            user_id=user_id,
            filter_text=values.get("filter") or "",
        )
    if kind == "trim":
        return trim_job_start(
            store=stream_store(),
            retention=retention_store(),
            stream=values["stream"],
            strategy=values["strategy"] or "",
            threshold=values["threshold"],
            approximate=bool(values["approximate"]),
            confirm_pending=bool(values["confirm"]),
            tz=tz,
            user_id=user_id,
        )
    raise ValueError(f"no such kind of job: {kind}")
