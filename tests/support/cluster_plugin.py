"""pytest plugin: a real local Redis Cluster (tests/support/redis_cluster.py) for the tests that
ask for one, started once for the run on first use and stopped at its end.

Fixtures: `redis_cluster` (3 primaries, no replicas, shared by the run), `cluster_client` (a
redis-py RedisCluster on it, every primary flushed before the test) and `replicated_cluster`
(a fresh cluster with one replica per primary for one test, which may kill its nodes). Every
test that uses one of them is marked `cluster`, so a lane is `-m cluster` or `-m "not cluster"`.

`--redis-cluster` (or WEATHERSTREAMS_TEST_REDIS=cluster) asks for a cluster run: the suite's
own Redis is to be the cluster (`cluster_requested(config)`, `session_cluster()`); the cluster
fixtures work with or without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis.cluster

from tests.support.redis_cluster import LocalCluster

REDIS_CHOICES = ("single", "cluster")
CLUSTER_FIXTURES = {"redis_cluster", "cluster_client", "replicated_cluster"}
_cluster: LocalCluster | None = None
_startup_seconds: float | None = None
_startup_error: Exception | None = None


def requested_by_environment() -> bool:
    """True if WEATHERSTREAMS_TEST_REDIS says "cluster" (empty or "single": the single node)."""
    chosen = os.environ.get("WEATHERSTREAMS_TEST_REDIS") or "single"
    if chosen not in REDIS_CHOICES:
        raise pytest.UsageError(f"WEATHERSTREAMS_TEST_REDIS={chosen!r}: expected one of {', '.join(REDIS_CHOICES)}")
    return chosen == "cluster"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        default=None,
        help="a cluster run: the suite on a real local Redis Cluster (also WEATHERSTREAMS_TEST_REDIS=cluster)",
    )


def cluster_requested(config: pytest.Config) -> bool:
    """Whether this run was asked to be a cluster run (`--redis-cluster` or the environment)."""
    # The default also covers a late registration (tests/cluster/conftest.py), which has no option.
    return bool(config.getoption("redis_cluster", default=None) or requested_by_environment())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: runs on a real local Redis Cluster (tests/support/redis_cluster.py)")
    requested_by_environment()  # a misspelt value stops the run here, not at first use


def session_cluster() -> LocalCluster:
    """The run's one 3-primary cluster, started on first call and stopped when pytest ends."""
    global _cluster, _startup_seconds, _startup_error
    if _startup_error is not None:  # one failed start per run, not one per test
        raise _startup_error
    if _cluster is None:
        started = time.monotonic()
        try:
            _cluster = LocalCluster().start()
        except Exception as error:
            _startup_error = error
            raise
        _startup_seconds = time.monotonic() - started
    return _cluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("cluster")


def pytest_report_header(config: pytest.Config) -> str:
    mode = "requested (--redis-cluster)" if cluster_requested(config) else "for the tests that ask for one"
    return f"redis cluster: {mode}, started on first use"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _cluster is not None:
        terminalreporter.write_line(
            f"redis cluster: nodes on ports {_cluster.ports}, "
            f"started in {_startup_seconds:.1f} s ({_cluster.directory})"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


@pytest.fixture(scope="session")
def redis_cluster() -> LocalCluster:
    """The run's shared cluster: 3 primaries, no replicas; a test must not kill its nodes."""
    return session_cluster()


@pytest.fixture
def cluster_client(redis_cluster: LocalCluster) -> Iterator[redis.cluster.RedisCluster]:
    """A redis-py RedisCluster on the shared cluster, every primary empty at the start of the test."""
    redis_cluster.wait_healthy()
    redis_cluster.flushall()
    client = redis_cluster.client()
    yield client
    client.close()


@pytest.fixture
def replicated_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own for one test: 3 primaries with one replica each, node timeout 1 s."""
    with LocalCluster(replicas=1) as cluster:
        yield cluster
