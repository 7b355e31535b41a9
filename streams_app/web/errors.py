"""Error answers that match the request: JSON under /api/, a page elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from streams_app.web.middleware import is_api_request


def _answer(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if is_api_request(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "error.html", {"error": {"message": message}, "status": status}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 404, "There is nothing at this address.")


def server_error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request context: whatever failed must not fail again here.
    message = "Something went wrong on our side; it has been logged."
    if is_api_request(request):
        return JsonResponse({"error": message}, status=500)
    return render(None, "500.html", {}, status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 400, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 403, "You are not allowed to do that.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _answer(
        request,
        403,
        "The form's security token (CSRF) was missing or out of date: reload the page and try again. "
        "Scripts should authenticate with Authorization: Token <key>.",
    )
