"""Helpers for driving the live consumers in-process: the routing wrapped in a user, one
fresh event loop per test with its feeds stopped at the end, and waiting with timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
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
    pk: int = 1
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False


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


async def handshake_refused(application: Any, path: str, **options: Any) -> bool:
    """Whether a socket on `path` is closed before it is accepted (a browser sees HTTP 403)."""
    communicator = WebsocketCommunicator(application, path, **options)
    accepted, _ = await communicator.connect(timeout=WAIT_SECONDS)
    if accepted:
        await communicator.disconnect(timeout=WAIT_SECONDS)
    elif not communicator.future.done():
        # The server's side of a closed handshake: the application hears the socket is gone.
        await communicator.disconnect(timeout=WAIT_SECONDS)
    return not accepted


@dataclass(frozen=True)
class Refusal:
    """How a socket was turned away: the messages it was sent first, then its close code."""

    code: int
    messages: list[Message]

    @property
    def message(self) -> str:
        """The text of the one error message the socket was sent."""
        [error] = self.messages
        assert error["type"] == "error", error
        return error["message"]


async def closed_with(communicator: WebsocketCommunicator, *, timeout: float = WAIT_SECONDS) -> Refusal:
    """Read an open socket until the server closes it: what it was sent on the way, and the code."""
    messages: list[Message] = []
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return Refusal(output.get("code", 1000), messages)
        assert output["type"] == "websocket.send", output
        messages.append(json.loads(output["text"]))


async def refusal(application: Any, path: str, **options: Any) -> Refusal:
    """How a socket on `path` is refused: accepted, told why, then closed (fails if it stays open)."""
    communicator = WebsocketCommunicator(application, path, **options)
    accepted, code = await communicator.connect(timeout=WAIT_SECONDS)
    assert accepted, f"{path} was refused at the handshake (close code {code}), without a message"
    found = await closed_with(communicator)
    if not communicator.future.done():
        await communicator.disconnect(timeout=WAIT_SECONDS)
    return found


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
