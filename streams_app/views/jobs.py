"""Pages that start background jobs and follow them (progress arrives over a WebSocket)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from streams_app import jobs
from streams_app.errors import DomainError
from streams_app.exports import FORMATS, plan_export
from streams_app.forms import add_domain_error
from streams_app.gateway.retention import RetentionStore
from streams_app.job_tracking import job_start, job_status, recent_jobs
from streams_app.producer import simulated_day_start
from streams_app.retention import STRATEGIES, plan_trim
from streams_app.stores import redis_client, stream_store
from streams_app.stream_names import display_name


class SimulateDayForm(forms.Form):
    city = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "chennai"}))
    day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="86,400 readings, one a second from 00:00, with IDs of that day.",
    )


class ExportForm(forms.Form):
    stream = forms.CharField(required=False)
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    format = forms.ChoiceField(choices=list(FORMATS.items()), required=False)


class TrimForm(forms.Form):
    stream = forms.CharField(required=False)
    strategy = forms.ChoiceField(choices=list(STRATEGIES.items()), required=False)
    threshold = forms.CharField(
        required=False,
        label="Keep / from",
        help_text="MAXLEN: entries to keep. MINID: an ID or a date-time; older entries go.",
    )
    approximate = forms.BooleanField(required=False, initial=True, label="Approximate (~): faster, may keep a few more")
    confirm = forms.BooleanField(required=False, label="Trim even entries still pending in a group")


def _forms(request: HttpRequest, **bound) -> dict:
    stream = request.GET.get("stream", "")
    yesterday = timezone.localdate() - timedelta(days=1)
    return {
        "simulate_form": bound.get("simulate") or SimulateDayForm(initial={"city": stream, "day": yesterday}),
        "export_form": bound.get("export") or ExportForm(initial={"stream": stream, "format": "csv"}),
        "trim_form": bound.get("trim")
        or TrimForm(initial={"stream": stream, "strategy": "maxlen", "approximate": True}),
    }


def _jobs_page(request: HttpRequest, status: int = 200, **bound) -> HttpResponse:
    try:
        recent = recent_jobs()
        error = None
    except DomainError as failure:
        recent, error = [], failure.message
    return render(
        request,
        "streams_app/jobs/jobs.html",
        {**_forms(request, **bound), "recent": recent, "jobs_error": error},
        status=status,
    )


@login_required
def jobs_page(request: HttpRequest) -> HttpResponse:
    return _jobs_page(request)


@login_required
@require_POST
def start_simulate(request: HttpRequest) -> HttpResponse:
    form = SimulateDayForm(request.POST)
    if not form.is_valid():
        return _jobs_page(request, 400, simulate=form)
    day = form.cleaned_data["day"] or (timezone.localdate() - timedelta(days=1))
    city = form.cleaned_data["city"]
    try:
        start = simulated_day_start(store=stream_store(), city=city, day=day, tz=timezone.get_current_timezone())
        job_id = job_start(
            kind="simulate",
            func=jobs.simulate_day,
            kwargs={"city": city, "start": start.isoformat()},
            title=f"Simulate {day.isoformat()} for {city}",
            user_id=request.user.pk,
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _jobs_page(request, error.status, simulate=form)
    return redirect("job_detail", job_id=job_id)


@login_required
@require_POST
def start_export(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST)
    form.is_valid()
    values = form.cleaned_data
    try:
        plan = plan_export(
            store=stream_store(),
            stream=values.get("stream", ""),
            start=values.get("start", ""),
            end=values.get("end", ""),
            fmt=values.get("format") or "csv",
            tz=timezone.get_current_timezone(),
        )
        job_id = job_start(
            kind="export",
            func=jobs.export_stream,
            kwargs={"stream": plan.stream, "start": plan.start, "end": plan.end, "fmt": plan.fmt},
            title=f"Export {display_name(plan.stream)} {plan.start} … {plan.end} as {FORMATS[plan.fmt]}",
            user_id=request.user.pk,
        )
    except DomainError as error:
        add_domain_error(form, error, field_map={"city": "stream"})
        return _jobs_page(request, error.status, export=form)
    return redirect("job_detail", job_id=job_id)


@login_required
@require_POST
def start_trim(request: HttpRequest) -> HttpResponse:
    form = TrimForm(request.POST)
    form.is_valid()
    values = form.cleaned_data
    try:
        plan = plan_trim(
            store=stream_store(),
            retention=RetentionStore(redis_client()),
            stream=values.get("stream", ""),
            strategy=values.get("strategy") or "",
            threshold=values.get("threshold", ""),
            approximate=bool(values.get("approximate")),
            tz=timezone.get_current_timezone(),
        )
        if plan.pending_at_risk and not values.get("confirm"):
            groups = ", ".join(f"{g} (oldest pending {oldest})" for g, oldest in sorted(plan.pending_at_risk.items()))
            form.add_error(
                "confirm",
                f"This trim would remove entries still pending in {groups}: "
                "their consumers would never process them. Tick the box to trim anyway.",
            )
            return _jobs_page(request, 409, trim=form)
        job_id = job_start(
            kind="trim",
            func=jobs.trim,
            kwargs={
                "stream": plan.stream,
                "strategy": plan.strategy,
                "threshold": values.get("threshold", ""),
                "approximate": plan.approximate,
                "confirm_pending": bool(values.get("confirm")),
            },
            title=plan.describe(),
            user_id=request.user.pk,
        )
    except DomainError as error:
        add_domain_error(form, error, field_map={"city": "stream"})
        return _jobs_page(request, error.status, trim=form)
    return redirect("job_detail", job_id=job_id)


@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    status = job_status(job_id)
    return render(request, "streams_app/jobs/job_detail.html", {"job": status})


@login_required
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    status = job_status(job_id)
    if not status.download or (status.user_id != request.user.pk and not request.user.is_staff):
        raise Http404("No download for this job.")
    path = jobs.export_dir() / Path(status.download).name
    if not path.exists():
        raise Http404("The export file is gone.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
