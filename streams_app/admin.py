"""Django admin: data entry for readings and consumer groups (written to Redis through the same
domain functions as every other door), background jobs, and API tokens."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone

from streams_app.conf import app_settings
from streams_app.domain.catalog import stream_name_suggestions, streams_page
from streams_app.domain.groups import START_HELP, group_create, group_overview
from streams_app.domain.names import url_token
from streams_app.errors import DomainError, Forbidden
from streams_app.gateway.stores import group_store, stream_store
from streams_app.models import ApiToken, AuditEvent, ConsumerGroup, Reading
from streams_app.team.audit import Actor, change, require
from streams_app.team.roles import ADD_READINGS, CREATE_GROUP, READ_AUDIT, may
from streams_app.web.forms import (
    DomainCheckedForm,
    ReadingForm,
    add_domain_error,
    job_forms_offering_streams,
    offer_streams,
    reading_form_submit,
)
from streams_app.web.job_start import job_start_as


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    """Readings live in Redis streams, not in a table: the admin offers entry, not editing."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff(request) and may(request.user, ADD_READINGS)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        status = 200
        if request.method == "POST":
            require(_actor(request), ADD_READINGS, stream=request.POST.get("city", ""))
        elif not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ReadingForm(request.POST)
            new_id, status = reading_form_submit(form, store=stream_store())
            if new_id is not None:
                messages.success(request, f"Added reading {new_id} to {form.cleaned_data['city']}.")
                if "_addanother" in request.POST:
                    return HttpResponseRedirect(request.path)
                return HttpResponseRedirect(reverse("admin:streams_app_reading_changelist"))
        else:
            form = ReadingForm(initial={"city": request.GET.get("city", "")})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add reading",
            "is_reading_form": True,
            "form": form,
            "known_streams": stream_name_suggestions(store=stream_store()),
        }
        return render(request, "admin/streams_app/reading/add.html", context, status=status)

    def get_urls(self):
        jobs_view = self.admin_site.admin_view(self.jobs_view)
        return [path("jobs/", jobs_view, name="streams_app_reading_jobs"), *super().get_urls()]

    def jobs_view(self, request: HttpRequest) -> HttpResponse:
        """Start a background job (simulate a day, export, trim) from admin; progress shows on the job's page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        bound: dict = {}
        status = 200
        if request.method == "POST":
            job_id, bound = job_start_as(_actor(request), request.POST.get("kind", ""), request.POST)
            if job_id is not None:
                messages.success(request, "Job started.")
                return HttpResponseRedirect(reverse("job_detail", args=[job_id]))
            status = getattr(next(iter(bound.values())), "status", 400)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Background jobs",
            **job_forms_offering_streams(request, **bound),
        }
        return render(request, "admin/streams_app/reading/jobs.html", context, status=status)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Readings by stream",
            "has_add_permission": self.has_add_permission(request),
            "error": None,
            "streams": [],
        }
        try:
            page = streams_page(store=stream_store(), per_page=app_settings().streams_per_page)
            context["streams"] = [(summary, url_token(summary.name)) for summary in page.streams]
        except DomainError as error:
            context["error"] = error.message
        return render(request, "admin/streams_app/reading/list.html", context)


class GroupCreateForm(DomainCheckedForm):
    stream = forms.CharField(
        required=False, help_text="An existing stream, or a new city name (the stream is created)."
    )
    name = forms.CharField(required=False, initial="mygroup")
    start = forms.CharField(required=False, initial="$", help_text=START_HELP)


@admin.register(ConsumerGroup)
class ConsumerGroupAdmin(admin.ModelAdmin):
    """Groups live in Redis: the admin lists them and creates them; the group pages do the rest
    (consumers, pending entries, ack, claim, move, destroy)."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows, error = [], None
        try:
            page = streams_page(store=stream_store(), per_page=app_settings().streams_per_page)
            for summary in page.streams:
                if summary.groups:
                    for group in group_overview(store=group_store(), stream=summary.name):
                        rows.append((summary, url_token(summary.name), group, url_token(group.name)))
        except DomainError as failure:
            error = failure.message
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Consumer groups",
            "rows": rows,
            "error": error,
            "has_add_permission": self.has_add_permission(request),
        }
        return render(request, "admin/streams_app/consumergroup/list.html", context)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff(request) and may(request.user, CREATE_GROUP)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if request.method != "POST" and not self.has_add_permission(request):
            raise PermissionDenied
        status = 200
        form = GroupCreateForm(request.POST or None, initial={"stream": request.GET.get("stream", "")})
        offer_streams(form, "stream")
        if request.method == "POST" and form.is_valid():
            values = form.cleaned_data
            try:
                created = change(
                    _actor(request),
                    CREATE_GROUP,
                    lambda: group_create(
                        store=group_store(),
                        stream=values["stream"],
                        name=values["name"],
                        start=values["start"],
                        tz=timezone.get_current_timezone(),
                    ),
                    describe=lambda created: f"created at {created.start_id}",
                    stream=values["stream"],
                    group=values["name"],
                    detail={"start": values["start"] or "$"},
                )
            except Forbidden:
                raise
            except DomainError as error:
                add_domain_error(form, error)
                status = error.status
            else:
                messages.success(
                    request, f"Created group {created.info.name} on {values['stream']} at {created.start_id}."
                )
                return HttpResponseRedirect(reverse("admin:streams_app_consumergroup_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Create a consumer group",
            "form": form,
            "known_streams": stream_name_suggestions(store=stream_store()),
        }
        return render(request, "admin/streams_app/reading/add.html", context, status=status)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "name", "created", "last_used")
    readonly_fields = ("key_prefix", "created", "last_used")
    fields = ("user", "name", "key_prefix", "created", "last_used")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Keys are shown once, at creation: `manage.py create_api_token USERNAME` issues them.
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: nobody edits history."""

    list_display = ("time", "username", "door", "action", "stream", "group", "consumer", "succeeded", "outcome")
    list_filter = ("action", "door", "succeeded", "username", "stream", "time")
    search_fields = ("username", "stream", "group", "consumer", "outcome")
    date_hierarchy = "time"
    readonly_fields = (*list_display, "user", "detail")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff(request) and may(request.user, READ_AUDIT)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _staff(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff


def _actor(request: HttpRequest) -> Actor:
    return Actor(request.user, "admin")
