"""The edge of the JSON API: authentication (session or token), allowed methods, JSON bodies,
and domain errors as `{"error": message}` answers (see web/answers.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.http import HttpRequest, JsonResponse

from streams_app.errors import BadInput, DomainError
from streams_app.web.answers import domain_error_answer, error_answer

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
