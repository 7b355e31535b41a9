"""The job queue (RQ, through django-rq): enqueueing, the index of jobs started from the app,
reading a job back, and a running job's progress in its meta. RQ's objects stay in here;
what leaves is a `JobRecord`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import django_rq
import rq
from rq.exceptions import NoSuchJobError
from rq.job import Job

from streams_app.errors import NotFound
from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import jobs_index_key

QUEUE = "default"
JOB_TIMEOUT_SECONDS = 3600
KEEP_SECONDS = 7 * 24 * 3600
INDEX_SIZE = 500
# What RQ accepts as a job ID (it raises ValueError for others, and reads "a:b" as job "a"),
# within a length no ID we enqueue comes near.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as RQ keeps it: its state, its meta (kind, owner, progress), the arguments it was
    started with, when it was enqueued, started and ended (aware, UTC), once failed the error, and
    once finished what it returned (when that was a dict; read for one job, not for lists)."""

    id: str
    state: str  # queued, started, finished, failed, stopped, canceled, deferred, scheduled
    description: str
    meta: dict[str, Any]
    failure: str
    arguments: dict[str, Any] = field(default_factory=dict)
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: dict[str, Any] | None = None


class RunningJob:
    """The job this process is running: its meta is where progress is kept."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self.id: str = job.id

    @redis_call
    def save_meta(self, changes: dict[str, Any]) -> None:
        self._job.meta.update(changes)
        self._job.save_meta()

    def record(self) -> JobRecord:
        return _record(self._job)


def _queue() -> rq.Queue:
    return django_rq.get_queue(QUEUE)


@redis_call
def job_enqueue(func: Callable[..., Any], *, kwargs: dict[str, Any], description: str, meta: dict[str, Any]) -> str:
    """Enqueue `func(**kwargs)` and remember the job for the jobs page; returns its ID."""
    queue = _queue()
    job = queue.enqueue_call(
        func,
        kwargs=kwargs,
        timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=KEEP_SECONDS,
        failure_ttl=KEEP_SECONDS,
        description=description,
        meta=meta,
    )
    pipe = queue.connection.pipeline(transaction=False)
    pipe.zadd(jobs_index_key(), {job.id: time.time()})
    pipe.zremrangebyrank(jobs_index_key(), 0, -(INDEX_SIZE + 1))
    pipe.execute()
    return job.id


def is_job_id(job_id: object) -> bool:
    """Whether `job_id` can name an RQ job at all (ASCII letters, digits, `_` and `-`)."""
    return isinstance(job_id, str) and _JOB_ID.fullmatch(job_id) is not None


@redis_call
def job_record(job_id: str) -> JobRecord:
    """One job; NotFound when RQ no longer has it, or `job_id` cannot name a job."""
    if not is_job_id(job_id):
        raise NotFound("There is no such job: job IDs are letters, digits, _ and - only.")
    try:
        return _record(Job.fetch(job_id, connection=_queue().connection), with_result=True)
    except NoSuchJobError:
        raise NotFound("There is no such job (finished jobs are kept for a week).") from None


@redis_call
def recent_job_records(limit: int) -> list[JobRecord]:
    """The newest `limit` jobs started from the app that RQ still has, newest first."""
    connection = _queue().connection
    ids = [raw.decode() for raw in connection.zrevrange(jobs_index_key(), 0, limit - 1)]
    jobs = Job.fetch_many(ids, connection=connection) if ids else []
    return [_record(job) for job in jobs if job is not None]


def running_job() -> RunningJob | None:
    """The job this process runs right now (None outside an RQ worker)."""
    job = rq.get_current_job()
    return RunningJob(job) if job is not None else None


def _record(job: Job, *, with_result: bool = False) -> JobRecord:
    raw_state = job.get_status(refresh=False)
    state = str(getattr(raw_state, "value", raw_state) or "unknown")
    return JobRecord(
        id=job.id,
        state=state,
        description=job.description or job.id,
        meta=dict(job.meta or {}),
        failure=_failure(job) if state == "failed" else "",
        arguments=_arguments(job),
        enqueued_at=_utc(job.enqueued_at),
        started_at=_utc(job.started_at),
        ended_at=_utc(job.ended_at),
        result=_result(job) if with_result and state == "finished" else None,
    )


def _utc(moment: datetime | None) -> datetime | None:
    """RQ's times are UTC; older RQ versions kept them naive."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _arguments(job: Job) -> dict[str, Any]:
    """The keyword arguments the job was enqueued with ({} when RQ cannot read them back)."""
    try:
        return dict(job.kwargs or {})
    except Exception:
        return {}


def _result(job: Job) -> dict[str, Any] | None:
    """What a finished job returned, when it was a dict (the app's jobs return their counts)."""
    try:
        value = job.return_value()
    except Exception:
        return None
    return dict(value) if isinstance(value, dict) else None


def _failure(job: Job) -> str:
    """The last line of a failed job's traceback ("" while it has not failed)."""
    try:
        result = job.latest_result()
    except Exception:
        return ""
    text = getattr(result, "exc_string", "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
