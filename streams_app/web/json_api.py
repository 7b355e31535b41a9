"""The edge of the JSON API: authentication (session or token), allowed methods, CSRF for
browser sessions, bounded JSON bodies, and domain errors as `{"error": message}` answers
(see web/answers.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from streams_app.errors import BadInput, DomainError
from streams_app.team.audit import Actor
from streams_app.web.answers import domain_error_answer, error_answer

View = Callable[..., JsonResponse]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
MAX_BODY_BYTES = 1 << 20
MAX_BODY_DEPTH = 32
# The CSRF check of Django's middleware, run by us after authentication (see api_view).
_csrf = CsrfViewMiddleware(lambda request: None)


def api_view(*methods: str) -> Callable[[View], View]:
    """Allowed methods, then authentication (session or token), then CSRF for a browser
    session's writes; domain errors become their answers.

    Django's CSRF middleware would answer an anonymous write with 403 before we could say
    401, so API views are exempt from it and run its check themselves once the caller is
    known (a request with a valid token needs none: no browser sends that header on its own).
    """

    def decorate(view: View) -> View:
        def check_csrf(request: HttpRequest) -> JsonResponse | None:
            return _csrf.process_view(request, view, (), {})

        @csrf_exempt
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
            if request.method not in SAFE_METHODS and (refused := check_csrf(request)) is not None:
                return refused
            try:
                return view(request, *args, **kwargs)
            except DomainError as error:
                return domain_error_answer(request, error)

        return wrapper

    return decorate


def api_actor(request: HttpRequest) -> Actor:
    return Actor(request.user, "api")


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object: at most 1 MiB and 32 levels deep, or BadInput."""
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadInput(f"The request body is too large: at most {MAX_BODY_BYTES:,} bytes.")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise BadInput("The request body must be a JSON object.")
    if _depth(body) > MAX_BODY_DEPTH:
        raise BadInput(f"The request body is nested too deeply: at most {MAX_BODY_DEPTH} levels.")
    return body


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_BODY_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
