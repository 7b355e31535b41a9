"""The group's last hour through the doors: the group page's section "The last hour" (three
charts and a legend of workers, names escaped; a sentence when there is no history yet), the
JSON API (`GET …/groups/<group>/history`, same auth and refusals as the other group reads), and
the history going with its group when the group is destroyed (page and API)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest
from django.test import Client

from streams_app.domain.names import url_token
from streams_app.gateway.group_history import GroupHistoryStore
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.keys import errors_key, history_key

pytestmark = pytest.mark.django_db

STREAM, GROUP = "chennai", "mygroup"
EMPTY = "No history yet: running workers record lag, pending and their rate every 10 s; it is kept for an hour."


def page_url(group: str = GROUP, stream: str = STREAM, action: str = "") -> str:
    return f"/streams/{quote(url_token(stream), safe='')}/groups/{quote(url_token(group), safe='')}/{action}"


def api_url(group: str = GROUP, stream: str = STREAM) -> str:
    return f"/api/streams/{quote(url_token(stream), safe='')}/groups/{quote(url_token(group), safe='')}/history"


@pytest.fixture
def group(redis_client) -> None:
    """mygroup on chennai: 5 entries, 2 pending with alice, 3 not delivered (lag 3)."""
    GroupStore(redis_client).create_group(STREAM, GROUP, start_id="0")
    for n in range(5):
        redis_client.xadd(STREAM, {"temperature": str(20 + n), "humidity": "40"})
    redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"}, count=2)


def server_ms(redis_client) -> int:
    node = (
        {"target_nodes": redis_client.get_node_from_key(STREAM)} if hasattr(redis_client, "get_node_from_key") else {}
    )
    seconds, micros = redis_client.time(**node)
    return seconds * 1000 + micros // 1000


def write_samples(redis_client, samples: list[tuple[int, str, int]], *, lag: str = "3", pending: int = 2) -> None:
    """Samples as the workers' script writes them, each (seconds ago, worker, processed), oldest
    first, so the rates between them are known exactly."""
    now = server_ms(redis_client)
    for seconds_ago, worker, processed in samples:
        redis_client.xadd(
            history_key(STREAM, GROUP),
            {"worker": worker, "processed": processed, "failed": 0, "started": 1, "pending": pending, "lag": lag},
            id=f"{now - seconds_ago * 1000}-*",
        )


def record(redis_client, worker: str = "alice", *, group: str = GROUP, processed: int = 1, failed: int = 0) -> int:
    """A sample as a worker's heartbeat records it (the group's figures of now)."""
    return GroupHistoryStore(redis_client).record(
        group=group, worker=worker, streams=[STREAM], processed=processed, failed=failed, started_ms=1
    )


# --- the page -------------------------------------------------------------------------------


def test_without_samples_the_page_says_how_history_comes(web, group):
    html = unescape(web.get(page_url()).content.decode())
    assert "The last hour" in html
    assert EMPTY in html
    assert "data-history-chart" not in html


def test_with_samples_the_page_draws_three_charts_and_names_the_workers(web, redis_client, group):
    write_samples(
        redis_client, [(40, "alice", 0), (35, "bob", 0), (30, "alice", 100), (25, "bob", 50), (20, "alice", 300)]
    )
    record(redis_client, "bob", processed=150)

    html = web.get(page_url()).content.decode()
    section = re.search(r"<section class=\"group-history\".*?</section>", html, re.S).group(0)
    assert EMPTY not in unescape(section)
    assert [key for key in re.findall(r'data-panel="(\w+)"', section)] == ["lag", "pending", "rate"]
    assert "viewBox" not in re.search(r"<svg class=\"history-chart-svg\"[^>]*>", section).group(0)
    legend = re.findall(r"<li data-history-worker>.*?</li>", section, re.S)
    assert [re.sub(r"<[^>]+>", "", item).split()[0] for item in legend] == ["alice", "bob"]
    assert "300 processed" in legend[0]
    assert len(re.findall(r'<path class="line worker-\d"', section)) == 2


def test_worker_names_are_escaped_and_stay_out_of_attributes(web, redis_client, group):
    name = '<img src=x onerror="alert(1)">'
    write_samples(redis_client, [(30, name, 0), (20, name, 10)])

    html = web.get(page_url()).content.decode()
    assert "<img src=x" not in html
    section = re.search(r"<section class=\"group-history\".*?</section>", html, re.S).group(0)
    assert section.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 2  # the legend and the line's title
    for attribute in re.findall(r'\w+="([^"]*)"', section):
        assert "onerror" not in attribute


# --- the API ----------------------------------------------------------------------------------


def test_the_api_answers_the_groups_figures_and_each_workers_rates(api, redis_client, group):
    write_samples(redis_client, [(40, "alice", 0), (30, "alice", 100), (20, "alice", 300)], lag="", pending=4)
    record(redis_client, "bob", processed=7, failed=1)

    response = api.get(api_url())
    assert response.status_code == 200
    body = response.json()
    assert (body["interval_seconds"], body["gap_seconds"], body["samples"]) == (10, 25, 4)
    assert [(point["lag"], point["pending"]) for point in body["group"]] == [(None, 4), (None, 4), (None, 4), (3, 2)]
    alice, bob = body["workers"]
    assert alice["name"] == "alice" and alice["processed"] == 300
    assert [rate["processed_per_second"] for rate in alice["rates"]] == [10.0, 20.0]
    assert alice["rates"][0]["to"] == alice["rates"][1]["from"]
    assert bob == {"name": "bob", "processed": 0, "failed": 0, "rates": []}  # one sample: no rate yet
    assert body["from"] < body["group"][0]["time"] <= body["to"]
    assert body["covered_from"] is None


def test_the_api_answers_an_empty_hour_for_a_group_without_samples(api, group):
    body = api.get(api_url()).json()
    assert (body["group"], body["workers"], body["samples"]) == ([], [], 0)


def test_the_api_refuses_anonymous_requests_and_unknown_groups(api, redis_client, group):
    assert Client().get(api_url()).status_code == 401
    assert api.get(api_url(group="nobody")).status_code == 404
    assert api.get(api_url(stream="nowhere")).status_code == 404
    assert api.get(api_url(group="bad name\x00")).status_code == 400
    assert api.post(api_url(), {}).status_code == 405


def test_a_viewer_may_read_the_history(role_client, redis_client, group):
    assert role_client(None).get(api_url()).status_code == 200


# --- the history goes with its group ----------------------------------------------------------


def test_destroying_the_group_on_its_page_deletes_its_history_and_its_errors(web, redis_client, group):
    record(redis_client)
    redis_client.hset(errors_key(STREAM, GROUP), "1-1", "ValueError: not a number")
    redis_client.hset(errors_key(STREAM, "other"), "1-1", "ValueError: not a number")
    assert redis_client.exists(history_key(STREAM, GROUP)) == 1
    web.get("/workers/")  # the CSRF cookie
    token = web.cookies["csrftoken"].value
    response = web.post(page_url(action="destroy/"), {"confirm": "yes", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert redis_client.exists(history_key(STREAM, GROUP)) == 0
    assert redis_client.exists(errors_key(STREAM, GROUP)) == 0
    assert redis_client.exists(errors_key(STREAM, "other")) == 1  # another group's errors stay


def test_destroying_the_group_through_the_api_deletes_its_history(api, redis_client, group):
    record(redis_client)
    GroupStore(redis_client).create_group(STREAM, "other", start_id="0")
    record(redis_client, group="other")
    other = history_key(STREAM, "other")

    assert api.delete(f"/api/streams/{STREAM}/groups/{GROUP}").status_code == 200
    assert redis_client.exists(history_key(STREAM, GROUP)) == 0
    assert redis_client.exists(other) == 1  # another group's history stays
    assert api.get(api_url()).status_code == 404


def test_a_stream_deleted_outside_the_app_gets_no_new_samples(redis_client, group):
    """The app has no door that deletes a stream; deleted by redis-cli, its groups go with it, and
    workers add nothing more: the history expires within the hour."""
    record(redis_client)
    redis_client.delete(STREAM)
    assert record(redis_client, processed=2) == 0
    assert redis_client.xlen(history_key(STREAM, GROUP)) == 1
    assert 0 < redis_client.pttl(history_key(STREAM, GROUP)) <= 3_610_000
