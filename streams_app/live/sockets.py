"""What every live page's socket does, whatever it watches: refuses with a message and a close
code, answers frames it cannot use with an error message, holds at most WEATHERSTREAMS_LIVE_SOCKETS_PER_USER
per user, and on any failure lets go of everything it holds (feed, channel-layer group,
background tasks) and closes with 1011, so nothing it started outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Hashable

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from streams_app.conf import app_settings
from streams_app.errors import DomainError
from streams_app.live import registry as registries
from streams_app.live.messages import (
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_UNAUTHENTICATED,
    Message,
    binary_frame_refused,
    close_code_for,
    error_message,
    frame_not_json,
    frame_too_deep,
    frame_too_long,
    not_signed_in,
    server_failed,
    too_many_sockets,
    unknown_request,
)

logger = logging.getLogger("streams_app.live")

# Where weatherstreams.asgi keeps the server's own `send` in a WebSocket's scope.
SERVER_SEND = "weatherstreams.server_send"
# The pages send tiny requests ({"action": "resync"}); anything longer is not one of them, and
# is refused before it is parsed.
MAX_FRAME_CHARACTERS = 4096
# How long letting go waits for the socket's background tasks to end once cancelled, asking again
# this often.
RELEASE_WAIT_SECONDS = 1.0
RECANCEL_EVERY_SECONDS = 0.05


def _client_gone(scope: dict, gone: OSError) -> None:
    """A send found the connection gone (the page closed or navigated away while it was being
    sent to: uvicorn raises ClientDisconnected, an OSError; nothing in a live socket does I/O but
    its sends, Redis failures arrive as DomainError): an everyday end, not a failure."""
    logger.info("live socket %s: the client went away (%s)", scope.get("path"), gone.__class__.__name__)


class Refused(Exception):
    """Raised while connecting: the socket is accepted, sent `message`, then closed with `code`."""

    def __init__(self, code: int, message: Message) -> None:
        super().__init__(message.get("message", ""))
        self.code = code
        self.message = message


def signed_in(scope: dict) -> bool:
    """Whether the socket's user (set by AuthMiddlewareStack) is logged in and active."""
    user = scope.get("user")
    return user is not None and user.is_authenticated and user.is_active


class LiveSocket(AsyncJsonWebsocketConsumer):
    """A live page's socket: subclasses connect (raising Refused or a DomainError to refuse),
    answer `ACTIONS` in `receive_json`, and let go of what they hold in `leave`."""

    ACTIONS: tuple[str, ...] = ("resync",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accepted = False
        self.released = False
        self.background: set[asyncio.Task] = set()
        self._counted: tuple[registries.FeedRegistry, Hashable] | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await super().__call__(scope, receive, send)
        except OSError as gone:
            _client_gone(scope, gone)
        except Exception:
            # connect, a frame, a channel-layer event or the layer's own receive failed: once logged,
            # the socket is closed and the consumer ends, instead of a traceback and a feed left running.
            logger.exception("live socket %s failed; closing it", scope.get("path"))
            await self.fail()
        finally:
            await self.release()

    # --- connecting and refusing ---------------------------------------------------------

    async def websocket_connect(self, message: dict) -> None:
        try:
            await self.connect()
        except Refused as refusal:
            await self.refuse(refusal.code, refusal.message)
            raise StopConsumer() from None
        except DomainError as error:
            await self.refuse(close_code_for(error), error_message(error.message))
            raise StopConsumer() from None

    async def accept(self, subprotocol: str | None = None, headers=None) -> None:
        self.accepted = True
        await super().accept(subprotocol, headers)

    def require_signed_in(self) -> None:
        """Refuse (4401) a socket whose session is not a logged-in, active user."""
        if not signed_in(self.scope):
            raise Refused(CLOSE_UNAUTHENTICATED, not_signed_in())

    def count_socket(self) -> None:
        """Count this socket against its user's cap in this process; refuse (4429) when they are at it."""
        owner = self.scope["user"].pk
        found = registries.registry()
        if not found.take_socket(owner):
            raise Refused(CLOSE_TOO_MANY_SOCKETS, too_many_sockets(app_settings().live_sockets_per_user))
        self._counted = (found, owner)

    async def refuse(self, code: int, message: Message) -> None:
        """Let go of everything, tell the page why (accepting first, so the page can read it), close with `code`."""
        await self.release()
        if not self.accepted:
            await self.accept()
        await self.send_json(message)
        await self.close(code)

    async def fail(self) -> None:
        """After a failure: let go of everything, then tell the page and close with 1011 (it reconnects)."""
        await self.release()
        with contextlib.suppress(Exception):  # the socket may be gone already
            if not self.accepted:
                await self.accept()
            await self.send_json(server_failed())
            await self.close(CLOSE_SERVER_ERROR)

    # --- frames from the page ------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if text_data is None:
            await self.send_json(binary_frame_refused())
            return
        if len(text_data) > MAX_FRAME_CHARACTERS:
            await self.send_json(frame_too_long(len(text_data), MAX_FRAME_CHARACTERS))
            return
        try:
            content = json.loads(text_data)
        except RecursionError:
            await self.send_json(frame_too_deep())
            return
        except ValueError as error:
            await self.send_json(frame_not_json(str(error)))
            return
        if not isinstance(content, dict) or content.get("action") not in self.ACTIONS:
            await self.send_json(unknown_request(list(self.ACTIONS)))
            return
        await self.receive_json(content, **kwargs)

    # --- background work and letting go --------------------------------------------------

    def run_in_background(self, work: Callable[[], Awaitable[None]]) -> asyncio.Task:
        """Run `work` in a task of this socket: cancelled when the socket goes; its failure closes the socket."""
        task = asyncio.get_running_loop().create_task(self._guarded(work))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    @property
    def server_send(self) -> Callable[[dict], Awaitable[None]]:
        """The server's own `send`, for events that need nothing of the middleware between (a live
        message: no session to save, no cookie to set); weatherstreams.asgi puts it in the scope, and
        without it (a test's communicator) this is the consumer's `send` as Channels gave it."""
        return self.scope.get(SERVER_SEND) or self.base_send

    async def _guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Refused as refusal:
            await self.refuse(refusal.code, refusal.message)
        except OSError as gone:
            _client_gone(self.scope, gone)
            await self.release()
        except Exception:
            logger.exception("live socket %s failed; closing it", self.scope.get("path"))
            await self.fail()

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def release(self) -> None:
        """Let go of everything the socket holds, once: background tasks, feed or group, its place in the cap."""
        if self.released:
            return
        self.released = True
        current = asyncio.current_task()
        tasks = [task for task in self.background if task is not current]
        for task in tasks:
            task.cancel()
        if self._counted is not None:
            found, owner = self._counted
            found.give_back_socket(owner)
            self._counted = None
        try:
            await self.leave()
        except Exception:
            logger.warning("live socket %s could not let go of everything", self.scope.get("path"), exc_info=True)
        deadline = asyncio.get_running_loop().time() + RELEASE_WAIT_SECONDS
        while tasks and asyncio.get_running_loop().time() < deadline:
            _, pending = await asyncio.wait(tasks, timeout=RECANCEL_EVERY_SECONDS)
            tasks = list(pending)
            for task in tasks:
                task.cancel()  # redis-py can lose a cancellation that lands mid-command: ask again

    async def leave(self) -> None:
        """Let go of what the subclass holds (its feed, its channel-layer group); called once."""
