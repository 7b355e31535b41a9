"""The live pages: served as plain HTML; their data arrives over WebSockets (consumers.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from streams_app.catalog import streams_page
from streams_app.errors import DomainError
from streams_app.stores import stream_store
from streams_app.stream_names import display_name, name_from_token, url_token

LIVE_ROWS = 200


@login_required
def stream_live(request: HttpRequest, token: str) -> HttpResponse:
    name = name_from_token(token)
    stream_store().require_stream(name)
    return render(
        request,
        "streams_app/stream_live.html",
        {"name": name, "display_name": display_name(name), "token": url_token(name), "max_rows": LIVE_ROWS},
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    # Links need each stream's URL token; the first page of streams is enough for the dashboard.
    try:
        names = [summary.name for summary in streams_page(store=stream_store(), per_page=50).streams]
    except DomainError:
        names = []
    return render(
        request,
        "streams_app/dashboard.html",
        {
            "stream_tokens": {display_name(name): url_token(name) for name in names},
            "group_url_pattern": "/streams/__STREAM__/groups/__GROUP__/",
        },
    )
