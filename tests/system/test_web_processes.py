"""Several web processes on one port (`python -m weatherstreams.serve --processes 2`, as
`WEATHERSTREAMS_WEB_PROCESSES=2 ./scripts/run` starts them): real uvicorn processes (the server the
run command ships; daphne once, as `--server daphne`), the real channel layer, the suite's
redis-server. Each connection lands on one process; /proc tells which
(tests/support/web_processes.py), so a test puts a live page on one process and a write on another.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from streams_app.jobs.progress import job_group
from tests.support.web_processes import Launch, ServedApp, SocketClosed, alive

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds which process holds a socket in /proc"),
]


@pytest.fixture(scope="module")
def served(redis_server) -> Iterator[ServedApp]:
    app = ServedApp(redis_server.url)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def two(served) -> Launch:
    """One launcher with two web processes, for the tests that do not stop it."""
    return served.launch(2)


def test_two_web_processes_share_the_port_and_both_answer(two):
    assert len(two.children) == 2 and len(set(two.children)) == 2
    assert "2 web processes on http://127.0.0.1:" in two.log()
    for pid in two.children:
        sock = two.connection_on(pid)
        client_port = sock.getsockname()[1]
        response = two.request(sock, "GET", "/accounts/login/")
        assert response.status == 200
        assert response.getheader("Server") is None, "no Server banner on any process"
        line = two.access_log_line(pid, client_port, 'GET /accounts/login/ HTTP/1.1" 200')
        assert line, f"web process {pid} logged no request from port {client_port}:\n{two.log()[-3000:]}"


def test_a_live_page_on_one_process_gets_a_reading_added_through_another(two, redis_client):
    watcher, writer = two.children
    redis_client.xadd("chennai", {"temperature": "25", "humidity": "11"})
    cookies = two.login()

    page_sock = two.connection_on(watcher)
    live = two.websocket(page_sock, "/ws/streams/chennai/tail/", cookies)
    try:
        snapshot = live.receive_json()
        assert snapshot["type"] == "snapshot", snapshot
        assert two.holder(page_sock) == watcher

        api_sock = two.connection_on(writer)
        api_port = api_sock.getsockname()[1]
        response = two.request(
            api_sock,
            "POST",
            "/api/streams/chennai/readings",
            body=json.dumps({"temperature": 31, "humidity": 12}),
            headers={"Authorization": f"Token {two.served.api_token}", "Content-Type": "application/json"},
        )
        assert response.status == 201, response.body
        added = json.loads(response.body)["id"]
        assert two.access_log_line(writer, api_port, 'POST /api/streams/chennai/readings HTTP/1.1" 201'), two.log()[
            -3000:
        ]

        received = live.receive_until(
            lambda message: message["type"] == "entries" and any(e["id"] == added for e in message["entries"])
        )
        [entry] = [e for e in received[-1]["entries"] if e["id"] == added]
        assert entry["fields"] == {"temperature": "31", "humidity": "12"}
        assert two.holder(page_sock) == watcher, "the page stayed on its process"
    finally:
        live.close()


def test_a_job_started_on_one_process_is_followed_on_another_over_the_shared_channel_layer(two, redis_client):
    starter, follower = two.children
    cookies = two.login()

    # The job is started through the jobs page on one process (no job worker runs: it stays queued)...
    form_sock = two.connection_on(starter)
    response = two.request(
        form_sock,
        "POST",
        "/jobs/simulate/",
        body=urllib.parse.urlencode({"city": "chennai", "csrfmiddlewaretoken": cookies["csrftoken"]}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "Origin": two.url,
        },
    )
    assert response.status == 302, response.body[:2000]
    job_id = re.fullmatch(r"/jobs/([^/]+)/", response.getheader("Location")).group(1)

    # ...and followed on the other, which hears what is pushed over the channel layer.
    live = two.websocket(two.connection_on(follower), f"/ws/jobs/{job_id}/", cookies)
    try:
        first = live.receive_json()
        assert (first["type"], first["id"], first["state"]) == ("job", job_id, "queued")
        pushed = {**first, "message": "pushed over the channel layer by another process"}
        async_to_sync(get_channel_layer().group_send)(job_group(job_id), {"type": "job.progress", "status": pushed})
        received = live.receive_until(lambda message: message.get("message") == pushed["message"])
        assert received[-1] == pushed
    finally:
        live.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_every_web_process_within_seconds_closing_live_pages_so_they_reconnect(
    served, redis_client, signum
):
    launch = served.launch(2)
    children = list(launch.children)
    redis_client.xadd("chennai", {"temperature": "25", "humidity": "11"})
    live = launch.websocket(launch.connect(), "/ws/streams/chennai/tail/", launch.login())
    assert live.receive_json()["type"] == "snapshot"
    began = time.monotonic()
    launch.signal(signum)
    with pytest.raises(SocketClosed) as closed:
        live.receive_until(lambda message: False, timeout=5)
    assert closed.value.code == 1012, "service restart: the page reconnects"
    assert launch.wait(timeout=10) == 0, launch.log()
    assert time.monotonic() - began < 5, f"took {time.monotonic() - began:.1f} s"
    assert not [pid for pid in children if alive(pid)], "no web process is left behind"
    assert f"{signal.Signals(signum).name}: stopping 2 web processes" in launch.log()
    assert "all web processes stopped" in launch.log()
    live.close()


def test_daphne_still_serves_the_app_when_chosen(served):
    launch = served.launch(1, "--server", "daphne")
    sock = launch.connect()
    response = launch.request(sock, "GET", "/accounts/login/")
    assert response.status == 200
    assert response.getheader("Server") is None
    assert "web process 1 of 1" in launch.log() and ": daphne" in launch.log()
    launch.signal(signal.SIGTERM)
    assert launch.wait(timeout=10) == 0, launch.log()


def test_a_web_process_killed_stops_the_rest_and_the_launcher_fails_saying_which(served):
    launch = served.launch(3)
    victim, *others = launch.children
    os.kill(victim, signal.SIGKILL)
    assert launch.wait(timeout=15) == 1, launch.log()
    assert not [pid for pid in others if alive(pid)], "the others were stopped"
    assert re.search(rf"web process \d of 3 \(pid {victim}\) killed by SIGKILL; stopping the others", launch.log())


def test_the_launcher_killed_leaves_no_web_process_behind(served):
    launch = served.launch(2)
    children = list(launch.children)
    launch.process.kill()
    launch.process.wait()
    deadline = time.monotonic() + 10
    while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)], "they are sent SIGTERM when the launcher dies"
