"""Workers run in this process, each in a thread of its own, against the suite's real Redis
(the redis-server, or in a cluster run the cluster): built as run_consumer builds them (config
defaults from the app's settings, a WorkerIO on a worker client of their own), with short
blocking reads and heartbeats so the tests can wait for what they do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from streams_app.gateway.clients import worker_client
from streams_app.gateway.keys import heartbeat_key
from streams_app.gateway.worker_io import WorkerIO
from streams_app.worker import Worker
from streams_app.worker.build import worker_config
from streams_app.worker.config import WorkerConfig
from streams_app.worker.message import Handler
from tests.support.workers import wait_until

STREAM = "chennai"
GROUP = "mygroup"


@dataclass
class RunningWorker:
    """A Worker whose run() goes on in a thread; `exit_code` or `error` once it returned."""

    worker: Worker
    thread: threading.Thread
    exit_code: int | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask for a warm stop and wait for run() to return; its exit code."""
        self.worker.request_stop()
        return self.wait(timeout)

    def wait(self, timeout: float = 10.0) -> int | None:
        """Wait for run() to return by itself; its exit code (None if it raised)."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.worker.config.name} did not stop within {timeout} s"
        return self.exit_code


class InProcessWorkers:
    """Builds and runs workers; each gets its own client from `connect` (default: the app's
    worker client, on REDIS_URL); `client` is the tests' own, on the same Redis."""

    def __init__(self, client: redis.Redis, connect: Callable[[WorkerConfig], redis.Redis] | None = None) -> None:
        self.client = client
        self.connect = connect or (lambda config: worker_client(block_ms=config.block_ms))
        self.running: list[RunningWorker] = []

    def build(self, handler: Handler, *, name: str = "alice", **overrides: object) -> Worker:
        """A worker on STREAM in GROUP, reading from the start of the stream, blocking 50 ms at most."""
        chosen = {"streams": (STREAM,), "start_id": "0", "block_ms": 50, "heartbeat_seconds": 0.1, **overrides}
        config = worker_config(name=name, **chosen)
        return Worker(config, handler, WorkerIO(self.connect(config)))

    def start(self, worker: Worker) -> RunningWorker:
        """Run `worker` in a thread; returns once its heartbeat says it is running."""
        thread = threading.Thread(target=lambda: self._run(running), name=worker.config.name, daemon=True)
        running = RunningWorker(worker, thread)
        self.running.append(running)
        thread.start()
        wait_until(
            lambda: self.state(worker) == "running" or running.done.is_set(),
            timeout=10,
            what=f"{worker.config.name} to start",
        )
        return running

    def run(self, handler: Handler, **overrides: object) -> RunningWorker:
        """Build a worker with `handler` and start it."""
        return self.start(self.build(handler, **overrides))

    def state(self, worker: Worker) -> str | None:
        """The state its heartbeat hash says (None while there is none)."""
        raw = self.client.hget(heartbeat_key(worker.config.group, worker.config.name), "state")
        return None if raw is None else raw.decode()

    def stop_all(self) -> None:
        for running in self.running:
            if running.thread.is_alive():
                running.stop()
            running.worker.io.client.close()

    @staticmethod
    def _run(running: RunningWorker) -> None:
        try:
            running.exit_code = running.worker.run()
        except BaseException as error:  # kept for the test to see (WorkerRefused, SystemExit)
            running.error = error
        finally:
            running.done.set()


def add_readings(client: redis.Redis, count: int, *, poison: set[int] = frozenset(), stream: str = STREAM) -> list[str]:
    """`count` readings (n=0, 1, ...); those in `poison` are marked for `refuse_poison`."""
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        fields = {"n": str(n), "temperature": "21", "humidity": "10"}
        if n in poison:
            fields["poison"] = "1"
        pipe.xadd(stream, fields)
    return [entry_id.decode() for entry_id in pipe.execute()]


def refuse_poison(message) -> None:
    """A handler that refuses entries marked poison and accepts the others."""
    if message.fields.get("poison") == "1":
        raise ValueError(f"poison entry {message.id}")


def pending_ids(client: redis.Redis, stream: str = STREAM, group: str = GROUP) -> list[str]:
    """The IDs pending in the group, oldest first."""
    try:
        rows = client.xpending_range(stream, group, "-", "+", 1000)
    except redis.ResponseError:
        return []
    return [row["message_id"].decode() for row in rows]
