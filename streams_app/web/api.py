"""The JSON API: the same domain functions as the pages, answers as JSON.

Errors are `{"error": message}` with 400 (bad input), 401 (not logged in), 404 (no such
stream), 405, 409 (not a stream, ID not above the last one) or 503 (Redis unavailable).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone

from streams_app.conf import app_settings
from streams_app.domain.browsing import entries_page, parse_count, parse_range_request
from streams_app.domain.catalog import parse_include_internal, parse_scan_cursor, streams_page
from streams_app.domain.names import display_name, name_from_token, url_token
from streams_app.domain.readings import reading_add, reading_values
from streams_app.errors import BadInput
from streams_app.gateway import Entry, StreamSummary
from streams_app.gateway.stores import stream_store
from streams_app.models import AuditEvent
from streams_app.team.audit import MAX_AUDIT_EVENTS, audit_events, change, require
from streams_app.team.roles import ADD_READINGS, READ_AUDIT
from streams_app.web.json_api import api_actor, api_view, json_body
from streams_app.web.links import page_url, range_url


def stream_json(request: HttpRequest, summary: StreamSummary) -> dict:
    token = url_token(summary.name)
    return {
        "name": display_name(summary.name),
        "length": summary.length,
        "first_id": summary.first_id,
        "last_id": summary.last_id,
        "groups": summary.groups,
        "memory_bytes": summary.memory_bytes,
        "dead_letters": summary.dead_letters,
        "internal": summary.internal_reason,
        "url": request.build_absolute_uri(reverse("api_entries", args=[token])),
    }


def entry_json(entry: Entry) -> dict:
    return {"id": entry.id, "fields": entry.fields}


@api_view("GET")
def streams(request: HttpRequest) -> JsonResponse:
    page = streams_page(
        store=stream_store(),
        cursor=parse_scan_cursor(request.GET.get("cursor")),
        per_page=app_settings().streams_per_page,
        include_internal=parse_include_internal(request.GET.get("internal")),
    )
    return JsonResponse(
        {
            "streams": [stream_json(request, summary) for summary in page.streams],
            "next": page_url(request, {"cursor": page.next_cursor}, absolute=True) if page.next_cursor else None,
        }
    )


@api_view("GET")
def entries(request: HttpRequest, token: str) -> JsonResponse:
    """A page of the range; with `filter`, only the matching entries, and how far the page
    scanned (`scanned`, `scanned_to`). A filter that cannot be parsed is a 400 naming the
    position of the problem: `{"error", "field": "filter", "position"}`."""
    settings = app_settings()
    tz = timezone.get_current_timezone()
    try:
        range_request = parse_range_request(
            request.GET, tz=tz, default_count=settings.page_size, max_count=settings.max_page_size
        )
    except BadInput as error:
        if error.position is None:
            raise
        return JsonResponse({"error": error.message, "field": error.field, "position": error.position}, status=400)
    page = entries_page(
        store=stream_store(),
        name=name_from_token(token),
        request=range_request,
        tz=tz,
        scan_budget=settings.filter_scan_budget,
    )
    body = {
        "entries": [entry_json(entry) for entry in page.entries],
        "next": range_url(request, page.next_request, absolute=True) if page.next_request else None,
    }
    if page.filtered:
        body["scanned"] = page.scanned
        body["scanned_to"] = page.scanned_to
    return JsonResponse(body)


@api_view("POST")
def readings(request: HttpRequest, token: str) -> JsonResponse:
    body = json_body(request)
    city = name_from_token(token)
    new_id = change(
        api_actor(request),
        ADD_READINGS,
        lambda: reading_add(store=stream_store(), city=city, entry_id=body.get("id"), **reading_values(body)),
        describe=str,
        stream=city,
        audited=False,  # readings are in the stream itself
    )
    return JsonResponse({"id": new_id}, status=201)


@api_view("GET")
def audit(request: HttpRequest) -> JsonResponse:
    """The audit trail, newest first, for stream-admins: ?stream=&user=&action=&limit= (at most 1,000)."""
    require(api_actor(request), READ_AUDIT)
    params = request.GET
    limit = parse_count(params.get("limit"), default=100, maximum=MAX_AUDIT_EVENTS)
    events = audit_events(
        stream=name_from_token(params.get("stream", "")),
        user=params.get("user", ""),
        action=params.get("action", ""),
        limit=limit,
    )
    return JsonResponse({"events": [audit_json(event) for event in events]})


def audit_json(event: AuditEvent) -> dict:
    return {
        "time": event.time.isoformat(),
        "user": event.username,
        "door": event.door,
        "action": event.action,
        "stream": event.stream,
        "group": event.group,
        "consumer": event.consumer,
        "detail": event.detail,
        "outcome": event.outcome,
        "succeeded": event.succeeded,
    }
