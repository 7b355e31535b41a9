"""The edge where domain errors become answers: JSON for the API, a page for people."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from streams_app.errors import DomainError, RedisUnavailable

logger = logging.getLogger("streams_app")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def domain_error_response(request: HttpRequest, error: DomainError) -> HttpResponse:
    if is_api_request(request):
        return JsonResponse({"error": error.message}, status=error.status)
    return render(request, "error.html", {"error": error, "status": error.status}, status=error.status)


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        if isinstance(exception, RedisUnavailable):
            logger.warning("Redis unavailable while serving %s: %s", request.path, exception.message)
        return domain_error_response(request, exception)
