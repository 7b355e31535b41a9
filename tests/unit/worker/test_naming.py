"""One name, one process: a second worker of the same name in the same group is refused
while the first lives; a holder on this host whose process is gone is taken over at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from streams_app.gateway.keys import name_lock_key
from streams_app.worker import WorkerRefused
from streams_app.worker.naming import LockHolder, parse_holder, process_alive
from tests.unit.worker.in_process import GROUP, refuse_poison


def test_a_second_worker_of_the_same_name_is_refused_while_the_first_lives(workers):
    first = workers.run(refuse_poison)
    second = workers.start(workers.build(refuse_poison))

    second.wait()
    assert isinstance(second.error, WorkerRefused)
    assert f"pid {os.getpid()} on {first.worker.host}" in str(second.error)
    assert first.thread.is_alive()


def test_a_name_held_by_a_dead_process_on_this_host_is_taken_over(workers, redis_client, caplog):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    worker = workers.build(refuse_poison)
    token = json.dumps({"host": worker.host, "pid": dead_pid, "started": 0, "token": "earlier life"})
    redis_client.set(name_lock_key(GROUP, "alice"), token, px=60_000)

    running = workers.start(worker)

    assert running.thread.is_alive()
    assert redis_client.get(name_lock_key(GROUP, "alice")).decode() == worker.name_lock.token
    assert f"taking over the name alice from pid {dead_pid}" in caplog.text


@pytest.mark.parametrize(
    ("token", "holder"),
    [
        ('{"host": "h", "pid": 12}', LockHolder(host="h", pid=12)),
        ('{"host": "h", "pid": "x"}', LockHolder(host="h", pid=None)),
        ('{"host": "h"}', LockHolder(host="h", pid=None)),
        ("[1, 2]", None),
        ("not json", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_holder(token, holder):
    assert parse_holder(token) == holder


def test_process_alive():
    assert process_alive(os.getpid())
    assert not process_alive(0)
