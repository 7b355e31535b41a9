"""A handler's error as its dead letter keeps it: the whole traceback in the record and in the
API, and on the dead-letters page the exception first, the rest folded in <details>; a traceback
too long to keep whole keeps its start and its end (the exception)."""

from __future__ import annotations

import html
import re

import pytest

from streams_app.domain.dead_letters import error_summary
from streams_app.gateway.keys import dead_letter_key
from streams_app.gateway.worker_io import ERROR_CHARS, BatchOutcome, DeadLetter, WorkerIO, bounded_error
from tests.support.workers import wait_until
from tests.unit.worker.in_process import GROUP, STREAM, InProcessWorkers, add_readings, pending_ids

DEAD = dead_letter_key(STREAM)


def refuse_with_two_lines(message) -> None:
    if message.fields.get("poison") == "1":
        raise ValueError(f"{message.id}: temperature 'x' is not a number\nthe reading came from a broken sensor")


def error_cell(page: str) -> str:
    [cell] = re.findall(r'<td data-label="Error" class="error-cell">(.*?)</td>', page, re.S)
    return cell


@pytest.fixture
def workers(redis_client):
    found = InProcessWorkers(redis_client)
    yield found
    found.stop_all()


def test_a_real_traceback_shows_its_exception_first_and_the_rest_folded(web, api, workers, redis_client):
    ids = add_readings(redis_client, 2, poison={1})
    running = workers.run(refuse_with_two_lines, max_deliveries=1, claim_idle_ms=50)
    wait_until(lambda: redis_client.xlen(DEAD) == 1 and not pending_ids(redis_client), what="the dead letter")
    running.stop()
    [(_, raw)] = redis_client.xrange(DEAD)
    recorded = raw[b"error"].decode()
    assert recorded.startswith("Traceback (most recent call last):")
    assert recorded.rstrip().endswith("the reading came from a broken sensor")
    assert "in refuse_with_two_lines" in recorded

    cell = error_cell(web.get(f"/streams/{STREAM}/dead-letters/").content.decode())
    summary = f"ValueError: {ids[1]}: temperature &#x27;x&#x27; is not a number"
    assert f"<strong>{summary}</strong>" in cell, cell
    folded = re.search(r"<details><summary>the whole traceback</summary><pre>(.*)</pre></details>", cell, re.S)
    assert folded and html.unescape(folded.group(1)) == recorded

    [letter] = api.get(f"/api/streams/{STREAM}/dead-letters").json()["dead_letters"]
    assert letter["error"] == recorded, "the API keeps the whole text"
    assert letter["error_summary"] == html.unescape(summary), "and says its exception line apart"


def long_traceback(frames: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for n in range(frames):
        lines += [f'  File "/srv/app/layer{n}.py", line {n + 1}, in step{n}', f"    return step{n + 1}(reading)"]
    lines += ["    ^^^^^^^^^^^^^^^^^^^^^", "KeyError: 'humidity'"]
    return "\n".join(lines) + "\n"


def test_a_traceback_too_long_to_keep_whole_keeps_its_start_and_its_exception(web, redis_client):
    error = long_traceback(200)
    assert len(error) > 3 * ERROR_CHARS
    [entry_id] = add_readings(redis_client, 1)
    outcome = BatchOutcome(
        dead_letters=[
            DeadLetter(
                stream=STREAM,
                id=entry_id,
                fields={"temperature": "21"},
                group=GROUP,
                consumer="alice",
                deliveries=6,
                error=error,
                dead_stream=DEAD,
            )
        ]
    )
    WorkerIO(redis_client).finish_batch(GROUP, "alice", outcome)
    [(_, raw)] = redis_client.xrange(DEAD)
    kept = raw[b"error"].decode()
    assert kept == bounded_error(error) and len(kept) <= ERROR_CHARS + 50
    assert kept.startswith('Traceback (most recent call last):\n  File "/srv/app/layer0.py"')
    assert kept.endswith("KeyError: 'humidity'\n") and "characters left out" in kept

    cell = error_cell(web.get(f"/streams/{STREAM}/dead-letters/").content.decode())
    assert "<strong>KeyError: &#x27;humidity&#x27;</strong>" in cell


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        ("", ""),
        ("unknown (no error was recorded)", "unknown (no error was recorded)"),
        ("first line\nlast line\n\n", "last line"),
        (long_traceback(2), "KeyError: 'humidity'"),
        (bounded_error(long_traceback(300)), "KeyError: 'humidity'"),
        (
            "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n    g()\nKeyError: 'x'\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    raise ValueError('bad')\n"
            "ValueError: bad\nwith a second line\n",
            "ValueError: bad",
        ),
    ],
)
def test_the_summary_is_the_exception_of_a_traceback_else_the_last_line(error, summary):
    assert error_summary(error) == summary
