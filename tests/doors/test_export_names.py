"""Export downloads are named after their stream and range (`madurai_2026-11-30.csv`), in safe
characters: the name itself, and the download's Content-Disposition (an ASCII `filename=` for
every client, plus `filename*=UTF-8''…` when the stream's name is not ASCII)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import django_rq
import pytest
from rq import SimpleWorker

from streams_app.domain.export_names import ExportFileName, export_file_name

KOLKATA = ZoneInfo("Asia/Kolkata")


def ms(text: str, tz=UTC) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


@pytest.mark.parametrize(
    ("stream", "start", "end", "fmt", "expected"),
    [
        pytest.param("madurai", "2026-11-30", "2026-11-30", "csv", "madurai_2026-11-30.csv", id="one day"),
        pytest.param(
            "madurai", "2026-11-30 06:00", "2026-11-30 18:30", "csv", "madurai_2026-11-30.csv", id="within a day"
        ),
        pytest.param(
            "chennai", "2026-11-30", "2026-12-01", "jsonl", "chennai_2026-11-30_2026-12-01.jsonl", id="two days"
        ),
        pytest.param("chennai", "-", "+", "csv", "chennai_all.csv", id="all"),
        pytest.param("chennai", "", "", "csv", "chennai_all.csv", id="all, as empty bounds"),
        pytest.param("chennai", "2026-11-30", "+", "csv", "chennai_from_2026-11-30.csv", id="open end"),
        pytest.param("chennai", "-", "2026-12-01", "csv", "chennai_until_2026-12-01.csv", id="open start"),
        pytest.param(
            "chennai",
            str(ms("2026-11-30 10:00")),
            f"({ms('2026-12-02 00:00')}-0",
            "csv",
            "chennai_2026-11-30_2026-12-01.csv",
            id="IDs, exclusive end",
        ),
        pytest.param("chennai", "not a bound", "+", "csv", "chennai_range.csv", id="unreadable bound"),
        pytest.param("weather/../../etc", "-", "+", "csv", "weather_.._.._etc_all.csv", id="no path in it"),
        pytest.param('a"b;c\r\nd', "-", "+", "csv", "a_b_c_d_all.csv", id="no header breakers"),
        pytest.param("...", "-", "+", "csv", "stream_all.csv", id="nothing left"),
        pytest.param("x" * 300, "-", "+", "csv", "x" * 80 + "_all.csv", id="cut to 80"),
    ],
)
def test_an_export_is_named_after_its_stream_and_the_dates_of_its_range(stream, start, end, fmt, expected):
    name = export_file_name(stream=stream, start=start, end=end, fmt=fmt, tz=UTC)
    assert name == ExportFileName(name=expected, ascii_name=expected) and name.is_ascii


def test_the_dates_are_those_of_the_site_time_zone():
    # 2026-11-30 20:00 UTC is already 2026-12-01 in Kolkata.
    start = str(ms("2026-11-30 20:00"))
    assert export_file_name(stream="chennai", start=start, end="+", fmt="csv", tz=UTC).name == (
        "chennai_from_2026-11-30.csv"
    )
    assert export_file_name(stream="chennai", start=start, end="+", fmt="csv", tz=KOLKATA).name == (
        "chennai_from_2026-12-01.csv"
    )


@pytest.mark.parametrize(
    ("stream", "name", "ascii_name"),
    [
        ("São-Paulo", "São-Paulo_all.csv", "Sao-Paulo_all.csv"),
        ("சென்னை", "சென்னை_all.csv", "stream_all.csv"),  # Tamil's vowel signs are kept with their letters
        ("Zürich:Flughafen", "Zürich_Flughafen_all.csv", "Zurich_Flughafen_all.csv"),
        ("bad\udcffbytes", "bad_bytes_all.csv", "bad_bytes_all.csv"),  # not UTF-8 in Redis
    ],
)
def test_a_non_ascii_name_keeps_its_letters_and_has_an_ascii_fallback(stream, name, ascii_name):
    result = export_file_name(stream=stream, start="-", end="+", fmt="csv", tz=UTC)
    assert (result.name, result.ascii_name) == (name, ascii_name)
    assert result.ascii_name.isascii()


# --- the download, through the page ---------------------------------------------------------------


@pytest.fixture
def exports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "exports"


def export_through_the_page(web, *, stream: str, start: str = "", end: str = "", fmt: str = "csv"):
    """Start an export from the jobs page, run it as the job worker would, and download it."""
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post(
        "/jobs/export/",
        {"stream": stream, "start": start, "end": end, "format": fmt, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.content[:500]
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    download = web.get(response["Location"] + "download/")
    assert download.status_code == 200
    return download


@pytest.fixture
def days(redis_client) -> None:
    """Readings in madurai, chennai and São-Paulo on 2026-11-30 and 2026-12-01 (UTC)."""
    for stream in ("madurai", "chennai", "São-Paulo", "சென்னை"):
        for moment in ("2026-11-30 08:00", "2026-11-30 20:00", "2026-12-01 09:00"):
            redis_client.xadd(stream, {"temperature": "30", "humidity": "40"}, id=f"{ms(moment)}-0")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "fmt", "filename", "rows"),
    [
        pytest.param("2026-11-30", "2026-11-30", "csv", "madurai_2026-11-30.csv", 2, id="one day"),
        pytest.param("2026-11-30", "2026-12-01", "jsonl", "madurai_2026-11-30_2026-12-01.jsonl", 3, id="two days"),
        pytest.param("-", "+", "csv", "madurai_all.csv", 3, id="all"),
    ],
)
def test_the_download_is_named_after_the_stream_and_range(web, days, exports_in_tmp, start, end, fmt, filename, rows):
    download = export_through_the_page(web, stream="madurai", start=start, end=end, fmt=fmt)
    assert download["Content-Disposition"] == f'attachment; filename="{filename}"'
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == rows + (1 if fmt == "csv" else 0)  # CSV has a header row


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stream", "fallback", "utf8_name"),
    [
        ("São-Paulo", "Sao-Paulo_2026-11-30.csv", "São-Paulo_2026-11-30.csv"),
        ("சென்னை", "stream_2026-11-30.csv", "சென்னை_2026-11-30.csv"),
    ],
)
def test_a_non_ascii_stream_is_downloaded_with_both_names(web, days, exports_in_tmp, stream, fallback, utf8_name):
    download = export_through_the_page(web, stream=stream, start="2026-11-30", end="2026-11-30")
    assert download["Content-Disposition"] == (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(utf8_name, safe='')}"
    )
    assert download["Content-Disposition"].isascii()
    assert download["Content-Type"].startswith("text/csv")


@pytest.mark.django_db
def test_the_job_page_names_the_download_before_it_is_ready(web, days):
    token = web.get("/jobs/").cookies["csrftoken"].value
    response = web.post(
        "/jobs/export/",
        {
            "stream": "chennai",
            "start": "2026-11-30",
            "end": "2026-12-01",
            "format": "jsonl",
            "csrfmiddlewaretoken": token,
        },
    )
    html = web.get(response["Location"]).content.decode()
    assert "Download chennai_2026-11-30_2026-12-01.jsonl" in html
