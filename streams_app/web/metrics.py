"""GET /metrics: the Prometheus text format, for any valid API token (`Authorization: Bearer <key>`
or `Token <key>`, checked by web/auth.py's middleware, as for the JSON API) or logged-in user: a
viewer's read. Scrapes change nothing, so the audit trail records none.

A rendering is reused for `WEATHERSTREAMS_METRICS_CACHE_SECONDS` (1 s) in each process, so many
Prometheus servers (or a dashboard refreshing fast) cost Redis one scrape a second at most.
"""

from __future__ import annotations

import threading
import time

from django.http import HttpRequest, HttpResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from streams_app.conf import app_settings
from streams_app.domain.metrics import metrics_scrape
from streams_app.errors import DomainError
from streams_app.gateway.stores import metrics_store
from streams_app.web.answers import domain_error_answer, error_answer

_lock = threading.Lock()
_cached: tuple[tuple, float, bytes] | None = None  # (what shaped it, when made, the rendering)


def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics as Prometheus reads them; 401 with a Bearer challenge for a caller without a valid token."""
    if request.method != "GET":
        response = error_answer(request, 405, f"Method {request.method} is not allowed here.")
        response["Allow"] = "GET"
        return response
    if not request.user.is_authenticated:
        return error_answer(request, 401, "Authentication required: send Authorization: Bearer <API token>.")
    try:
        body = cached_metrics()
    except DomainError as error:
        return domain_error_answer(request, error)
    response = HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store"
    return response


def cached_metrics() -> bytes:
    """This process's rendering if it is younger than the cache window (and made under the same
    settings), else a new one. One scrape at a time: others arriving meanwhile wait and reuse it."""
    global _cached
    conf = app_settings()
    shape = (conf.redis_url, conf.metrics_max_series, conf.dead_letter_stream)
    with _lock:
        now = time.monotonic()
        if _cached is not None and _cached[0] == shape and now - _cached[1] < conf.metrics_cache_seconds:
            return _cached[2]
        body = metrics_scrape(store=metrics_store())
        _cached = (shape, time.monotonic(), body)
        return body


def forget_cached_metrics() -> None:
    """Drop this process's rendering, so the next scrape reads Redis."""
    global _cached
    with _lock:
        _cached = None
