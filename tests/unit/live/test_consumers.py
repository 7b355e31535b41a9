"""The live pages' WebSocket consumers, in-process, on the suite's real Redis and the real
channels_redis layer: what a page is sent on connect, and what it is sent as Redis changes."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser

from streams_app.domain.names import url_token
from streams_app.gateway.keys import dead_letter_key, heartbeat_key, processed_events_key, workers_index_key
from streams_app.gateway.worker_io import BatchOutcome, WorkerIO
from streams_app.jobs.progress import job_group, job_start
from streams_app.live import messages
from streams_app.live.registry import registry
from tests.unit.live.sockets import live_application, open_socket, receive_until, refusal, run_live

# Channels closes stale database connections before every handler it dispatches, so each
# consumer touches the database; transactional, since that is not safe inside a test's atomic block.
pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "chennai"
GROUP = "mygroup"


def test_a_tail_sends_the_newest_entries_then_each_new_entry_once_in_order(redis_client):
    before = [redis_client.xadd(STREAM, {"temperature": str(20 + n)}).decode() for n in range(3)]
    added: list[str] = []

    async def scenario() -> None:
        async with open_socket(live_application(), f"/ws/streams/{STREAM}/tail/") as socket:
            snapshot = await socket.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot"
            assert [entry["id"] for entry in snapshot["entries"]] == before
            assert snapshot["entries"][0]["fields"] == {"temperature": "20"}

            added.extend(redis_client.xadd(STREAM, {"temperature": str(30 + n)}).decode() for n in range(5))
            messages = await receive_until(
                socket, lambda message: message["entries"] and message["entries"][-1]["id"] == added[-1]
            )
            assert {message["type"] for message in messages} == {"entries"}
            assert [entry["id"] for message in messages for entry in message["entries"]] == added
            assert messages[-1]["entries"][-1]["fields"] == {"temperature": "34"}
            assert await socket.receive_nothing(timeout=0.3)

    run_live(scenario)


def test_two_tabs_on_one_stream_share_one_feed_and_both_get_every_entry(redis_client):
    redis_client.xadd(STREAM, {"temperature": "20"})

    async def scenario() -> None:
        application = live_application()
        async with (
            open_socket(application, f"/ws/streams/{STREAM}/tail/") as first,
            open_socket(application, f"/ws/streams/{STREAM}/tail/") as second,
        ):
            for socket in (first, second):
                assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            assert list(registry().feeds) == [("tail", STREAM)]

            added = redis_client.xadd(STREAM, {"temperature": "21"}).decode()
            for socket in (first, second):
                message = await socket.receive_json_from(timeout=5)
                assert [entry["id"] for entry in message["entries"]] == [added]

    run_live(scenario)


# "~" starts an encoded name; a one-character base64 body can never be decoded.
BAD_TOKEN = "~A"


@pytest.mark.parametrize(
    "path",
    [
        f"/ws/streams/{BAD_TOKEN}/tail/",
        f"/ws/streams/{BAD_TOKEN}/groups/{GROUP}/",
        f"/ws/streams/{STREAM}/groups/{BAD_TOKEN}/",
    ],
)
def test_a_bad_stream_or_group_address_is_told_so_then_closed_with_4404(redis_client, path):
    async def scenario() -> None:
        refused = await refusal(live_application(), path)
        assert refused.code == messages.CLOSE_NOT_FOUND == 4404
        assert refused.message == "“~A” is not a valid stream address."

    run_live(scenario)


@pytest.mark.parametrize(
    "path",
    [f"/ws/streams/{STREAM}/tail/", f"/ws/streams/{STREAM}/groups/{GROUP}/", "/ws/dashboard/", "/ws/jobs/some-job/"],
)
def test_an_anonymous_socket_is_told_to_log_in_then_closed_with_4401(redis_client, path):
    redis_client.xadd(STREAM, {"temperature": "26"})

    async def scenario() -> None:
        refused = await refusal(live_application(AnonymousUser()), path)
        assert refused.code == messages.CLOSE_UNAUTHENTICATED == 4401
        assert refused.message == "You are not logged in (any more): log in again to see live data."

    run_live(scenario)


def test_a_group_page_gets_its_counts_then_updates_as_a_consumer_reads_and_acks(redis_client):
    ids = [redis_client.xadd(STREAM, {"temperature": str(20 + n)}).decode() for n in range(3)]
    redis_client.xgroup_create(STREAM, GROUP, id="0")

    async def scenario() -> None:
        async with open_socket(live_application(), f"/ws/streams/{STREAM}/groups/{GROUP}/") as socket:
            snapshot = await socket.receive_json_from(timeout=5)
            assert snapshot["type"] == "group_snapshot"
            assert (snapshot["exists"], snapshot["pending"], snapshot["lag"]) == (True, 0, 3)
            assert snapshot["consumers"] == []
            assert snapshot["processed"] == {"type": "processed", "entries": [], "processed": 0, "failed": 0}

            redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"}, count=2)
            read = await receive_until(socket, lambda message: message["type"] == "group" and message["pending"] == 2)
            counts = read[-1]
            assert [(consumer["name"], consumer["pending"]) for consumer in counts["consumers"]] == [("alice", 2)]
            assert (counts["lag"], counts["last_delivered_id"]) == (1, ids[1])

            # Acked as a worker acks: XACK and a processing report, in one round trip.
            WorkerIO(redis_client).finish_batch(
                GROUP,
                "alice",
                BatchOutcome(
                    acks={STREAM: ids[:2]},
                    events=[{"stream": STREAM, "id": entry_id, "ok": True} for entry_id in ids[:2]],
                    events_total=2,
                ),
            )
            waiting_for = {"pending back to 0", "the processing report"}

            def heard_both(message: dict) -> bool:
                if message["type"] == "group" and message["pending"] == 0:
                    waiting_for.discard("pending back to 0")
                    assert [(consumer["name"], consumer["pending"]) for consumer in message["consumers"]] == [
                        ("alice", 0)
                    ]
                if message["type"] == "processed":
                    waiting_for.discard("the processing report")
                    assert [entry["id"] for entry in message["entries"]] == ids[:2]
                    assert {entry["consumer"] for entry in message["entries"]} == {"alice"}
                    assert (message["processed"], message["failed"]) == (2, 0)
                return not waiting_for

            await receive_until(socket, heard_both)

    run_live(scenario)


def test_the_dashboard_lists_a_stream_and_follows_its_length(redis_client):
    for n in range(2):
        redis_client.xadd(STREAM, {"temperature": str(20 + n)})
    redis_client.xgroup_create(STREAM, GROUP, id="0")

    async def scenario() -> None:
        async with open_socket(live_application(), "/ws/dashboard/") as socket:
            dashboard = await socket.receive_json_from(timeout=5)
            assert dashboard["type"] == "dashboard"
            [stream] = dashboard["streams"]
            assert (stream["name"], stream["token"], stream["length"]) == (STREAM, STREAM, 2)
            assert stream["groups"] == [{"name": GROUP, "token": GROUP, "pending": 0, "lag": 2}]

            redis_client.xadd(STREAM, {"temperature": "22"})
            later = await receive_until(
                socket, lambda message: message["type"] == "dashboard" and message["streams"][0]["length"] == 3
            )
            assert later[-1]["streams"][0]["rates"][-1] == later[-1]["streams"][0]["rate"]

    run_live(scenario)


def test_a_job_page_gets_the_job_then_progress_sent_over_the_channel_layer(redis_client, owner):
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)
    progress = {"type": "job", "id": job_id, "state": "started", "done": 5, "total": 10, "percent": 50}

    async def scenario() -> None:
        async with open_socket(live_application(owner), f"/ws/jobs/{job_id}/") as socket:
            first = await socket.receive_json_from(timeout=5)
            assert (first["type"], first["id"], first["state"]) == ("job", job_id, "queued")
            assert first["message"] == "waiting for the job worker"

            await get_channel_layer().group_send(job_group(job_id), {"type": "job.progress", "status": progress})
            pushed = await receive_until(socket, lambda message: message.get("state") == "started")
            assert pushed[-1] == progress

    run_live(scenario)


def strict_json(text: str) -> dict:
    """`text` parsed as a browser's JSON.parse would: Infinity and NaN are not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} in a message: the page's JSON.parse would drop it")

    return json.loads(text, parse_constant=refuse)


async def strict_until(socket, done) -> dict:
    """The first message (each parsed strictly) for which `done` is true."""
    while not done(message := strict_json(await socket.receive_from(timeout=5))):
        pass
    return message


def write_junk_heartbeats(redis_client) -> None:
    """What another program may leave in the workers' keys (as `redis-cli HSET …` and `ZADD …` would)."""
    assert (heartbeat_key(GROUP, "x"), workers_index_key()) == (
        "weatherstreams:worker:mygroup:x",
        "weatherstreams:workers",
    )
    redis_client.hset("weatherstreams:worker:mygroup:x", mapping={"rate": "abc", "processed": ""})
    redis_client.hset(
        "weatherstreams:worker:mygroup:worse",
        mapping={
            "rate": "inf",
            "processed": "9" * 5000,
            "pid": "nan",
            "last_seen": "-inf",
            "started": "1e999",
            "streams": "{",
            "failed": "-",
            "state": "",
        },
    )
    redis_client.zadd("weatherstreams:workers", {"mygroup\tx": 1, "mygroup\tworse": float("-inf"), "no tab": 5})
    redis_client.zadd("weatherstreams:workers", {b"mygroup\t\xff\xfe": 7})
    redis_client.xadd(
        processed_events_key(GROUP), {"consumer": "x", "processed": "abc", "failed": "-1", "entries": "{"}
    )


def test_junk_in_a_worker_heartbeat_does_not_break_the_dashboard(redis_client):
    redis_client.xadd(STREAM, {"temperature": "26"})
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    write_junk_heartbeats(redis_client)

    async def scenario() -> None:
        async with open_socket(live_application(), "/ws/dashboard/") as socket:
            dashboard = strict_json(await socket.receive_from(timeout=5))
            assert dashboard["type"] == "dashboard"
            workers = {worker["name"]: worker for worker in dashboard["workers"]}
            assert {"x", "worse"} <= set(workers)
            assert (workers["x"]["alive"], workers["x"]["rate"], workers["x"]["processed"]) == (True, 0.0, 0)
            assert workers["worse"]["seen_seconds_ago"] is None  # its time is -inf: not a time
            assert STREAM in [stream["name"] for stream in dashboard["streams"]]

            redis_client.xadd(STREAM, {"temperature": "27"})  # the feed goes on refreshing
            await strict_until(
                socket, lambda message: {s["name"]: s["length"] for s in message["streams"]}[STREAM] == 2
            )

    run_live(scenario)


def test_junk_in_a_worker_heartbeat_or_report_does_not_break_the_group_page(redis_client):
    redis_client.xadd(STREAM, {"temperature": "26"})
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    write_junk_heartbeats(redis_client)

    async def scenario() -> None:
        async with open_socket(live_application(), f"/ws/streams/{STREAM}/groups/{GROUP}/") as socket:
            snapshot = strict_json(await socket.receive_from(timeout=5))
            assert snapshot["type"] == "group_snapshot"
            assert {worker["name"] for worker in snapshot["workers"]} >= {"x", "worse"}
            assert (snapshot["processed"]["processed"], snapshot["processed"]["failed"]) == (0, 0)

            redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"})  # the feed goes on: pending 1
            counts = await strict_until(socket, lambda message: message["type"] == "group" and message["pending"] == 1)
            assert {worker["name"] for worker in counts["workers"]} >= {"x", "worse"}

    run_live(scenario)


@pytest.mark.parametrize("name", ["rain?today", "bay#2", "a?b#c%d", "~tilde", "été 2024", "a/b"])
def test_a_stream_or_group_whose_name_holds_url_characters_is_reached_by_its_encoded_token(redis_client, name):
    first = redis_client.xadd(name, {"temperature": "26"}).decode()
    redis_client.xgroup_create(name, name, id="0")
    token = quote(url_token(name), safe="")  # as the pages' templates build the socket's path

    async def scenario() -> None:
        async with open_socket(live_application(), f"/ws/streams/{token}/tail/") as tail:
            assert [entry["id"] for entry in (await tail.receive_json_from(timeout=5))["entries"]] == [first]
        async with open_socket(live_application(), f"/ws/streams/{token}/groups/{token}/") as group:
            snapshot = await group.receive_json_from(timeout=5)
            assert (snapshot["type"], snapshot["exists"], snapshot["lag"]) == ("group_snapshot", True, 1)

    run_live(scenario)


def test_the_dashboard_leaves_out_internal_keys_and_knows_the_tutorials_lag(redis_client):
    # The tutorial's flow, where Redis 7.0's XINFO GROUPS says nil for lag.
    redis_client.xadd(STREAM, {"temperature": "26"}, id="1")
    redis_client.execute_command("XGROUP", "CREATE", STREAM, GROUP, "$")
    for n in range(3):
        redis_client.xadd(STREAM, {"temperature": str(20 + n)})
    redis_client.xadd("weatherstreams:processed:g", {"consumer": "alice"})
    redis_client.xadd(dead_letter_key(STREAM), {"stream": STREAM, "id": "1-0"})
    redis_client.xadd("rq:whatever", {"x": "1"})

    async def scenario() -> None:
        async with open_socket(live_application(), "/ws/dashboard/") as socket:
            dashboard = await socket.receive_json_from(timeout=5)
            assert [stream["name"] for stream in dashboard["streams"]] == [STREAM]
            assert dashboard["streams"][0]["groups"][0]["lag"] == 3

    run_live(scenario)
