"""What a new user noticed, at the doors: stream fields offer the streams there are (user streams
only, a bounded list), job forms offer their choices as radio buttons, the favicon answers, and
job pages say how big, when and how long."""

from __future__ import annotations

import re
from html import unescape

import django_rq
import pytest
from rq import SimpleWorker

pytestmark = pytest.mark.django_db

INTERNAL = ["weatherstreams:processed:mygroup", "rq:results:0f3a", "chennai:dead", "{chennai}:dead"]


def datalist(html: str, list_id: str) -> list[str]:
    """The option values of the page's <datalist id=list_id> (it must be there, once)."""
    [body] = re.findall(rf'<datalist id="{list_id}">(.*?)</datalist>', html, flags=re.S)
    return [unescape(value) for value in re.findall(r'<option value="([^"]*)">', body)]


def get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def run_queued_jobs() -> None:
    """Run every queued job here and now, as the job worker would."""
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def streams(redis_client) -> list[str]:
    """Two cities, a stream with an odd but valid name, internal streams and a hash beside them."""
    users = ["chennai", "madurai", "São-Paulo"]
    for name in [*users, *INTERNAL]:
        redis_client.xadd(name, {"temperature": "26", "humidity": "10"})
    redis_client.hset("not-a-stream", "a", "1")
    redis_client.xadd(b"bad\x07bell", {"temperature": "1"})  # no one can type it: not offered
    return sorted(users)


@pytest.fixture
def exports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "exports"


# --- the streams a form offers ----------------------------------------------------------------


def test_the_add_reading_form_offers_the_user_streams_only(web, streams):
    html = get(web, "/readings/add/")
    assert datalist(html, "known-streams") == streams
    assert 'list="known-streams"' in html


def test_every_stream_field_of_the_job_forms_offers_the_user_streams_only(web, streams):
    html = get(web, "/jobs/")
    assert datalist(html, "known-streams") == streams
    fields = re.findall(r'<input[^>]*name="(city|stream)"[^>]*>', html)
    inputs = re.findall(r'<input[^>]*name="(?:city|stream)"[^>]*>', html)
    assert sorted(fields) == ["city", "stream", "stream"]
    assert all('list="known-streams"' in tag and 'autocomplete="off"' in tag for tag in inputs)


def test_a_job_form_sent_back_with_an_error_still_offers_the_streams(web, streams):
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post(
        "/jobs/trim/", {"stream": "chennai", "strategy": "maxlen", "threshold": "x", "csrfmiddlewaretoken": token}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "whole number" in html
    assert datalist(html, "known-streams") == streams
    assert re.search(r'<input[^>]*name="stream"[^>]*list="known-streams"|list="known-streams"[^>]*name="stream"', html)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/streams_app/reading/add/",
        "/admin/streams_app/consumergroup/add/",
        "/admin/streams_app/reading/jobs/",
    ],
)
def test_the_admin_forms_offer_the_user_streams_in_every_stream_field(staff, streams, url):
    html = get(staff, url)
    assert datalist(html, "known-streams") == streams
    inputs = re.findall(r'<input[^>]*name="(?:city|stream)"[^>]*>', html)
    assert inputs and all('list="known-streams"' in tag and 'autocomplete="off"' in tag for tag in inputs)


def test_the_offered_streams_are_bounded_however_many_there_are(web, redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for n in range(450):
        pipe.xadd(f"city{n:03d}", {"temperature": "1"})
    pipe.execute()
    offered = datalist(get(web, "/readings/add/"), "known-streams")
    assert 0 < len(offered) <= 200
    assert offered == sorted(offered) and len(set(offered)) == len(offered)


def test_no_streams_offer_an_empty_list(web, redis_client):
    assert datalist(get(web, "/readings/add/"), "known-streams") == []
    assert datalist(get(web, "/jobs/"), "known-streams") == []


# --- choices that are not cut off ------------------------------------------------------------------


def test_the_trim_strategy_and_export_format_are_radio_buttons_with_the_default_checked(web, streams):
    html = get(web, "/jobs/")
    radios = re.findall(r'<input type="radio" name="(\w+)" value="(\w+)"( checked)?>', html)
    assert radios == [
        ("format", "csv", " checked"),
        ("format", "jsonl", ""),
        ("strategy", "maxlen", " checked"),
        ("strategy", "minid", ""),
    ]
    assert "drop entries older than an ID or date-time (MINID)" in html
    assert "<select" not in html.split('<div class="job-forms">', 1)[1].split("<h2>Recent jobs</h2>", 1)[0]


def test_a_trim_form_sent_back_keeps_the_chosen_strategy(web, streams):
    token = web.get("/jobs/").cookies["csrftoken"].value
    html = web.post(
        "/jobs/trim/", {"stream": "chennai", "strategy": "minid", "threshold": "nonsense", "csrfmiddlewaretoken": token}
    ).content.decode()
    assert '<input type="radio" name="strategy" value="minid" checked>' in html
    assert '<input type="radio" name="strategy" value="maxlen">' in html


# --- the favicon ----------------------------------------------------------------------------------


def test_the_favicon_answers_with_an_image_for_anyone(client, redis_client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.lstrip().startswith(b"<svg")


def test_every_page_links_the_svg_favicon(web, redis_client):
    html = get(web, "/")
    [href] = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert href.endswith("/streams_app/favicon.svg")
    assert web.get(href).status_code == 200


# --- job pages: size, start, finish, duration ---------------------------------------------------


def test_a_queued_job_page_says_it_has_not_started(web, streams):
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post("/jobs/export/", {"stream": "chennai", "format": "csv", "csrfmiddlewaretoken": token})
    html = get(web, response["Location"])
    for label, value in (("Started", "not yet"), ("Finished", "not yet"), ("Duration", "—"), ("Size", "—")):
        assert re.search(rf"<dt>{label}</dt><dd data-job-\w+>{value}</dd>", html), label


def test_a_finished_export_page_shows_the_file_size_the_entries_and_its_times(web, redis_client, exports_in_tmp):
    from streams_app.jobs.progress import job_status

    for n in range(25):
        redis_client.xadd("madurai", {"temperature": str(n), "humidity": "10"}, id=f"{1_796_000_000_000 + n}-0")
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post("/jobs/export/", {"stream": "madurai", "format": "csv", "csrfmiddlewaretoken": token})
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    run_queued_jobs()

    [export_file] = exports_in_tmp.iterdir()
    status = job_status(job_id)
    assert status.state == "finished" and status.size == export_file.stat().st_size
    assert status.processed == 25
    assert status.started_at is not None and status.ended_at is not None
    assert status.started_at <= status.ended_at and status.duration == status.ended_at - status.started_at

    html = get(web, f"/jobs/{job_id}/")
    size = re.search(r"<dt>Size</dt><dd data-job-size>([^<]*)</dd>", html).group(1)
    assert re.fullmatch(r"[\d.]+ (bytes|KB), 25 entries exported", size), size
    started = re.search(r"<dt>Started</dt><dd data-job-started>([^<]*)</dd>", html).group(1)
    finished = re.search(r"<dt>Finished</dt><dd data-job-finished>([^<]*)</dd>", html).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", started) and started <= finished
    assert re.search(r"<dt>Duration</dt><dd data-job-duration>\d+(\.\d)? m?s</dd>", html)
    assert "Download madurai_all.csv" in html

    message = status.as_message()  # what an open job page is sent
    assert message["size"] == size and message["started"] == started and message["finished"] == finished
    assert message["duration"] == status.duration_text != ""

    listing = get(web, "/jobs/")
    assert f'<td data-label="Started" class="nowrap">{started}</td>' in listing


def test_a_finished_trim_page_shows_the_entries_it_removed(web, redis_client):
    for n in range(10):
        redis_client.xadd("chennai", {"temperature": str(n), "humidity": "1"}, id=f"{n + 1}-0")
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post(
        "/jobs/trim/",
        {"stream": "chennai", "strategy": "maxlen", "threshold": "4", "csrfmiddlewaretoken": token},
    )
    run_queued_jobs()
    html = get(web, response["Location"])
    assert "<dt>Entries</dt><dd data-job-size>6 entries removed</dd>" in html
    assert "<dd data-job-finished>not yet</dd>" not in html
