"""Background jobs as the pages see them: starting one (django-rq), its progress (kept in
the job's meta and pushed over the channel layer), and its status."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import django_rq
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from rq.exceptions import NoSuchJobError
from rq.job import Job

from streams_app.errors import NotFound, RedisUnavailable
from streams_app.gateway.connection import UNAVAILABLE_ERRORS

logger = logging.getLogger("streams_app.jobs")

QUEUE = "default"
JOB_INDEX_KEY = "weatherstreams:jobs"
KINDS = {"simulate": "Simulate a day", "export": "Export a range", "trim": "Trim a stream"}
PUSH_EVERY_SECONDS = 0.2


def job_group(job_id: str) -> str:
    """The channel-layer group of a job's page (ASCII letters, digits, hyphens and periods only)."""
    return f"job.{job_id}"


@dataclass(frozen=True, slots=True)
class JobStatus:
    id: str
    kind: str
    title: str
    state: str  # queued, started, finished, failed, stopped, canceled, deferred, scheduled
    done: int
    total: int | None
    fraction: float
    message: str
    error: str
    user_id: int | None
    download: str | None
    enqueued_at: float | None

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def finished(self) -> bool:
        return self.state in {"finished", "failed", "stopped", "canceled"}

    def as_message(self) -> dict[str, Any]:
        return {
            "type": "job",
            "id": self.id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "message": self.message,
            "error": self.error,
            "download": self.download,
        }


def _queue():
    return django_rq.get_queue(QUEUE)


def job_start(*, kind: str, func, kwargs: dict[str, Any], title: str, user_id: int | None) -> str:
    """Enqueue a job and remember it for the jobs page."""
    try:
        queue = _queue()
        job = queue.enqueue_call(
            func,
            kwargs=kwargs,
            timeout=3600,
            result_ttl=7 * 24 * 3600,
            failure_ttl=7 * 24 * 3600,
            description=title,
            meta={
                "kind": kind,
                "title": title,
                "user_id": user_id,
                "done": 0,
                "total": None,
                "fraction": 0.0,
                "message": "waiting for the job worker",
                "error": "",
            },
        )
        queue.connection.zadd(JOB_INDEX_KEY, {job.id: time.time()})
        queue.connection.zremrangebyrank(JOB_INDEX_KEY, 0, -501)
    except UNAVAILABLE_ERRORS as error:
        raise RedisUnavailable(
            f"Redis is unavailable ({error.__class__.__name__}): the job was not started."
        ) from error
    return job.id


def job_status(job_id: str) -> JobStatus:
    try:
        job = Job.fetch(job_id, connection=_queue().connection)
    except NoSuchJobError:
        raise NotFound("There is no such job (finished jobs are kept for a week).") from None
    except UNAVAILABLE_ERRORS as error:
        raise RedisUnavailable(f"Redis is unavailable ({error.__class__.__name__}).") from error
    return _status_of(job)


def recent_jobs(limit: int = 20) -> list[JobStatus]:
    try:
        connection = _queue().connection
        ids = [raw.decode() for raw in connection.zrevrange(JOB_INDEX_KEY, 0, limit - 1)]
        jobs = Job.fetch_many(ids, connection=connection) if ids else []
    except UNAVAILABLE_ERRORS as error:
        raise RedisUnavailable(f"Redis is unavailable ({error.__class__.__name__}).") from error
    return [_status_of(job) for job in jobs if job is not None]


def _status_of(job: Job) -> JobStatus:
    meta = job.meta or {}
    raw_state = job.get_status(refresh=False)
    state = str(getattr(raw_state, "value", raw_state) or "unknown")
    error = meta.get("error") or ""
    if state == "failed" and not error:
        error = _last_line(job)
    fraction = 1.0 if state == "finished" else float(meta.get("fraction") or 0.0)
    return JobStatus(
        id=job.id,
        kind=meta.get("kind", ""),
        title=meta.get("title", job.description or job.id),
        state=state,
        done=int(meta.get("done") or 0),
        total=meta.get("total"),
        fraction=fraction,
        message=meta.get("message", ""),
        error=error,
        user_id=meta.get("user_id"),
        download=meta.get("download"),
        enqueued_at=job.enqueued_at.timestamp() if job.enqueued_at else None,
    )


def _last_line(job: Job) -> str:
    try:
        info = job.latest_result().exc_string if job.latest_result() else ""
    except Exception:
        info = ""
    lines = [line for line in (info or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "The job failed."


class JobProgress:
    """Progress of the running job: saved in its meta (what a page reads on connect)
    and pushed to open pages at most five times a second."""

    def __init__(self, job: Job | None) -> None:
        self.job = job
        self.last_push = 0.0
        self.layer = get_channel_layer()

    def update(self, *, done: int, total: int | None, fraction: float, message: str, force: bool = False) -> None:
        if self.job is None:
            return
        now = time.monotonic()
        if not force and now - self.last_push < PUSH_EVERY_SECONDS:
            return
        self.last_push = now
        self.job.meta.update(
            {"done": done, "total": total, "fraction": max(0.0, min(1.0, fraction)), "message": message}
        )
        self.job.save_meta()
        self.push()

    def fail(self, message: str) -> None:
        if self.job is None:
            return
        self.job.meta.update({"error": message, "message": "failed"})
        self.job.save_meta()
        self.push(state="failed")

    def finish(self, *, message: str, download: str | None = None) -> None:
        if self.job is None:
            return
        self.job.meta.update({"fraction": 1.0, "message": message, "download": download})
        self.job.save_meta()
        self.push(state="finished")

    def push(self, state: str | None = None) -> None:
        if self.layer is None or self.job is None:
            return
        status = _status_of(self.job).as_message()
        if state:
            status["state"] = state
            if state == "finished":
                status["percent"] = 100
        try:
            async_to_sync(self.layer.group_send)(job_group(self.job.id), {"type": "job.progress", "status": status})
        except Exception:
            logger.warning("could not push progress of job %s", self.job.id, exc_info=True)
