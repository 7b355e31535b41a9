"""Links that keep the current query and change a few parameters."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpRequest
from django.utils.encoding import escape_uri_path
from django.utils.http import urlencode

from streams_app.domain.browsing import RangeRequest


def page_url(request: HttpRequest, changes: Mapping[str, object | None], *, absolute: bool = False) -> str:
    """The current URL with `changes` applied to its query (None removes a parameter)."""
    params = {key: value for key, value in request.GET.items()}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    url = escape_uri_path(request.path) + ("?" + urlencode(params) if params else "")
    return request.build_absolute_uri(url) if absolute else url


def range_url(request: HttpRequest, range_request: RangeRequest, *, absolute: bool = False) -> str:
    """This page's URL for another page of the same range."""
    url = escape_uri_path(request.path) + "?" + urlencode(range_request.query_params())
    return request.build_absolute_uri(url) if absolute else url
