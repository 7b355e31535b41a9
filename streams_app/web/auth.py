"""API authentication for scripts: `Authorization: Token <key>` (or `Bearer <key>`).

Browser sessions keep working as usual, with CSRF checks; a request that carries a valid
token is exempt from CSRF, since no browser sends that header on its own.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from streams_app.models import ApiToken, hash_token
from streams_app.web.answers import error_answer

SCHEMES = {"token", "bearer"}


class ApiTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            if scheme.lower() in SCHEMES:
                token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key.strip())).first()
                if token is None or not token.user.is_active:
                    return error_answer(request, 401, "The API token is not valid.")
                request.user = token.user
                request._dont_enforce_csrf_checks = True
                ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now())
        return self.get_response(request)
