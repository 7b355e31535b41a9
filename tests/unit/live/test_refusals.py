"""Sockets the live pages refuse, as their HTTP pages would: each is accepted, sent one error
message saying why, then closed with a code the page stops reconnecting on; never a traceback,
and nothing left subscribed or counted."""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer

from streams_app.jobs.progress import job_group, job_start
from streams_app.live import messages, registry
from streams_app.live.consumers import JOB_ID
from tests.unit.live.sockets import SignedInUser, closed_with, live_application, open_socket, refusal, run_live

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tail_of_a_key_that_does_not_exist_is_refused_with_4404(redis_client):
    async def scenario() -> None:
        refused = await refusal(live_application(), "/ws/streams/nowhere/tail/")
        assert (refused.code, refused.message) == (messages.CLOSE_NOT_FOUND, "There is no stream called “nowhere”.")
        assert registry.registry().feeds == {}, "no feed was started for it"

    run_live(scenario)


def test_a_tail_of_a_key_that_is_not_a_stream_is_refused_with_4409(redis_client):
    redis_client.hset("chennai", "temperature", "26")

    async def scenario() -> None:
        refused = await refusal(live_application(), "/ws/streams/chennai/tail/")
        assert refused.code == messages.CLOSE_NOT_A_STREAM == 4409
        assert refused.message == "The key “chennai” holds a hash, not a stream."
        assert registry.registry().feeds == {}

    run_live(scenario)


def test_any_other_path_is_refused_with_4404_not_a_routing_traceback(redis_client):
    async def scenario() -> None:
        for path in ("/ws/nowhere/", "/ws/jobs/../x/", "/ws/streams/chennai/", "/ws/dashboard/extra/"):
            refused = await refusal(live_application(), path)
            assert (refused.code, refused.message) == (messages.CLOSE_NOT_FOUND, f"There is no live feed at {path}.")

    run_live(scenario)


def test_one_user_may_hold_at_most_the_cap_of_sockets_and_a_closed_one_frees_its_place(redis_client, settings):
    settings.WEATHERSTREAMS_LIVE_SOCKETS_PER_USER = 3
    redis_client.xadd("chennai", {"temperature": "26"})
    redis_client.xadd("coimbatore", {"temperature": "21"})
    ana, bea = live_application(SignedInUser("ana", pk=1)), live_application(SignedInUser("bea", pk=2))

    async def scenario() -> None:
        async with (
            open_socket(ana, "/ws/streams/chennai/tail/"),
            open_socket(ana, "/ws/streams/coimbatore/tail/"),
            open_socket(ana, "/ws/dashboard/") as third,
        ):
            refused = await refusal(ana, "/ws/streams/chennai/tail/")
            assert refused.code == messages.CLOSE_TOO_MANY_SOCKETS == 4429
            assert refused.message == (
                "Too many live pages open: at most 3 at once per user. Close some, then reload this page."
            )
            async with open_socket(bea, "/ws/streams/chennai/tail/") as other_user:
                assert (await other_user.receive_json_from(timeout=5))["type"] == "snapshot"

            await third.disconnect()
            async with open_socket(ana, "/ws/streams/chennai/tail/") as again:
                assert (await again.receive_json_from(timeout=5))["type"] == "snapshot"
        assert registry.registry().sockets_by_user == {}, "every socket gave its place back"

    run_live(scenario)


def test_the_cap_counts_job_sockets_too(redis_client, owner, settings):
    settings.WEATHERSTREAMS_LIVE_SOCKETS_PER_USER = 1
    redis_client.xadd("chennai", {"temperature": "26"})
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)

    async def scenario() -> None:
        async with open_socket(live_application(owner), f"/ws/jobs/{job_id}/"):
            refused = await refusal(live_application(owner), "/ws/streams/chennai/tail/")
            assert refused.code == messages.CLOSE_TOO_MANY_SOCKETS

    run_live(scenario)


def test_a_job_socket_is_its_owner_s_or_staff_s(redis_client, owner, someone_else, staff_member):
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)
    path = f"/ws/jobs/{job_id}/"

    async def scenario() -> None:
        refused = await refusal(live_application(someone_else), path)
        assert refused.code == messages.CLOSE_FORBIDDEN == 4403
        assert refused.message == "This job was started by someone else: only they and staff can follow it."

        for allowed in (owner, staff_member):
            async with open_socket(live_application(allowed), path) as socket:
                assert (await socket.receive_json_from(timeout=5))["id"] == job_id

    run_live(scenario)


def test_a_job_started_by_no_one_is_followed_by_staff_only(redis_client, owner, staff_member):
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=None)

    async def scenario() -> None:
        assert (await refusal(live_application(owner), f"/ws/jobs/{job_id}/")).code == messages.CLOSE_FORBIDDEN
        async with open_socket(live_application(staff_member), f"/ws/jobs/{job_id}/") as socket:
            assert (await socket.receive_json_from(timeout=5))["state"] == "queued"

    run_live(scenario)


def test_a_job_that_rq_does_not_have_is_refused_with_4404(redis_client):
    async def scenario() -> None:
        refused = await refusal(live_application(), "/ws/jobs/0b5c2c0e-5d0a-4f57-9a1e-000000000000/")
        assert refused.code == messages.CLOSE_NOT_FOUND
        assert refused.message == "There is no such job (finished jobs are kept for a week)."

    run_live(scenario)


# Each was a traceback somewhere: RQ raises for some ("a:b" it even reads as job "a"), Channels
# raises TypeError for group names outside its alphabet or over 100 characters.
NOT_JOB_IDS = ["a:b", "a:", "x" * 300, "été", "%00", "job.1", "a b", "\ud800", "job!x"]


@pytest.mark.parametrize("job_id", NOT_JOB_IDS)
def test_a_job_id_rq_could_not_have_made_is_refused_with_4404(redis_client, owner, job_id):
    job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A job called a", user_id=owner.pk)

    async def scenario() -> None:
        refused = await refusal(live_application(owner), f"/ws/jobs/{job_id}/")
        assert refused.code == messages.CLOSE_NOT_FOUND
        assert refused.message.endswith("” is not a job ID.")
        assert len(refused.message) < 200

    run_live(scenario)


def test_every_job_id_let_through_makes_a_channel_layer_group_name(redis_client):
    longest = "x" * 64
    assert JOB_ID.fullmatch(longest) and not JOB_ID.fullmatch(longest + "x")

    async def scenario() -> None:
        assert get_channel_layer().require_valid_group_name(job_group(longest))

    run_live(scenario)


def test_a_job_socket_whose_job_goes_away_is_told_so_and_closed_with_4404(queue_client, owner, monkeypatch):
    from streams_app.live.consumers import JobConsumer

    monkeypatch.setattr(JobConsumer, "RESYNC_SECONDS", 0.1)
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)

    async def scenario() -> None:
        async with open_socket(live_application(owner), f"/ws/jobs/{job_id}/") as socket:
            assert (await socket.receive_json_from(timeout=5))["state"] == "queued"
            queue_client.delete(f"rq:job:{job_id}")
            closed = await closed_with(socket)
            assert closed.code == messages.CLOSE_NOT_FOUND
            assert closed.messages[-1] == messages.error_message(
                "There is no such job (finished jobs are kept for a week)."
            )

    run_live(scenario)
