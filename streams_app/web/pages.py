"""Pages for people: thin doors onto the domain functions."""

from __future__ import annotations

from datetime import tzinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from streams_app.conf import app_settings
from streams_app.domain.browsing import EntriesPage, entries_page, parse_range_request
from streams_app.domain.catalog import (
    parse_include_internal,
    parse_scan_cursor,
    stream_name_suggestions,
    streams_page,
)
from streams_app.domain.charts import readings_chart
from streams_app.domain.ids import parse_lower_bound
from streams_app.domain.names import display_name, name_from_token, url_token
from streams_app.domain.range_chart import range_chart
from streams_app.domain.statistics import minute_statistics
from streams_app.errors import BadInput
from streams_app.gateway.stores import stats_store, stream_store
from streams_app.team.audit import Actor, require
from streams_app.team.roles import ADD_READINGS
from streams_app.web.forms import RangeForm, ReadingForm, add_domain_error, reading_form_submit
from streams_app.web.links import page_url, range_url


@login_required
def stream_list(request: HttpRequest) -> HttpResponse:
    store = stream_store()
    cursor = parse_scan_cursor(request.GET.get("cursor"))
    include_internal = parse_include_internal(request.GET.get("internal"))
    page = streams_page(
        store=store, cursor=cursor, per_page=app_settings().streams_per_page, include_internal=include_internal
    )
    return render(
        request,
        "streams_app/stream_list.html",
        {
            "page": page,
            "include_internal": include_internal,
            "internal_switch_url": page_url(request, {"internal": None if include_internal else "1", "cursor": None}),
            "memory": store.server_memory(),
            "next_url": page_url(request, {"cursor": page.next_cursor}) if page.next_cursor else None,
            "first_url": page_url(request, {"cursor": None}) if cursor else None,
        },
    )


@login_required
def stream_detail(request: HttpRequest, token: str) -> HttpResponse:
    name = name_from_token(token)
    store = stream_store()
    summary = store.summary(name)
    settings = app_settings()
    tz = timezone.get_current_timezone()
    form = RangeForm(
        request.GET or None, initial={"start": "-", "end": "+", "order": "asc", "count": settings.page_size}
    )
    page = chart = whole_range_chart = None
    status = 200
    try:
        range_request = parse_range_request(
            request.GET, tz=tz, default_count=settings.page_size, max_count=settings.max_page_size
        )
        page = entries_page(
            store=store, name=name, request=range_request, tz=tz, scan_budget=settings.filter_scan_budget
        )
    except BadInput as error:
        add_domain_error(form, error)
        status = 400
    if page is not None:
        chart = readings_chart(page.entries, tz=tz)
        whole_range_chart = range_chart(store=store, name=name, request=page.request, shown=page.entries, tz=tz)
    # The export job's form, preset with this range (and its filter).
    export_query = {"stream": display_name(name)}
    if page is not None:
        export_query.update(start=page.request.start, end=page.request.end)
        if page.request.filter:
            export_query["filter"] = page.request.filter
    statistics = minute_statistics(store=stats_store(), stream=name, last=settings.statistics_minutes)
    return render(
        request,
        "streams_app/stream_detail.html",
        {
            "name": name,
            "display_name": display_name(name),
            "token": url_token(name),
            "summary": summary,
            "form": form,
            "page": page,
            "chart": chart,
            "range_chart": whole_range_chart,
            "next_url": range_url(request, page.next_request) if page and page.next_request else None,
            "previous_url": range_url(request, page.previous_request) if page and page.previous_request else None,
            "continue_url": range_url(request, page.continue_request) if page and page.continue_request else None,
            "scan_budget": settings.filter_scan_budget,
            "export_url": reverse("jobs") + "?" + urlencode(export_query),
            "preview_chars": settings.field_preview_chars,
            "minute_stats": statistics,
            "follow": follow_context(page, tz=tz),
        },
        status=status,
    )


def follow_context(page: EntriesPage | None, *, tz: tzinfo) -> dict | None:
    """How the stream page follows new entries (static/streams_app/follow.js): None unless its
    window reaches the stream's newest entry (end `+`, nothing beyond it in that direction)."""
    if page is None or page.request.end != "+":
        return None
    newest_first = page.request.order == "desc"
    if (page.previous_request if newest_first else page.next_request) is not None:
        return None
    if page.filtered:
        # The tail's socket does not filter, and the page does not filter entries itself.
        return {"enabled": False}
    if page.entries:
        after = page.entries[0 if newest_first else -1].id
    else:
        low = parse_lower_bound(page.request.start, tz)
        if low is None:
            return None
        before_low = low.predecessor()
        after = str(before_low) if before_low is not None else "0-0"
    settings = app_settings()
    return {
        "enabled": True,
        "at": "top" if newest_first else "bottom",
        "after": after,
        "keep": page.request.count + settings.live_rows,
        "snapshot_rows": settings.live_snapshot_rows,
    }


@login_required
@require_http_methods(["GET", "POST"])
def reading_add_page(request: HttpRequest) -> HttpResponse:
    store = stream_store()
    status = 200
    if request.method == "POST":
        require(Actor(request.user, "page"), ADD_READINGS, stream=request.POST.get("city", ""))
        form = ReadingForm(request.POST)
        new_id, status = reading_form_submit(form, store=store)
        if new_id is not None:
            city = form.cleaned_data["city"]
            messages.success(request, f"Added reading {new_id} to {city}.")
            return redirect(reverse("stream_detail", args=[url_token(city)]) + "?order=desc")
    else:
        form = ReadingForm(initial={"city": request.GET.get("city", "")})
    return render(
        request,
        "streams_app/reading_add.html",
        {"form": form, "known_streams": stream_name_suggestions(store=store)},
        status=status,
    )
