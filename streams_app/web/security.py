"""Browser-facing hardening: the Content-Security-Policy of every response (django-csp's, with
what only the request knows) and the answer to a login locked out by django-axes."""

from __future__ import annotations

from datetime import timedelta

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

# The django-rq dashboard's templates carry static inline code: one script (the job lists'
# "select all" actions), one onclick handler, three <style> blocks and two style attributes.
# These hashes allow exactly those, under /admin/rq/ only; tests/doors/test_hardening.py fails
# when a django-rq upgrade changes them. ('unsafe-hashes' lets attributes match a hash; it
# allows nothing by itself.) The job page's clickable result rows use onclick="…{% url %}…",
# which no hash can allow: each row's own link still works.
DJANGO_RQ_PREFIX = "/admin/rq/"
DJANGO_RQ_ALLOWANCES: dict[str, list[str]] = {
    "script-src": [
        "'unsafe-hashes'",
        "'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='",
        "'sha256-YF5030gOyrxuZL39S2XjFyPnqWLYCeChn+VrXHUbid4='",
    ],
    "style-src": [
        "'unsafe-hashes'",
        "'sha256-k21rurKGtu5SGB1OFBbco10qy802mANKUYnLClIu1eQ='",
        "'sha256-BSTKIYoPCaklkJ9YS/ZVYuKW8e+DG8jZJCXznBzHjgg='",
        "'sha256-KKjBAGERxCMkpnyRzzx30Ft5uJyWEE4TggCMJ9MJhMw='",
        "'sha256-3HT4TFoCN6UZR/IBz5IGZ/l8VEv+BIOqCR558/XA3Jg='",
        "'sha256-v5MY146GJAjl1QbCe2MklIw9r0xCNOWCEWSPd53tlgQ='",
    ],
}
LOCKOUT_STATUS = 429


def websocket_origin(request: HttpRequest) -> str | None:
    """The ws:// or wss:// origin of this page's own host, which its live updates connect to."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy from settings, plus this host's WebSocket origin and the django-rq dashboard's allowances."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update: dict[str, list[str]] = {key: list(value) for key, value in (parts.update or {}).items()}
        # 'self' covers same-host WebSockets in CSP Level 3 browsers only; older ones need the origin.
        if origin := websocket_origin(request):
            update.setdefault("connect-src", []).append(origin)
        if request.path_info.startswith(DJANGO_RQ_PREFIX):
            for directive, sources in DJANGO_RQ_ALLOWANCES.items():
                update.setdefault(directive, []).extend(sources)
        parts.update = update
        return parts


def lockout_minutes() -> int:
    """How long a locked-out username and address stay locked, in whole minutes."""
    cool_off = settings.AXES_COOLOFF_TIME
    return max(1, round(cool_off.total_seconds() / 60)) if isinstance(cool_off, timedelta) else 1


def lockout_message() -> str:
    """What the login page says to a locked-out username and address."""
    minutes = lockout_minutes()
    return (
        f"Too many failed attempts to log in as this user from your address: logging in is blocked "
        f"for {minutes} minutes. Try again later, or ask an administrator to unlock it."
    )


def lockout_response(request: HttpRequest, *args: object) -> HttpResponse:
    """The login page with the lockout message (429), whichever login form was locked out (axes' lockout callable)."""
    username = request.POST.get("username", "") if request.method == "POST" else ""
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": lockout_message(), "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=LOCKOUT_STATUS)
