"""Helpers for driving the live consumers in-process: the routing wrapped in a user, one
fresh event loop per test with its feeds stopped at the end, and waiting with timeouts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from streams_app.live.registry import close_feeds
from streams_app.live.routing import websocket_urlpatterns

Message = dict[str, Any]
WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class SignedInUser:
    """What the consumers ask of `scope["user"]`, as AuthMiddlewareStack leaves it for a logged-in user."""

    username: str = "ana"
    is_authenticated: bool = True
    is_active: bool = True


class WithUser:
    """ASGI middleware that puts `user` into every scope (a logged-in session, without the session)."""

    def __init__(self, inner: Any, user: Any) -> None:
        self.inner = inner
        self.user = user

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.inner({**scope, "user": self.user}, receive, send)


def live_application(user: Any = None) -> WithUser:
    """The live pages' WebSocket routing as a user (by default, a signed-in one) reaches it."""
    return WithUser(URLRouter(websocket_urlpatterns), SignedInUser() if user is None else user)


def run_live(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run `scenario` in a fresh event loop, then stop that loop's feeds, so none outlives the test.

    async_to_sync runs thread-sensitive database calls on this (the test's) thread.
    """

    async def scenario_then_close_feeds() -> None:
        # The channel layer's first connection is made here, not by a consumer: redis-py loses
        # a cancellation that lands while it is connecting, and a socket closed that early
        # (a refused handshake) would then hold its consumer for the layer's 5 s BZPOPMIN.
        await get_channel_layer().group_discard("warm-up", "warm-up.channel")
        try:
            await scenario()
        finally:
            await close_feeds()

    async_to_sync(scenario_then_close_feeds)()


@contextlib.asynccontextmanager
async def open_socket(application: Any, path: str, **options: Any) -> AsyncIterator[WebsocketCommunicator]:
    """A socket on `path`, accepted; disconnected when the block ends."""
    communicator = WebsocketCommunicator(application, path, **options)
    accepted, code = await communicator.connect(timeout=WAIT_SECONDS)
    assert accepted, f"{path} was refused with close code {code}"
    try:
        yield communicator
    finally:
        if not communicator.future.done():
            await communicator.disconnect(timeout=WAIT_SECONDS)


async def close_code(application: Any, path: str, **options: Any) -> int:
    """The code a socket on `path` is closed with before it is accepted (fails if it is accepted)."""
    communicator = WebsocketCommunicator(application, path, **options)
    accepted, code = await communicator.connect(timeout=WAIT_SECONDS)
    # The server's side of a closed handshake: the application hears the socket is gone.
    await communicator.disconnect(timeout=WAIT_SECONDS)
    assert not accepted, f"{path} was accepted"
    return code


async def receive_until(
    communicator: WebsocketCommunicator, done: Callable[[Message], bool], *, timeout: float = WAIT_SECONDS
) -> list[Message]:
    """Messages received until one for which `done` is true (the last one), within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    received: list[Message] = []
    while not received or not done(received[-1]):
        remaining = deadline - loop.time()
        assert remaining > 0, f"gave up waiting after {timeout} s; received {received}"
        received.append(await communicator.receive_json_from(timeout=remaining))
    return received
