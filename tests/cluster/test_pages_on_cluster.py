"""The pages on a real Redis Cluster (REDIS_URL at one of its nodes, the queue on the single
redis-server): what an operator sees of the cluster itself."""

from __future__ import annotations

import pytest


@pytest.fixture
def web_on_cluster(web, settings, cluster_client, redis_cluster, redis_server):
    """The logged-in test client, the app's streams on the shared cluster."""
    settings.REDIS_URL = redis_cluster.url
    settings.QUEUE_REDIS_URL = redis_server.url
    settings.QUEUE_REDIS_URL_GIVEN = True
    return web


def test_the_streams_page_lists_streams_of_every_node_and_each_primarys_memory(
    web_on_cluster, cluster_client, redis_cluster, redis_server
):
    names = redis_cluster.names_on_each_primary("city")
    for name in names:
        cluster_client.xadd(name, {"temperature": "30"})

    page = web_on_cluster.get("/streams/")

    assert page.status_code == 200
    body = page.content.decode()
    assert all(f">{name}</a>" in body for name in names)
    assert f"{len(redis_cluster.primaries)} primaries:" in body
    assert all(f"<code>127.0.0.1:{node.port}</code>" in body for node in redis_cluster.primaries)
    assert f"{redis_server.engine.name} {redis_server.engine.version} cluster" in body
