"""ASGI entry point: HTTP through Django, WebSockets through Channels (origin and user checked)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "weatherstreams.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from streams_app.gateway.clients import startup_problem  # noqa: E402
from streams_app.live.origins import SameOriginValidator  # noqa: E402

if problem := startup_problem():
    raise SystemExit(f"weatherstreams cannot start: {problem}")
from streams_app.live.routing import websocket_urlpatterns  # noqa: E402
from streams_app.live.sockets import SERVER_SEND  # noqa: E402


def with_server_send(inner):
    """Keep the server's own `send` in the scope (live/sockets.py SERVER_SEND): a live message goes
    to it straight, past the session middleware's `send`, which has nothing to do for a WebSocket
    message yet costs a tenth of the server's time at hundreds of tabs (bench/README.md)."""

    async def websocket(scope, receive, send):
        await inner({**scope, SERVER_SEND: send}, receive, send)

    return websocket


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Our origin check, not channels' AllowedHostsOriginValidator: it compares scheme, host and
        # port with the site's own origin (see live/origins.py).
        "websocket": with_server_send(SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
