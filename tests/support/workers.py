"""Real worker processes for the tests, and a checker that proves nothing was lost.

What the record handler processed is kept apart from the streams (see worker_handlers.py):
`ledger` and `processed_count` read it from `records`, the suite's redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import redis

from streams_app.gateway.keys import DEAD_LETTER_TEMPLATE, dead_letter_key
from tests.support.processes import stop_process
from tests.support.worker_handlers import PROCESSED_KEY, RECORDS_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
RECORD_HANDLER = "tests.support.worker_handlers.record"


def wait_until(predicate: Callable[[], object], *, timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class WorkerProcess:
    """`manage.py run_consumer NAME ...` in a subprocess, its output kept in a file; its streams on
    `redis_url`, what the record handler processed on `records_url` (default: `redis_url`)."""

    def __init__(
        self,
        name: str,
        *args: str,
        redis_url: str,
        records_url: str | None = None,
        handler: str = RECORD_HANDLER,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"worker-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            RECORDS_URL_ENV: records_url or redis_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "run_consumer", name, "--handler", handler, *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        wait_until(
            lambda: text in self.output or self.process.poll() is not None,
            timeout=timeout,
            what=f"{text!r} from {self.name}",
        )
        assert text in self.output, (
            f"{self.name} exited ({self.process.returncode}) before saying {text!r}:\n{self.output}"
        )

    def kill(self) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        self.process.kill()
        self.process.wait()

    def terminate(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        self._log.close()


@dataclass
class Ledger:
    """What happened to every entry of the streams: processed (how often, by whom) or dead-lettered."""

    all_ids: set[tuple[str, str]]
    processed: Counter
    by_consumer: Counter
    dead: set[tuple[str, str]]

    @property
    def lost(self) -> set[tuple[str, str]]:
        return self.all_ids - set(self.processed) - self.dead

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.processed.values() if count > 1)


def ledger(
    client: redis.Redis,
    streams: list[str],
    *,
    records: redis.Redis | None = None,
    dead_letter_template: str = DEAD_LETTER_TEMPLATE,
) -> Ledger:
    """Every entry of `streams` (on `client`), what was processed (on `records`, default `client`)
    and what was dead-lettered."""
    all_ids = {(stream, entry_id.decode()) for stream in streams for entry_id, _ in client.xrange(stream)}
    processed: Counter = Counter()
    by_consumer: Counter = Counter()
    for raw in (records or client).lrange(PROCESSED_KEY, 0, -1):
        stream, entry_id, consumer = raw.decode().split("|")
        processed[(stream, entry_id)] += 1
        by_consumer[consumer] += 1
    dead = set()
    for stream in streams:
        for _, fields in client.xrange(dead_letter_key(stream, dead_letter_template)):
            dead.add((fields[b"stream"].decode(), fields[b"id"].decode()))
    return Ledger(all_ids, processed, by_consumer, dead)


def pending_count(client: redis.Redis, stream: str, group: str = "mygroup") -> int:
    try:
        return int(client.xpending(stream, group)["pending"])
    except redis.ResponseError:
        return 0


def processed_count(records: redis.Redis) -> int:
    """How many entries the record handler processed (duplicates included)."""
    return int(records.llen(PROCESSED_KEY))
