"""The pages on a real Redis Cluster (REDIS_URL at one of its nodes, the queue on the single
redis-server): what an operator sees of the cluster itself."""

from __future__ import annotations

import pytest

from tests.support.workers import wait_until


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


@pytest.fixture
def slot_unserved(cluster_client, redis_cluster):
    """chennai's slot served by no node (CLUSTER DELSLOTS on its primary): the cluster says
    CLUSTERDOWN until the slot is given back, as after a lost primary without a replica."""
    cluster_client.xadd("chennai", {"temperature": "30", "humidity": "60"})
    owner = redis_cluster.primary_for("chennai")
    slot = redis_cluster.keyslot("chennai")
    admin = redis_cluster.node_client(owner.port)
    admin.execute_command("CLUSTER", "DELSLOTS", slot)
    yield slot
    admin.execute_command("CLUSTER", "ADDSLOTS", slot)
    admin.close()
    redis_cluster.wait_healthy()


def test_a_cluster_that_is_down_is_a_503_with_the_reason_on_pages_and_api(
    web_on_cluster, api, slot_unserved, redis_cluster
):
    owner = redis_cluster.node_client(redis_cluster.primary_for("chennai").port)

    def owner_down() -> bool:
        return owner.execute_command("CLUSTER INFO").get("cluster_state") == "fail"

    wait_until(owner_down, timeout=10, what="chennai's primary to say the cluster is down")

    page = web_on_cluster.get("/streams/chennai/")
    assert page.status_code == 503
    assert "Redis" in page.content.decode() and "Traceback" not in page.content.decode()
    answer = api.get("/api/streams/chennai/entries")
    assert answer.status_code == 503
    assert "cluster" in answer.json()["error"].lower()
    listing = api.get("/api/streams/")  # not a shorter list: the node that cannot answer is said
    assert listing.status_code == 503, listing.json()
