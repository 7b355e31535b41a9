"""How a worker stops and waits: the first SIGTERM/SIGINT asks for a warm stop (finish the
entry in hand, ack what is done, read nothing new), a second one stops at once; capped
exponential backoff; sleeps that end early when asked to stop."""

from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger("streams_app.worker")


class ReadInterrupted(BaseException):
    """Raised by the signal handler to cut a blocking read short (a BaseException, so no
    `except Exception` on the way swallows it)."""


class StopRequest:
    """Whether the worker was asked to stop, and the signal handlers that ask."""

    def __init__(self) -> None:
        self.requested = False
        self._blocking = False
        self._interruptible = _Interruptible(self)

    def request(self) -> None:
        """Ask for a warm stop: the entry in hand is finished, nothing new is read."""
        self.requested = True

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT: the first asks for a warm stop, the second exits at once (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def interruptible(self) -> _Interruptible:
        """A block during which a first signal also cuts a blocking read short (ReadInterrupted)."""
        return self._interruptible

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            logger.warning("%s again: stopping at once; unacked entries stay pending", name)
            raise SystemExit(1)
        logger.info("%s: finishing the entry in hand, then stopping (send it again to stop at once)", name)
        self.request()
        if self._blocking:
            raise ReadInterrupted()


class _Interruptible:
    """StopRequest.interruptible's block (a class, not a generator: it is entered at every read)."""

    __slots__ = ("_stop",)

    def __init__(self, stop: StopRequest) -> None:
        self._stop = stop

    def __enter__(self) -> None:
        self._stop._blocking = True

    def __exit__(self, *exc_info: object) -> None:
        self._stop._blocking = False


class Backoff:
    """Capped exponential backoff with jitter."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next_delay(self) -> float:
        """The next delay in seconds: about twice the last one, at most `cap`."""
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        """Start again from `base` (after a success)."""
        self.attempt = 0


def sleep_unless(stop: Callable[[], bool], seconds: float) -> None:
    """Sleep `seconds`, or less if `stop()` becomes true (checked every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while not stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, 0.1))
