"""Pages that start background jobs and follow them (progress arrives over a WebSocket)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from streams_app.conf import app_settings
from streams_app.errors import DomainError, NotFound
from streams_app.jobs import tasks
from streams_app.jobs.progress import JobStatus, job_status, recent_jobs
from streams_app.team.audit import Actor
from streams_app.web.forms import job_forms
from streams_app.web.job_start import job_start_as


def _jobs_page(request: HttpRequest, status: int = 200, **bound) -> HttpResponse:
    try:
        owner = None if request.user.is_staff else request.user.pk
        recent, error = recent_jobs(app_settings().jobs_per_page, user_id=owner), None
    except DomainError as failure:
        recent, error = [], failure.message
    context = {**job_forms(request, **bound), "recent": recent, "jobs_error": error}
    return render(request, "streams_app/jobs/jobs.html", context, status=status)


@login_required
def jobs_page(request: HttpRequest) -> HttpResponse:
    return _jobs_page(request)


def _start(request: HttpRequest, kind: str) -> HttpResponse:
    job_id, bound = job_start_as(Actor(request.user, "page"), kind, request.POST)
    if job_id is None:
        return _jobs_page(request, getattr(bound[kind], "status", 400), **bound)
    return redirect("job_detail", job_id=job_id)


@login_required
@require_POST
def start_simulate(request: HttpRequest) -> HttpResponse:
    return _start(request, "simulate")


@login_required
@require_POST
def start_export(request: HttpRequest) -> HttpResponse:
    return _start(request, "export")


@login_required
@require_POST
def start_trim(request: HttpRequest) -> HttpResponse:
    return _start(request, "trim")


def _own_job(request: HttpRequest, job_id: str) -> JobStatus:
    """The job if it is the user's (staff see every job); NotFound otherwise, so that the IDs
    of other people's jobs tell nothing."""
    status = job_status(job_id)
    if status.user_id != request.user.pk and not request.user.is_staff:
        raise NotFound("There is no such job (finished jobs are kept for a week).")
    return status


@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    return render(request, "streams_app/jobs/job_detail.html", {"job": _own_job(request, job_id)})


@login_required
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    status = _own_job(request, job_id)
    if not status.download:
        raise Http404("No download for this job.")
    path = tasks.export_dir() / Path(status.download).name
    if not path.exists():
        raise Http404("The export file is gone.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
