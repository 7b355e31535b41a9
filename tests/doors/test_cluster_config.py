"""Configuration for Redis Cluster: REDIS_CLUSTER forces or forbids cluster mode (unset, the
server says), QUEUE_REDIS_URL is the one-node Redis of the job queue and the Channels layer,
and a set-up that cannot work stops start-up with one line saying what to set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams_app.gateway.clients import (
    QUEUE_NEEDS_ONE_NODE,
    cluster_mode,
    server_is_cluster,
    startup_problem,
    version_too_old,
)
from tests.support.redis_server import free_port
from tests.support.workers import ROOT
from weatherstreams.derived_settings import redis_dependent_settings


def test_the_queue_and_the_channel_layer_use_queue_redis_url_which_defaults_to_redis_url():
    alone = redis_dependent_settings("redis://streams:6379/0")
    assert alone["RQ_QUEUES"]["default"]["URL"] == "redis://streams:6379/0"
    assert alone["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]["address"] == "redis://streams:6379/0"
    split = redis_dependent_settings("redis://node-1:7000/0", queue_url="redis://queue:6379/1")
    assert split["REDIS_URL"] == "redis://node-1:7000/0"
    assert split["RQ_QUEUES"]["default"]["URL"] == "redis://queue:6379/1"
    assert split["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]["address"] == "redis://queue:6379/1"


@pytest.mark.single_node
def test_a_single_node_is_detected_as_not_a_cluster(redis_server):
    assert server_is_cluster(redis_server.url) is False
    assert cluster_mode() is False
    assert startup_problem() is None
    assert server_is_cluster(f"redis://127.0.0.1:{free_port()}/0") is None  # nobody to ask


@pytest.mark.parametrize(
    ("forced", "queue_given", "problem"),
    [(True, False, QUEUE_NEEDS_ONE_NODE), (True, True, None), (False, False, None)],
)
def test_redis_cluster_forces_or_forbids_cluster_mode(settings, redis_server, forced, queue_given, problem):
    settings.REDIS_CLUSTER = forced
    settings.QUEUE_REDIS_URL = redis_server.url
    settings.QUEUE_REDIS_URL_GIVEN = queue_given
    assert cluster_mode() is forced
    assert startup_problem() == problem


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Only what the test gives: a cluster run's QUEUE_REDIS_URL would answer the question asked.
    inherited = {name: value for name, value in os.environ.items() if name != "QUEUE_REDIS_URL"}
    environment = {**inherited, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_start_up_stops_with_one_line_saying_what_to_set():
    worker = run("run_consumer", "alice", REDIS_CLUSTER="1")
    assert worker.returncode != 0
    assert QUEUE_NEEDS_ONE_NODE in worker.stderr and "Traceback" not in worker.stderr
    check = run("check", REDIS_CLUSTER="1")  # as rqworker and migrate run it
    assert check.returncode != 0 and "weatherstreams.E001" in check.stderr and QUEUE_NEEDS_ONE_NODE in check.stderr
    web = subprocess.run(
        [sys.executable, "-c", "import weatherstreams.asgi"],
        cwd=ROOT,
        env={
            **os.environ,
            "REDIS_CLUSTER": "1",
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "QUEUE_REDIS_URL": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert web.returncode != 0 and web.stderr.strip().endswith(QUEUE_NEEDS_ONE_NODE)


@pytest.mark.parametrize(
    ("version", "too_old"),
    [
        ("6.0.16", True),
        ("5.0.7", True),
        ("6.2.0", False),
        ("7.0.15", False),
        ("7.2.4", False),
        ("10.1", False),
        ("", False),
    ],
)
def test_versions_before_6_2_are_too_old_for_the_app(version, too_old):
    assert version_too_old(version) is too_old


def test_the_running_server_is_new_enough_to_start(redis_server):
    assert startup_problem() is None
    assert not version_too_old(redis_server.version)
