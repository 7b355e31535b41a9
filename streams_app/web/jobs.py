"""Pages that start background jobs and follow them (progress arrives over a WebSocket)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from streams_app.conf import app_settings
from streams_app.errors import DomainError
from streams_app.jobs import tasks
from streams_app.jobs.progress import job_status, recent_jobs
from streams_app.web.forms import job_form_submit, job_forms


def _jobs_page(request: HttpRequest, status: int = 200, **bound) -> HttpResponse:
    try:
        recent, error = recent_jobs(app_settings().jobs_per_page), None
    except DomainError as failure:
        recent, error = [], failure.message
    context = {**job_forms(request, **bound), "recent": recent, "jobs_error": error}
    return render(request, "streams_app/jobs/jobs.html", context, status=status)


@login_required
def jobs_page(request: HttpRequest) -> HttpResponse:
    return _jobs_page(request)


def _start(request: HttpRequest, kind: str) -> HttpResponse:
    job_id, bound = job_form_submit(kind, request.POST, user_id=request.user.pk)
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


@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    return render(request, "streams_app/jobs/job_detail.html", {"job": job_status(job_id)})


@login_required
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    status = job_status(job_id)
    if not status.download or (status.user_id != request.user.pk and not request.user.is_staff):
        raise Http404("No download for this job.")
    path = tasks.export_dir() / Path(status.download).name
    if not path.exists():
        raise Http404("The export file is gone.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
