"""Frames a page (or anything else) sends on a live socket: what the socket cannot use is
answered with an error message on the socket, and the socket goes on working; no traceback."""

from __future__ import annotations

import json
import logging

import pytest

from streams_app.jobs.progress import job_start
from streams_app.live import messages
from streams_app.live.sockets import MAX_FRAME_CHARACTERS
from tests.unit.live.sockets import live_application, open_socket, run_live

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "chennai"
UNKNOWN = messages.unknown_request(["resync"])
PADDED = json.dumps({"action": "resync", "pad": "x" * MAX_FRAME_CHARACTERS})

FRAMES = [
    pytest.param({"bytes_data": b"\x00\xff binary"}, messages.binary_frame_refused(), id="binary"),
    pytest.param({"bytes_data": b'{"action": "resync"}'}, messages.binary_frame_refused(), id="JSON as binary"),
    pytest.param(
        {"text_data": "{'action': 'resync'}"},
        messages.frame_not_json("Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        id="malformed",
    ),
    pytest.param({"text_data": "[" * 2000 + "]" * 2000}, messages.frame_too_deep(), id="deeply nested"),
    pytest.param(
        {"text_data": "[" * 100_000},
        messages.frame_too_long(100_000, MAX_FRAME_CHARACTERS),
        id="deeply nested and too long",
    ),
    pytest.param(
        {"text_data": PADDED},
        messages.frame_too_long(len(PADDED), MAX_FRAME_CHARACTERS),
        id="too long",
    ),
    pytest.param({"text_data": '"resync"'}, UNKNOWN, id="not an object"),
    pytest.param({"text_data": '{"action": "drop"}'}, UNKNOWN, id="unknown action"),
    pytest.param({"text_data": '{"action": ["resync"]}'}, UNKNOWN, id="unhashable action"),
    pytest.param({"text_data": "NaN"}, UNKNOWN, id="bare NaN"),
]


@pytest.mark.parametrize(("frame", "answer"), FRAMES)
def test_a_frame_the_tail_cannot_use_gets_an_error_message_and_the_socket_goes_on(redis_client, caplog, frame, answer):
    redis_client.xadd(STREAM, {"temperature": "26"})

    async def scenario() -> None:
        async with open_socket(live_application(), f"/ws/streams/{STREAM}/tail/") as socket:
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await socket.send_to(**frame)
            assert await socket.receive_json_from(timeout=5) == answer
            added = redis_client.xadd(STREAM, {"temperature": "27"}).decode()
            assert [entry["id"] for entry in (await socket.receive_json_from(timeout=5))["entries"]] == [added]
            await socket.send_json_to({"action": "resync"})
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"

    run_live(scenario)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("path", ["/ws/dashboard/", f"/ws/streams/{STREAM}/groups/mygroup/", "job"])
def test_every_live_socket_answers_a_bad_frame_the_same_way(redis_client, owner, path):
    redis_client.xadd(STREAM, {"temperature": "26"})
    if path == "job":
        job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)
        path = f"/ws/jobs/{job_id}/"

    async def scenario() -> None:
        async with open_socket(live_application(owner), path) as socket:
            await socket.receive_json_from(timeout=5)
            for frame, answer in (
                ({"bytes_data": b"\x00"}, messages.binary_frame_refused()),
                ({"text_data": "[" * 3000 + "]" * 1000}, messages.frame_too_deep()),
                (
                    {"text_data": "{"},
                    messages.frame_not_json(
                        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
                    ),
                ),
            ):
                await socket.send_to(**frame)
                received = await socket.receive_json_from(timeout=5)
                while received["type"] != "error":  # a dashboard refresh or a job re-read may come first
                    received = await socket.receive_json_from(timeout=5)
                assert received == answer

    run_live(scenario)
