"""The JSON API: the same domain functions as the pages, answers as JSON.

Errors are `{"error": message}` with 400 (bad input), 401 (not logged in), 404 (no such
stream), 405, 409 (not a stream, ID not above the last one) or 503 (Redis unavailable).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone

from streams_app.conf import app_settings
from streams_app.domain.browsing import entries_page, parse_range_request
from streams_app.domain.catalog import parse_scan_cursor, streams_page
from streams_app.domain.names import display_name, name_from_token, url_token
from streams_app.domain.readings import reading_add, reading_values
from streams_app.errors import BadInput, DomainError
from streams_app.gateway import Entry, StreamSummary
from streams_app.gateway.stores import stream_store
from streams_app.web.answers import domain_error_answer, error_answer
from streams_app.web.links import page_url, range_url

View = Callable[..., JsonResponse]


def api_view(*methods: str) -> Callable[[View], View]:
    """Authentication (session or token) and allowed methods; domain errors become their answers."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> JsonResponse:
            if request.method not in methods:
                response = error_answer(request, 405, f"Method {request.method} is not allowed here.")
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return error_answer(
                    request, 401, "Authentication required: log in, or send the header Authorization: Token <key>."
                )
            try:
                return view(request, *args, **kwargs)
            except DomainError as error:
                return domain_error_answer(request, error)

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadInput("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise BadInput("The request body must be a JSON object.")
    return body


def stream_json(request: HttpRequest, summary: StreamSummary) -> dict:
    token = url_token(summary.name)
    return {
        "name": display_name(summary.name),
        "length": summary.length,
        "first_id": summary.first_id,
        "last_id": summary.last_id,
        "groups": summary.groups,
        "memory_bytes": summary.memory_bytes,
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
    )
    return JsonResponse(
        {
            "streams": [stream_json(request, summary) for summary in page.streams],
            "next": page_url(request, {"cursor": page.next_cursor}, absolute=True) if page.next_cursor else None,
        }
    )


@api_view("GET")
def entries(request: HttpRequest, token: str) -> JsonResponse:
    settings = app_settings()
    tz = timezone.get_current_timezone()
    range_request = parse_range_request(
        request.GET, tz=tz, default_count=settings.page_size, max_count=settings.max_page_size
    )
    page = entries_page(store=stream_store(), name=name_from_token(token), request=range_request, tz=tz)
    return JsonResponse(
        {
            "entries": [entry_json(entry) for entry in page.entries],
            "next": range_url(request, page.next_request, absolute=True) if page.next_request else None,
        }
    )


@api_view("POST")
def readings(request: HttpRequest, token: str) -> JsonResponse:
    body = json_body(request)
    new_id = reading_add(
        store=stream_store(), city=name_from_token(token), entry_id=body.get("id"), **reading_values(body)
    )
    return JsonResponse({"id": new_id}, status=201)
