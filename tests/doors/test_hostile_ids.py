"""IDs at the edges: a stream at the top of the ID space (an accepted maximal ID, then `*`) is a
409 saying the stream is exhausted at every door that adds to it (the ingest doors are in
test_hostile_ingest.py; here re-drive and the simulate job); reads at the top of the ID space
answer; job IDs RQ cannot hold ("a:b", 300 characters, non-ASCII, NUL) are a 404 on the job's
page and its download, and get a channel-layer group Channels accepts."""

from __future__ import annotations

import json

import pytest
from channels.layers import BaseChannelLayer

from streams_app.gateway.keys import dead_letter_key
from streams_app.jobs.progress import job_group
from tests.doors.test_ingest_contract import csrf_token, snapshot

pytestmark = pytest.mark.django_db

TOP = "18446744073709551615-18446744073709551615"


@pytest.fixture
def exhausted(redis_client) -> dict:
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id="5-0")
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id=TOP)
    return snapshot(redis_client)


def test_redriving_dead_letters_onto_an_exhausted_stream_is_409_and_moves_nothing(api, exhausted, redis_client):
    dead = redis_client.xadd(
        dead_letter_key("chennai"), {"stream": "chennai", "id": "5-0", "orig:temperature": "26"}
    ).decode()
    before = snapshot(redis_client)

    response = api.post(
        "/api/streams/chennai/dead-letters/redrive", data=json.dumps({"ids": [dead]}), content_type="application/json"
    )

    assert response.status_code == 409
    assert "last possible ID" in response.json()["error"]
    assert snapshot(redis_client) == before


def test_simulating_a_day_on_an_exhausted_stream_is_refused_before_the_job(web, exhausted, redis_client, queue_client):
    response = web.post(
        "/jobs/simulate/", {"city": "chennai", "day": "2024-05-01", "csrfmiddlewaretoken": csrf_token(web)}
    )

    assert response.status_code == 409
    assert "IDs in a stream must grow" in response.content.decode()
    assert snapshot(redis_client) == exhausted and queue_client.exists("weatherstreams:jobs") == 0


@pytest.mark.parametrize(
    "query",
    [
        {"start": TOP},
        {"start": f"({TOP}"},
        {"end": f"({TOP}", "order": "desc"},
        {"after": TOP},
        {"before": TOP, "order": "desc"},
        {"start": "18446744073709551615"},
    ],
)
def test_reading_at_the_top_of_the_id_space_answers(api, web, exhausted, query):
    response = api.get("/api/streams/chennai/entries", query)

    assert response.status_code == 200
    assert {e["id"] for e in response.json()["entries"]} <= {"5-0", TOP}
    assert web.get("/streams/chennai/", query).status_code == 200


@pytest.mark.parametrize(
    "query", [{"start": "18446744073709551616"}, {"after": f"{TOP}0"}, {"end": "1-18446744073709551616"}]
)
def test_ids_beyond_the_top_of_the_id_space_are_400(api, exhausted, query):
    response = api.get("/api/streams/chennai/entries", query)

    assert response.status_code == 400
    assert "out of range" in response.json()["error"] or "not a valid entry ID" in response.json()["error"]


# --- job IDs RQ cannot hold ----------------------------------------------------------------------

JOB_IDS = ["a:b", "x" * 300, "..x", "%C3%A9", "%00", "a%20b", "%ED%A0%80", "~_w", "a.b"]


@pytest.mark.parametrize("job_id", JOB_IDS)
def test_a_job_id_rq_cannot_hold_is_404_on_the_jobs_page_and_its_download(web, redis_client, job_id):
    for path in (f"/jobs/{job_id}/", f"/jobs/{job_id}/download/"):
        response = web.get(path)
        assert response.status_code == 404, path
        assert "no such job" in response.content.decode().lower()


@pytest.mark.parametrize("job_id", ["a:b", "x" * 300, "../x", "é", "a\x00b", "\udcff", "", "job id"])
def test_every_job_id_gets_a_group_name_channels_accepts(job_id):
    group = job_group(job_id)

    assert BaseChannelLayer().require_valid_group_name(group)
    assert group != job_group("a")  # "a:b" is not job "a"


def test_a_real_job_keeps_its_readable_group():
    assert job_group("4f0c2a3e-9d1b-4c55-8a0e-1f2d3c4b5a69") == "job.4f0c2a3e-9d1b-4c55-8a0e-1f2d3c4b5a69"
