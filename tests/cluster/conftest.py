"""Fixtures of the cluster tests: a StreamStore on the shared cluster, and one on the single node to compare with."""

from __future__ import annotations

import pytest

from streams_app.gateway.clients import connect, connect_cluster
from streams_app.gateway.streams import StreamStore


@pytest.fixture
def cluster_streams(cluster_client, redis_cluster):
    """A StreamStore on the app's own cluster client (connect_cluster), every primary empty."""
    client = connect_cluster(redis_cluster.url)
    yield StreamStore(client)
    client.close()


@pytest.fixture
def streams(redis_server, redis_client):
    """The same store on the suite's single Redis, to compare with."""
    client = connect(redis_server.url)
    yield StreamStore(client)
    client.close()
