"""The WebSocket origin check: a socket is let through only when its Origin is the site's own
(scheme, host and port, as the request reached this server) or one of CSRF_TRUSTED_ORIGINS.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS only, so
any port on an allowed host (another program on 127.0.0.1, say) could open the live pages'
sockets with the user's cookies. Here the site's own origin is read the way Django reads it
for CSRF: the Host header (or X-Forwarded-Host with USE_X_FORWARDED_HOST), which must be in
ALLOWED_HOSTS, and TLS from the scope or from SECURE_PROXY_SSL_HEADER.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}
# What ALLOWED_HOSTS means when it is empty in debug (as Django's HttpRequest.get_host does).
DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]

Scope = dict[str, Any]
Application = Callable[[Scope, Callable, Callable], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Origin:
    """A web origin: scheme, lower-case host (IPv6 without brackets) and port (the default filled in)."""

    scheme: str
    host: str
    port: int


def parse_origin(value: str) -> Origin | None:
    """`value` as an origin (`scheme://host[:port]`, nothing more); None when it is not one."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return Origin(parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme])


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_secure(scope: Scope) -> bool:
    if scope.get("scheme") in {"wss", "https"}:
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    meta_name, secure_value = proxy_header
    name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
    value = _header(scope, name)
    # Django reads the first of several comma-separated values (proxies may append theirs).
    return value is not None and value.split(",", 1)[0].strip() == secure_value


def _host(scope: Scope) -> str | None:
    if settings.USE_X_FORWARDED_HOST and (forwarded := _header(scope, b"x-forwarded-host")):
        return forwarded.split(",", 1)[0].strip()
    if (host := _header(scope, b"host")) is not None:
        return host
    server = scope.get("server")
    if server and server[1] is not None:
        name = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        return f"{name}:{server[1]}"
    return None


def own_origin(scope: Scope) -> Origin | None:
    """The origin the socket's request was sent to; None when its host is not in ALLOWED_HOSTS."""
    host = _host(scope)
    if not host:
        return None
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or (DEBUG_HOSTS if settings.DEBUG else [])
    if not domain or not validate_host(domain, allowed):
        return None
    return parse_origin(f"{'https' if _is_secure(scope) else 'http'}://{host}")


def _trusted(origin: Origin) -> bool:
    """Whether `origin` is listed in CSRF_TRUSTED_ORIGINS (a `*.` host there means any subdomain, as for CSRF)."""
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        scheme, _, rest = entry.partition("://")
        wildcard = rest.startswith("*.")
        trusted = parse_origin(f"{scheme}://{rest[1:] if wildcard else rest}")
        if trusted is None or (trusted.scheme, trusted.port) != (origin.scheme, origin.port):
            continue
        if trusted.host == origin.host or (wildcard and is_same_domain(origin.host, trusted.host)):
            return True
    return False


def origin_allowed(scope: Scope) -> bool:
    """Whether the socket's Origin header is the site's own origin or a trusted one (no header: no)."""
    raw = _header(scope, b"origin")
    origin = parse_origin(raw) if raw is not None else None
    if origin is None:
        return False
    return origin == own_origin(scope) or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: a WebSocket whose origin is not allowed is refused at the handshake (HTTP 403)."""

    def __init__(self, application: Application) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator only guards WebSocket connections.")
        if origin_allowed(scope):
            await self.application(scope, receive, send)
            return
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
