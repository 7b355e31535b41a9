"""On a real cluster: the app knows it is one (INFO cluster), and start-up says what to set
instead of failing later with MOVED or CROSSSLOT."""

from __future__ import annotations

import os
import subprocess
import sys

from streams_app.gateway.clients import CLUSTER_UNSUPPORTED, QUEUE_NEEDS_ONE_NODE, server_is_cluster
from tests.support.workers import ROOT


def test_any_node_of_a_cluster_is_known_as_one(redis_cluster):
    assert all(server_is_cluster(node.url) for node in redis_cluster.nodes)


def test_a_worker_on_a_cluster_says_what_to_set(redis_cluster, redis_server):
    def run_consumer(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "run_consumer", "alice"],
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": redis_cluster.url, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    without_queue = run_consumer()
    assert without_queue.returncode != 0 and QUEUE_NEEDS_ONE_NODE in without_queue.stderr
    with_queue = run_consumer(QUEUE_REDIS_URL=redis_server.url)
    assert with_queue.returncode != 0 and CLUSTER_UNSUPPORTED in with_queue.stderr
    assert "Traceback" not in without_queue.stderr + with_queue.stderr
