"""API authentication for scripts: `Authorization: Token <key>` (or `Bearer <key>`).

Browser sessions keep working as usual, with CSRF checks; a request that carries a valid
token is exempt from CSRF, since no browser sends that header on its own.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from streams_app.models import ApiToken, hash_token

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
                    return JsonResponse({"error": "The API token is not valid."}, status=401)
                request.user = token.user
                request._dont_enforce_csrf_checks = True
                ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now())
        return self.get_response(request)
