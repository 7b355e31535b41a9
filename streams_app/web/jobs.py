"""Pages that start background jobs and follow them (progress arrives over a WebSocket)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from streams_app.conf import app_settings
from streams_app.domain.export_names import ExportFileName, export_file_name
from streams_app.errors import DomainError, NotFound
from streams_app.jobs.progress import JobStatus, export_dir, job_status, recent_jobs
from streams_app.team.audit import Actor
from streams_app.web.forms import job_forms_offering_streams
from streams_app.web.job_start import job_start_as


def _jobs_page(request: HttpRequest, status: int = 200, **bound) -> HttpResponse:
    try:
        owner = None if request.user.is_staff else request.user.pk
        recent, error = recent_jobs(app_settings().jobs_per_page, user_id=owner), None
    except DomainError as failure:
        recent, error = [], failure.message
    context = {
        **job_forms_offering_streams(request, **bound),
        "recent": recent,
        "jobs_error": error,
    }
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
    status = _own_job(request, job_id)
    download_name = _download_name(status).name if status.kind == "export" else None
    return render(request, "streams_app/jobs/job_detail.html", {"job": status, "download_name": download_name})


@login_required
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    """The export file, named after its stream and range (`madurai_2026-11-30.csv`)."""
    status = _own_job(request, job_id)
    if not status.download:
        raise Http404("No download for this job.")
    path = export_dir() / Path(status.download).name
    if not path.exists():
        raise Http404("The export file is gone.")
    name = _download_name(status)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=name.ascii_name)
    response["Content-Disposition"] = attachment_disposition(name)
    return response


def _download_name(status: JobStatus) -> ExportFileName:
    """What an export job's download is called, from the arguments it was started with."""
    arguments = status.arguments
    return export_file_name(
        stream=str(arguments.get("stream", "")),
        start=str(arguments.get("start", "-")),
        end=str(arguments.get("end", "+")),
        fmt=str(arguments.get("fmt") or Path(status.download or "").suffix.lstrip(".")),
        tz=timezone.get_current_timezone(),
    )


def attachment_disposition(name: ExportFileName) -> str:
    """Content-Disposition for a download: `filename=` in ASCII for every client, and for a
    non-ASCII name also `filename*=UTF-8''…` (RFC 6266), which browsers prefer."""
    disposition = f'attachment; filename="{name.ascii_name}"'
    if not name.is_ascii:
        disposition += f"; filename*=UTF-8''{quote(name.name, safe='')}"
    return disposition
