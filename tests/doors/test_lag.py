"""Lag where Redis 7.0 says nil: the tutorial's own flow (`xadd chennai 1 …`, `XGROUP CREATE
chennai mygroup $` from redis-cli, then new entries read by a consumer) leaves `lag` and
`entries-read` nil in the suite's redis-server (Debian's 7.0); the API and the pages still show
the lag, counted by the app. Groups the app creates carry ENTRIESREAD, so Redis knows theirs."""

from __future__ import annotations

import json
import re

import pytest

from tests.doors.test_ingest_contract import csrf_token

pytestmark = pytest.mark.django_db


def tutorial_flow(redis_client) -> None:
    """The tutorial, as typed into redis-cli, then five readings and a consumer that takes two."""
    redis_client.execute_command("XADD", "chennai", "1", "temperature", "29", "humidity", "10")
    redis_client.execute_command("XGROUP", "CREATE", "chennai", "mygroup", "$")
    for _ in range(5):
        redis_client.execute_command("XADD", "chennai", "*", "temperature", "21", "humidity", "10")
    redis_client.execute_command("XREADGROUP", "GROUP", "mygroup", "alice", "COUNT", "2", "STREAMS", "chennai", ">")


def redis_says(redis_client, group: str = "mygroup") -> dict:
    [row] = [row for row in redis_client.xinfo_groups("chennai") if row["name"] == group.encode()]
    return row


def test_redis_7_0_says_nil_in_the_tutorials_flow(redis_client):
    tutorial_flow(redis_client)

    row = redis_says(redis_client)
    assert (row["entries-read"], row["lag"]) == (None, None)


def test_the_api_answers_the_lag_redis_cannot_tell(api, redis_client):
    tutorial_flow(redis_client)

    [group] = api.get("/api/streams/chennai/groups").json()["groups"]
    assert (group["name"], group["pending"], group["lag"]) == ("mygroup", 2, 3)
    assert api.get("/api/streams/chennai/groups/mygroup").json()["lag"] == 3


def test_the_groups_page_and_the_group_page_show_the_lag(web, redis_client):
    tutorial_flow(redis_client)

    listing = web.get("/streams/chennai/groups/").content.decode()
    row = re.search(r"<tr>\s*<td data-label=\"Group\">.*?</tr>", listing, re.S).group(0)
    assert [int(n) for n in re.findall(r'class="num">(\d+)<', row)] == [1, 2, 3]  # consumers, pending, lag
    detail = web.get("/streams/chennai/groups/mygroup/").content.decode()
    assert re.search(r"data-lag>3<", detail)


def test_after_the_consumer_catches_up_the_lag_is_zero(api, redis_client):
    tutorial_flow(redis_client)
    redis_client.execute_command("XREADGROUP", "GROUP", "mygroup", "bob", "COUNT", "10", "STREAMS", "chennai", ">")

    [group] = api.get("/api/streams/chennai/groups").json()["groups"]
    assert group["lag"] == 0


@pytest.mark.parametrize("start", ["$", "0", "1-0"])
def test_a_group_created_through_the_api_in_the_tutorials_flow_has_a_lag_redis_knows(api, redis_client, start):
    redis_client.execute_command("XADD", "chennai", "1", "temperature", "29", "humidity", "10")
    created = api.post(
        "/api/streams/chennai/groups",
        data=json.dumps({"name": "mygroup", "start": start}),
        content_type="application/json",
    )
    assert created.status_code == 201
    for _ in range(5):
        redis_client.execute_command("XADD", "chennai", "*", "temperature", "21", "humidity", "10")
    redis_client.execute_command("XREADGROUP", "GROUP", "mygroup", "alice", "COUNT", "2", "STREAMS", "chennai", ">")

    expected = 4 if start == "0" else 3
    assert redis_says(redis_client)["lag"] == expected  # Redis itself: created with ENTRIESREAD
    assert api.get("/api/streams/chennai/groups").json()["groups"][0]["lag"] == expected


def test_a_group_created_through_the_page_has_a_lag_redis_knows(web, redis_client):
    redis_client.execute_command("XADD", "chennai", "1", "temperature", "29", "humidity", "10")
    response = web.post(
        "/streams/chennai/groups/", {"name": "mygroup", "start": "$", "csrfmiddlewaretoken": csrf_token(web)}
    )
    assert response.status_code == 302
    for _ in range(3):
        redis_client.execute_command("XADD", "chennai", "*", "temperature", "21", "humidity", "10")
    redis_client.execute_command("XREADGROUP", "GROUP", "mygroup", "alice", "COUNT", "1", "STREAMS", "chennai", ">")

    assert (redis_says(redis_client)["entries-read"], redis_says(redis_client)["lag"]) == (2, 2)


def test_setid_through_the_api_keeps_the_lag_known(api, redis_client):
    redis_client.execute_command("XADD", "chennai", "1", "temperature", "29", "humidity", "10")
    for _ in range(4):
        redis_client.execute_command("XADD", "chennai", "*", "temperature", "21", "humidity", "10")
    api.post(
        "/api/streams/chennai/groups", data=json.dumps({"name": "g", "start": "$"}), content_type="application/json"
    )

    moved = api.post(
        "/api/streams/chennai/groups/g/setid", data=json.dumps({"id": "1-0"}), content_type="application/json"
    )

    assert moved.status_code == 200
    assert redis_says(redis_client, "g")["lag"] == 4
