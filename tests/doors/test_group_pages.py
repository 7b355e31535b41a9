"""The consumer-group, dead-letter and worker pages: login, CSRF, forms, messages, and odd
names shown escaped. Pending entries are made with XREADGROUP directly, as a worker would."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from urllib.parse import quote

import pytest
from django.test import Client

from streams_app.domain.names import key_bytes, url_token
from streams_app.gateway.keys import dead_letter_key, heartbeat_key
from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, WorkerIO
from tests.support.entries import add, read
from tests.support.redis_server import free_port

STREAM = "chennai"


def groups_url(stream=STREAM):
    return f"/streams/{quote(url_token(stream), safe='')}/groups/"


def group_url(group="g", stream=STREAM, action=""):
    return f"{groups_url(stream)}{quote(url_token(group), safe='')}/{action}"


def post(web: Client, url: str, data: dict, **kwargs):
    """A form POST as a browser sends it: with the CSRF cookie's token."""
    if "csrftoken" not in web.cookies:
        web.get("/workers/")
    return web.post(url, {**data, "csrfmiddlewaretoken": web.cookies["csrftoken"].value}, **kwargs)


def text_of(response) -> str:
    return unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [unescape(m) for m in re.findall(r'<li class="message[^"]*">(.*?)</li>', response.content.decode(), re.S)]


def pending_of(r, group="g", stream=STREAM) -> dict[str, str]:
    rows = r.xpending_range(stream, group, min="-", max="+", count=1000)
    return {row["message_id"].decode(): row["consumer"].decode() for row in rows}


@pytest.fixture
def pending_setup(redis_client):
    ids = add(redis_client, count=6)
    redis_client.xgroup_create(STREAM, "g", id="0")
    read(redis_client, "alice", 3)
    read(redis_client, "bob", 2)
    return ids


# --- access ---------------------------------------------------------------------------


def test_pages_need_login(redis_client, pending_setup):
    anonymous = Client()
    for url in [groups_url(), group_url(), f"/streams/{STREAM}/dead-letters/", "/workers/"]:
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert "/accounts/login/" in response["Location"]
    response = anonymous.post(group_url(action="pending/"), {"action": "ack", "ids": ["1000-0"]})
    assert response.status_code in {302, 403}
    assert len(pending_of(redis_client)) == 5


def test_posts_need_csrf(web, redis_client, pending_setup):
    response = web.post(group_url(action="pending/"), {"action": "ack", "ids": [pending_setup[0]]})
    assert response.status_code == 403
    assert len(pending_of(redis_client)) == 5
    assert web.post(groups_url(), {"name": "new"}).status_code == 403


def test_stream_page_links_to_groups_and_nav_to_workers(web, redis_client):
    add(redis_client, count=1)
    page = web.get(f"/streams/{STREAM}/").content.decode()
    assert f'href="{groups_url()}"' in page
    assert 'href="/workers/"' in page


# --- groups of a stream -----------------------------------------------------------------


def test_groups_page_lists_groups(web, redis_client, pending_setup):
    redis_client.xgroup_create(STREAM, "late", id="$")
    response = web.get(groups_url())
    assert response.status_code == 200
    page = text_of(response)
    assert f'href="{group_url("g")}"' in page and f'href="{group_url("late")}"' in page
    rows = re.findall(r"<tr>(.*?)</tr>", response.content.decode(), re.S)
    g_row = next(row for row in rows if group_url("g") in row)
    assert [int(n) for n in re.findall(r'class="num">(\d+)<', g_row)] == [2, 5, 1]  # consumers, pending, lag
    assert "1004-0" in g_row


def test_groups_page_unknown_stream_is_404(web, redis_client):
    assert web.get(groups_url("nowhere")).status_code == 404
    redis_client.set("plain", "x")
    assert web.get(groups_url("plain")).status_code == 409


def test_create_group_from_the_page(web, redis_client):
    ids = add(redis_client, count=3)
    response = post(web, groups_url(), {"name": "from-start", "start": "0"}, follow=True)
    assert response.redirect_chain[-1][0] == group_url("from-start")
    assert any("Created the group “from-start”" in m for m in messages_of(response))
    assert read(redis_client, "c", 10, group="from-start") == ids


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"name": "bad name", "start": "$"}, 400, "not a valid group name"),
        ({"name": "", "start": "$"}, 400, "The group name is required."),
        ({"name": "ok", "start": "whenever"}, 400, "neither a stream ID"),
        ({"name": "g", "start": "$"}, 409, "already exists"),
    ],
)
def test_create_group_form_errors(web, redis_client, data, status, message):
    add(redis_client, count=1)
    redis_client.xgroup_create(STREAM, "g", id="$")
    response = post(web, groups_url(), data)
    assert response.status_code == status
    assert message in text_of(response)
    assert 'role="alert"' in response.content.decode()
    assert len(redis_client.xinfo_groups(STREAM)) == 1


# --- one group ------------------------------------------------------------------------


def test_group_page_shows_consumers_with_xpending_counts(web, redis_client, pending_setup):
    response = web.get(group_url())
    assert response.status_code == 200
    html = response.content.decode()
    summary = redis_client.xpending(STREAM, "g")
    for row in summary["consumers"]:
        name, count = row["name"].decode(), int(row["pending"])
        consumer_row = next(r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f"?consumer={name}" in r)
        assert re.search(rf'data-label="Pending" class="num">{count}<', consumer_row), name
    shown = re.findall(r'name="shown" value="([^"]+)"', html)
    assert shown == list(pending_of(redis_client))


def test_group_page_filters_and_pages(web, redis_client, pending_setup):
    html = web.get(group_url() + "?consumer=bob").content.decode()
    assert re.findall(r'name="shown" value="([^"]+)"', html) == pending_setup[3:5]
    response = web.get(group_url() + "?count=2")
    html = response.content.decode()
    assert re.findall(r'name="shown" value="([^"]+)"', html) == pending_setup[:2]
    next_url = unescape(re.search(r'href="([^"]+)" rel="next"', html).group(1))
    html = web.get(next_url).content.decode()
    assert re.findall(r'name="shown" value="([^"]+)"', html) == pending_setup[2:4]


@pytest.mark.parametrize("query", ["?min_idle=soon", "?count=x", "?after=nope", "?consumer=bad%20name", "?min_idle=-5"])
def test_group_page_bad_filters_are_form_errors(web, redis_client, pending_setup, query):
    response = web.get(group_url() + query)
    assert response.status_code == 400
    assert 'class="error" role="alert"' in response.content.decode()


def test_group_page_unknown_or_invalid_group(web, redis_client, pending_setup):
    assert web.get(group_url("missing")).status_code == 404
    assert web.get(group_url("bad name")).status_code == 400
    assert web.get(group_url("g", stream="nowhere")).status_code == 404


def test_ack_selected_from_the_page(web, redis_client, pending_setup):
    response = post(
        web,
        group_url(action="pending/"),
        {"action": "ack", "ids": pending_setup[:2], "shown": pending_setup[:5], "query": "consumer=alice"},
    )
    assert response.status_code == 302
    assert response["Location"] == group_url() + "?consumer=alice"
    assert set(pending_of(redis_client)) == set(pending_setup[2:5])
    assert "Acked 2 of 2 selected entries." in messages_of(web.get(response["Location"]))


def test_ack_all_shown_from_the_page(web, redis_client, pending_setup):
    html = web.get(group_url() + "?count=3").content.decode()
    shown = re.findall(r'name="shown" value="([^"]+)"', html)
    assert shown == pending_setup[:3]
    response = post(web, group_url(action="pending/"), {"action": "ack_shown", "shown": shown}, follow=True)
    assert set(pending_of(redis_client)) == set(pending_setup[3:5])
    assert "Acked 3 of the 3 entries shown." in messages_of(response)


def test_claim_selected_from_the_page(web, redis_client, pending_setup):
    response = post(
        web,
        group_url(action="pending/"),
        {"action": "claim", "ids": pending_setup[3:5], "consumer": "carol"},
        follow=True,
    )
    assert "Claimed 2 of 2 selected entries for “carol”." in messages_of(response)
    owners = pending_of(redis_client)
    assert owners[pending_setup[3]] == owners[pending_setup[4]] == "carol"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "claim", "ids": ["1000-0"], "consumer": ""}, "The consumer name is required."),
        ({"action": "claim", "ids": ["1000-0"], "consumer": "a b"}, "not a valid consumer name"),
        ({"action": "claim", "consumer": "carol"}, "Select at least one entry first."),
        ({"action": "ack"}, "Select at least one entry first."),
        ({"action": "ack", "ids": ["nope"]}, "not a valid entry ID"),
        ({"action": "explode", "ids": ["1000-0"]}, "Choose ack"),
    ],
)
def test_pending_actions_refused_with_a_message(web, redis_client, pending_setup, data, message):
    response = post(web, group_url(action="pending/"), data, follow=True)
    assert response.status_code == 200
    assert any(message in m for m in messages_of(response)), messages_of(response)
    assert pending_of(redis_client)[pending_setup[0]] == "alice"
    assert len(pending_of(redis_client)) == 5


def test_delete_consumer_refused_with_pending_then_allowed_after_claim(web, redis_client, pending_setup):
    response = post(web, group_url(action="consumers/delete/"), {"consumer": "bob"}, follow=True)
    assert any("“bob” still has pending entries" in m for m in messages_of(response))
    assert {c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, "g")} == {"alice", "bob"}

    post(web, group_url(action="pending/"), {"action": "claim", "ids": pending_setup[3:5], "consumer": "alice"})
    response = post(web, group_url(action="consumers/delete/"), {"consumer": "bob"}, follow=True)
    assert "Deleted the consumer “bob”." in messages_of(response)
    assert [c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, "g")] == ["alice"]
    assert len(pending_of(redis_client)) == 5

    response = post(web, group_url(action="consumers/delete/"), {"consumer": "bob"}, follow=True)
    assert any("has no consumer “bob”" in m for m in messages_of(response))


def test_setid_from_the_page(web, redis_client, pending_setup):
    response = post(web, group_url(action="setid/"), {"id": "1001-0"}, follow=True)
    assert "its last delivered ID is now 1001-0" in messages_of(response)[0]
    assert redis_client.xinfo_groups(STREAM)[0]["last-delivered-id"] == b"1001-0"
    response = post(web, group_url(action="setid/"), {"id": "not-an-id"}, follow=True)
    assert response.status_code == 200
    assert "neither a stream ID" in messages_of(response)[0]
    assert redis_client.xinfo_groups(STREAM)[0]["last-delivered-id"] == b"1001-0"


def test_destroy_needs_the_confirm_box(web, redis_client, pending_setup):
    response = post(web, group_url(action="destroy/"), {}, follow=True)
    assert "Tick the box to confirm" in messages_of(response)[0]
    assert len(redis_client.xinfo_groups(STREAM)) == 1
    response = post(web, group_url(action="destroy/"), {"confirm": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == groups_url()
    assert "Destroyed the group “g”" in messages_of(response)[0]
    assert redis_client.xinfo_groups(STREAM) == []


# --- odd names --------------------------------------------------------------------------


def test_odd_names_are_escaped_and_reachable(web, redis_client):
    stream, group, consumer = "<b>x&y</b>", "<script>alert(1)</script> g/1", "<i>c</i>"
    redis_client.xadd(stream, {"temperature": "1", "humidity": "2"}, id="1-0")
    redis_client.xgroup_create(stream, group, id="0")
    redis_client.xreadgroup(group, consumer, {stream: ">"})
    for url in [groups_url(stream), group_url(group, stream)]:
        response = web.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert" not in html and "<b>x" not in html and "<i>c" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; g/1" in html
    assert "&lt;i&gt;c&lt;/i&gt;" in web.get(group_url(group, stream)).content.decode()
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in web.get(f"/streams/{url_token(stream)}/dead-letters/").content.decode()


@pytest.mark.parametrize("stream", ["what?", "100%41", "a#b", "caf\udce9", "sp ace", "~tilde"])
def test_odd_stream_names_work_through_the_links(web, redis_client, stream):
    redis_client.xadd(key_bytes(stream), {"temperature": "1", "humidity": "2"}, id="1-0")
    response = post(web, groups_url(stream), {"name": "g", "start": "0"}, follow=True)
    assert response.status_code == 200
    assert any("Created the group" in m for m in messages_of(response))
    group_page = response.redirect_chain[-1][0]
    assert read(redis_client, "c", 1, stream=key_bytes(stream)) == ["1-0"]
    html = web.get(group_page).content.decode()
    pending_form = unescape(re.search(r'action="([^"]+/pending/)"', html).group(1))
    response = post(web, pending_form, {"action": "ack", "ids": ["1-0"]}, follow=True)
    assert "Acked 1 of 1 selected entries." in messages_of(response)
    for link in ["Dead letters", "All groups"]:
        url = unescape(re.search(rf'href="([^"]+)">{link}<', html).group(1))
        assert web.get(url).status_code == 200, link


# --- dead letters -------------------------------------------------------------------------


@pytest.fixture
def dead_setup(redis_client):
    ids = add(redis_client, count=3)
    redis_client.xgroup_create(STREAM, "g", id="0")
    read(redis_client, "w1", 3)
    outcome = BatchOutcome()
    for entry_id in ids[:2]:
        [(_, fields)] = redis_client.xrange(STREAM, entry_id, entry_id)
        outcome.dead_letters.append(
            DeadLetter(
                stream=STREAM,
                id=entry_id,
                fields={k.decode(): v.decode() for k, v in fields.items()},
                group="g",
                consumer="w1",
                deliveries=6,
                error="<ValueError> bad reading",
                dead_stream=dead_letter_key(STREAM),
            )
        )
    WorkerIO(redis_client).finish_batch("g", "w1", outcome)
    return ids, [raw.decode() for raw, _ in redis_client.xrange(dead_letter_key(STREAM))]


def test_dead_letter_page_and_redrive(web, redis_client, dead_setup):
    ids, dead_ids = dead_setup
    response = web.get(f"/streams/{STREAM}/dead-letters/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'name="ids" value="([^"]+)"', html) == dead_ids[::-1]  # newest first
    assert "&lt;ValueError&gt; bad reading" in html
    assert ids[0] in html and "temperature" in html

    response = post(web, f"/streams/{STREAM}/dead-letters/", {"ids": [dead_ids[0]]}, follow=True)
    assert "Re-drove 1 dead letters back to “chennai”." in messages_of(response)
    assert [raw.decode() for raw, _ in redis_client.xrange(dead_letter_key(STREAM))] == [dead_ids[1]]
    [(new_id, fields)] = redis_client.xrevrange(STREAM, count=1)
    assert new_id.decode() not in ids and fields == {b"temperature": b"20", b"humidity": b"50"}

    response = post(web, f"/streams/{STREAM}/dead-letters/", {"ids": ["nope"]}, follow=True)
    assert any("not a valid entry ID" in m for m in messages_of(response))
    response = post(web, f"/streams/{STREAM}/dead-letters/", {}, follow=True)
    assert any("Select at least one dead letter" in m for m in messages_of(response))


def test_dead_letter_page_without_dead_letters_and_bad_cursor(web, redis_client):
    add(redis_client, count=1)
    response = web.get(f"/streams/{STREAM}/dead-letters/")
    assert response.status_code == 200 and "No dead letters" in text_of(response)
    response = web.get(f"/streams/{STREAM}/dead-letters/?after=x")
    assert response.status_code == 400 and "not a valid entry ID" in text_of(response)
    assert web.get("/streams/nowhere/dead-letters/").status_code == 404


# --- workers ----------------------------------------------------------------------------


def test_workers_page_lists_live_and_gone_workers(web, redis_client):
    io = WorkerIO(redis_client)
    now = time.time()
    for name, seen in [("w-live", now), ("w-gone", now - 600)]:
        status = {
            "name": name,
            "host": "box",
            "pid": "4242",
            "group": "g",
            "streams": json.dumps([STREAM]),
            "started": f"{seen - 60:.3f}",
            "last_seen": f"{seen:.3f}",
            "processed": "12",
            "failed": "0",
            "dead_lettered": "0",
            "rate": "2.5",
            "state": "running",
        }
        io.beat(group="g", name=name, status=status, ttl_ms=60_000, lock_token="t", lock_ttl_ms=60_000)
    redis_client.delete(heartbeat_key("g", "w-gone"))
    response = web.get("/workers/")
    assert response.status_code == 200
    html = response.content.decode()
    live, gone = html.split("<h2>Gone</h2>")
    assert "w-live" in live and "w-gone" not in live and "running" in live
    assert "w-gone" in gone and "heartbeat stopped" in gone and "10\xa0minutes ago" in gone
    assert 'aria-current="page">Workers' in html


def test_workers_page_empty(web, redis_client):
    html = web.get("/workers/").content.decode()
    assert "No worker is running" in html and "No worker has gone away" in html


def test_redis_down_shows_the_503_page(web, redis_client, settings):
    web.get("/workers/")  # the CSRF cookie, while Redis is up
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    for response in [
        web.get(groups_url()),
        web.get(group_url()),
        web.get(f"/streams/{STREAM}/dead-letters/"),
        web.get("/workers/"),
        post(web, group_url(action="pending/"), {"action": "ack", "ids": ["1-0"]}),
        post(web, groups_url(), {"name": "g", "start": "$"}),
    ]:
        assert response.status_code == 503
        assert "Redis is unavailable" in text_of(response)
