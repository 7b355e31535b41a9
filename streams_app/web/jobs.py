"""Pages that start background jobs and follow them (progress arrives over a WebSocket)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from streams_app.conf import app_settings
from streams_app.errors import DomainError
from streams_app.gateway.stores import retention_store, stream_store
from streams_app.jobs import tasks
from streams_app.jobs.launch import export_job_start, simulate_day_job_start, trim_job_start
from streams_app.jobs.progress import job_status, recent_jobs
from streams_app.web.forms import ExportForm, SimulateDayForm, TrimForm, add_domain_error


def job_forms(request: HttpRequest, **bound) -> dict:
    """The three job forms, blank (preset with ?stream=) unless given bound ones with errors."""
    stream = request.GET.get("stream", "")
    yesterday = timezone.localdate() - timedelta(days=1)
    return {
        "simulate_form": bound.get("simulate") or SimulateDayForm(initial={"city": stream, "day": yesterday}),
        "export_form": bound.get("export") or ExportForm(initial={"stream": stream, "format": "csv"}),
        "trim_form": bound.get("trim")
        or TrimForm(initial={"stream": stream, "strategy": "maxlen", "approximate": True}),
    }


def start_job_from_form(request: HttpRequest, kind: str) -> tuple[str | None, dict]:
    """Validate the posted form of `kind` and start its job; returns (job ID or None, bound forms)."""
    form_class = {"simulate": SimulateDayForm, "export": ExportForm, "trim": TrimForm}.get(kind)
    if form_class is None:
        kind, form_class = "simulate", SimulateDayForm
    form = form_class(request.POST)
    if not form.is_valid():
        return None, {kind: form}
    values = form.cleaned_data
    tz = timezone.get_current_timezone()
    user_id = request.user.pk
    try:
        if kind == "simulate":
            day = values["day"] or (timezone.localdate() - timedelta(days=1))
            job_id = simulate_day_job_start(store=stream_store(), city=values["city"], day=day, tz=tz, user_id=user_id)
        elif kind == "export":
            job_id = export_job_start(
                store=stream_store(),
                stream=values["stream"],
                start=values["start"],
                end=values["end"],
                fmt=values["format"] or "csv",
                tz=tz,
                user_id=user_id,
            )
        else:
            job_id = trim_job_start(
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
    except DomainError as error:
        add_domain_error(form, error, field_map={"city": "stream"} if kind != "simulate" else None)
        form.status = error.status
        return None, {kind: form}
    return job_id, {}


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
    job_id, bound = start_job_from_form(request, kind)
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
