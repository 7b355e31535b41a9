"""The live pages: served as plain HTML; their data arrives over WebSockets (consumers.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from streams_app.conf import app_settings
from streams_app.domain.names import display_name, name_from_token, url_token
from streams_app.gateway.stores import stream_store


@login_required
def stream_live(request: HttpRequest, token: str) -> HttpResponse:
    name = name_from_token(token)
    stream_store().require_stream(name)
    return render(
        request,
        "streams_app/stream_live.html",
        {
            "name": name,
            "display_name": display_name(name),
            "token": url_token(name),
            "max_rows": app_settings().live_rows,
        },
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "streams_app/dashboard.html",
        {"group_url_pattern": reverse("group_detail", args=["__STREAM__", "__GROUP__"])},
    )
