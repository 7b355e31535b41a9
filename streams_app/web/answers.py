"""Where errors become answers, in one place: JSON `{"error": message}` under /api/, the error
page elsewhere. Domain errors raised by any view, Django's own 400/403/404/500 and CSRF
refusals all come through here."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from streams_app.errors import DomainError, RedisUnavailable

logger = logging.getLogger("streams_app")

API_PREFIX = "/api/"
SERVER_ERROR_MESSAGE = "Something went wrong on our side; it has been logged."


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


# Prometheus reads /metrics: its refusals are one line of text, as its scrape errors show them.
METRICS_PATH = "/metrics"
AUTH_CHALLENGE = 'Bearer realm="weatherstreams"'


def error_answer(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """A refusal with its status: JSON for the API, text for /metrics, the error page for people.
    A 401 says how to authenticate (WWW-Authenticate), as HTTP asks."""
    if is_api_request(request):
        response = JsonResponse({"error": message}, status=status)
    elif request.path == METRICS_PATH:
        response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    else:
        response = render(request, "error.html", {"message": message, "status": status}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = AUTH_CHALLENGE
    return response


def domain_error_answer(request: HttpRequest, error: DomainError) -> HttpResponse:
    if isinstance(error, RedisUnavailable):
        logger.warning("Redis unavailable while serving %s: %s", request.path, error.message)
    return error_answer(request, error.status, error.message)


class DomainErrorMiddleware:
    """A domain error that reaches the edge (not handled as a form error) becomes its answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        return domain_error_answer(request, exception)


# Django's error handlers (wired in weatherstreams/urls.py and settings.CSRF_FAILURE_VIEW).


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_answer(request, 404, "There is nothing at this address.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_answer(request, 400, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_answer(request, 403, "You are not allowed to do that.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_answer(
        request,
        403,
        "The form's security token (CSRF) was missing or out of date: reload the page and try again. "
        "Scripts should authenticate with Authorization: Token <key>.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request context: whatever failed must not fail again here.
    if is_api_request(request):
        return JsonResponse({"error": SERVER_ERROR_MESSAGE}, status=500)
    return render(None, "500.html", {}, status=500)
