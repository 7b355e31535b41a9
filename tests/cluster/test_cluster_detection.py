"""On a real cluster: the app knows it is one (INFO cluster), and start-up says what to set
(a single node for the queue) instead of failing later."""

from __future__ import annotations

import os
import subprocess
import sys

from streams_app.gateway.clients import QUEUE_NEEDS_ONE_NODE, server_is_cluster
from tests.support.workers import ROOT


def test_any_node_of_a_cluster_is_known_as_one(redis_cluster):
    assert all(server_is_cluster(node.url) for node in redis_cluster.nodes)


def test_start_up_on_a_cluster_says_what_to_set_and_starts_once_it_is_set(redis_cluster, redis_server):
    def run(*command: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            # Only the queue this test gives (a cluster run has QUEUE_REDIS_URL in the environment).
            env={
                **{k: v for k, v in os.environ.items() if k != "QUEUE_REDIS_URL"},
                "REDIS_URL": redis_cluster.url,
                **env,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )

    without_queue = run("run_consumer", "alice")
    assert without_queue.returncode != 0 and QUEUE_NEEDS_ONE_NODE in without_queue.stderr
    assert "Traceback" not in without_queue.stderr
    with_queue = run("check", QUEUE_REDIS_URL=redis_server.url)
    assert with_queue.returncode == 0, with_queue.stderr
