"""Background jobs: the job functions run for real against Redis (no RQ worker needed:
they report progress only when RQ runs them), and the doors that start them (pages, admin)."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.jobs import tasks
from streams_app.jobs.progress import job_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(user, redis_client):
    """A logged-in user's browser (CSRF is checked in the tests of the pages themselves)."""
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def exports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "exports"


def test_simulate_day_writes_86400_readings_one_second_apart(redis_client):
    result = tasks.simulate_day(city="madurai", start="2024-05-01T00:00:00+00:00")
    assert result["written"] == 86_400
    rows = redis_client.xrange("madurai", count=3)
    assert [row[0] for row in rows] == [b"1714521600000-0", b"1714521601000-0", b"1714521602000-0"]
    assert set(rows[0][1]) == {b"temperature", b"humidity"}
    assert redis_client.xlen("madurai") == 86_400


def test_simulate_day_refuses_a_day_before_the_last_entry(member, redis_client, queue_client):
    redis_client.xadd("madurai", {"temperature": "30", "humidity": "40"})
    response = member.post("/jobs/simulate/", {"city": "madurai", "day": "2024-05-01"})
    assert response.status_code == 409
    assert "IDs in a stream must grow" in response.content.decode()
    assert redis_client.xlen("madurai") == 1
    assert queue_client.zcard("weatherstreams:jobs") == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_the_range_in_order(redis_client, exports_in_tmp, fmt):
    ids = [
        redis_client.xadd("chennai", {"temperature": str(n), "humidity": "10"}, id=f"1000-{n}").decode()
        for n in range(12_000)
    ]
    redis_client.xadd("chennai", {"temperature": "99", "humidity": "10", "note": "ünïcode"}, id="2000-0")
    result = tasks.export_stream(stream="chennai", start="1000-5", end="2000", fmt=fmt)
    path = exports_in_tmp / result["file"]
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["id", "time_utc", "temperature", "humidity", "other_fields"]
        exported = [row[0] for row in rows[1:]]
        assert json.loads(rows[-1][4]) == {"note": "ünïcode"}
    else:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        exported = [line["id"] for line in lines]
        assert lines[-1]["fields"]["note"] == "ünïcode"
    assert exported == [*ids[5:], "2000-0"]
    assert result["entries"] == len(exported)
    assert not list(exports_in_tmp.glob("*.part"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_filtered_export_writes_only_the_matching_entries(redis_client, exports_in_tmp, fmt):
    pipe = redis_client.pipeline(transaction=False)
    for n in range(12_000):  # more than one read of the export (5,000 entries each)
        pipe.xadd("chennai", {"temperature": "41" if n % 1000 == 7 else "20", "humidity": "10"}, id=f"1000-{n}")
    pipe.xadd("chennai", {"note": "Storm at dusk"}, id="2000-0")
    pipe.execute()
    result = tasks.export_stream(
        stream="chennai", start="1000-5", end="+", fmt=fmt, filter_text='temperature > 40 or note ~ "storm"'
    )
    path = exports_in_tmp / result["file"]
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            exported = [row[0] for row in list(csv.reader(handle))[1:]]
    else:
        exported = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert exported == [f"1000-{n}" for n in range(7, 12_000, 1000)] + ["2000-0"]
    assert result["entries"] == 13 and result["scanned"] == 12_000 - 5 + 1


def test_an_export_with_a_bad_filter_fails_with_its_position(redis_client, exports_in_tmp):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    with pytest.raises(BadInput, match="at position 14 of the filter") as refused:
        tasks.export_stream(stream="chennai", start="-", end="+", fmt="csv", filter_text="temperature > warm")
    assert refused.value.field == "filter" and refused.value.position == 14
    assert not list(exports_in_tmp.glob("*"))


def test_the_export_form_has_a_filter_preset_from_the_stream_page(member, redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    page = member.get("/jobs/?stream=chennai&start=-&end=%2B&filter=temperature+%3E+40").content.decode()
    assert 'name="filter"' in page and 'value="temperature &gt; 40"' in page


def test_an_export_started_from_the_page_takes_the_filter(member, redis_client, queue_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    bad = member.post("/jobs/export/", {"stream": "chennai", "format": "csv", "filter": "temperature >"})
    assert bad.status_code == 400 and "at position 13 of the filter" in bad.content.decode()
    assert queue_client.zcard("weatherstreams:jobs") == 0
    response = member.post("/jobs/export/", {"stream": "chennai", "format": "csv", "filter": "temperature > 40"})
    assert response.status_code == 302
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    from streams_app.gateway.job_queue import job_record

    assert job_record(job_id).arguments["filter_text"] == "temperature > 40"


def test_export_of_a_missing_stream_fails_with_a_message(redis_client, exports_in_tmp):
    with pytest.raises(NotFound, match="no stream called"):
        tasks.export_stream(stream="nowhere", start="-", end="+", fmt="csv")


def test_trim_removes_old_entries_but_never_pending_ones_unconfirmed(redis_client):
    for n in range(1, 101):
        redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"}, id=f"{n}-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"}, count=5)

    with pytest.raises(Conflict, match="still pending in mygroup"):
        tasks.trim(stream="chennai", strategy="maxlen", threshold="10", approximate=False, confirm_pending=False)
    assert redis_client.xlen("chennai") == 100

    assert tasks.trim(stream="chennai", strategy="minid", threshold="3", approximate=False, confirm_pending=True) == {
        "removed": 2
    }
    assert tasks.trim(stream="chennai", strategy="maxlen", threshold="10", approximate=False, confirm_pending=True) == {
        "removed": 88
    }
    assert redis_client.xlen("chennai") == 10
    redis_client.xack("chennai", "mygroup", "1-0", "2-0", "3-0", "4-0", "5-0")
    assert tasks.trim(stream="chennai", strategy="maxlen", threshold="5", approximate=False, confirm_pending=False) == {
        "removed": 5
    }


def test_jobs_are_started_from_the_page_and_from_admin(member, client, staff_user, redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    response = member.post("/jobs/export/", {"stream": "chennai", "start": "-", "end": "+", "format": "jsonl"})
    assert response.status_code == 302
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    status = job_status(job_id)
    assert status.state == "queued" and status.kind == "export"

    client.force_login(staff_user)
    page = client.get("/admin/streams_app/reading/jobs/")
    assert page.status_code == 200 and "Simulate a day" in page.content.decode()
    response = client.post(
        "/admin/streams_app/reading/jobs/", {"kind": "simulate", "city": "madurai", "day": date(2024, 5, 1).isoformat()}
    )
    assert response.status_code == 302
    assert job_status(response["Location"].rstrip("/").rsplit("/", 1)[-1]).kind == "simulate"
    bad = client.post(
        "/admin/streams_app/reading/jobs/",
        {"kind": "trim", "stream": "chennai", "strategy": "maxlen", "threshold": "x"},
    )
    assert bad.status_code == 400 and "whole number" in bad.content.decode()


def test_the_job_page_and_download_need_the_owner(member, client, redis_client, exports_in_tmp):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    response = member.post("/jobs/export/", {"stream": "chennai", "format": "csv"})
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert member.get(f"/jobs/{job_id}/").status_code == 200
    assert member.get(f"/jobs/{job_id}/download/").status_code == 404  # not run yet
    assert member.get("/jobs/not-a-job/").status_code == 404
    assert client.get(f"/jobs/{job_id}/").status_code == 302  # anonymous: to the login page


def test_jobs_page_lists_recent_jobs(member, redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    member.post("/jobs/export/", {"stream": "chennai", "format": "csv"})
    page = member.get("/jobs/").content.decode()
    assert "Export chennai" in page and "queued" in page


def test_admin_lists_and_creates_consumer_groups(client, staff_user, redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "10"})
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    client.force_login(staff_user)
    listing = client.get("/admin/streams_app/consumergroup/").content.decode()
    assert "mygroup" in listing and "/streams/chennai/groups/mygroup/" in listing

    response = client.post("/admin/streams_app/consumergroup/add/", {"stream": "madurai", "name": "g2", "start": "0"})
    assert response.status_code == 302
    assert [g["name"] for g in redis_client.xinfo_groups("madurai")] == [b"g2"]
    again = client.post("/admin/streams_app/consumergroup/add/", {"stream": "madurai", "name": "g2", "start": "0"})
    assert again.status_code == 409 and "already exists" in again.content.decode()
    bad = client.post("/admin/streams_app/consumergroup/add/", {"stream": "chennai", "name": "bad name", "start": "$"})
    assert bad.status_code == 400 and "group name" in bad.content.decode()
