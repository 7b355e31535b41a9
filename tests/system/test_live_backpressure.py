"""Back-pressure on the live tail, against the web server the run command ships (a real uvicorn
process through weatherstreams.serve, tests/support/live_server.py), the suite's real
redis-server (or cluster) and a real producer process adding ~1,000 entries a second, each
carrying a 4 KB field (about 4 MB/s on the stream).

Two tabs watch the stream with raw WebSockets: one reads normally; the other logs in, takes its
snapshot and then stops reading from its socket (a 4 KB receive buffer, so TCP fills at once).
The server's memory must stay flat: what a stuck tab may hold is bounded (its inbox, at most
SUBSCRIBER_QUEUE messages or 1 MiB, emptied when it overflows; the server's write buffer,
uvicorn's 64 KiB; live/feeds.py), and after WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS it is let go
of altogether. A server that kept every frame for it, as daphne does (Twisted buffers whatever
it is given), grows with the stream instead: in this very scenario, over the 7.5 s measured,
daphne's RSS grew by 30 MB (and on, ~4 MB/s) while uvicorn's grew by 0.0 MB (2026-12-01). The
bound, RSS_GROWTH_BOUND_MB (10 MB), is what a stuck tab may hold at most (1 MiB of text in its
inbox, two or three times that decoded, 64 KiB of write buffer) plus the allocator's own swings,
and a third of daphne's growth. The reading tab gets every entry, in order,
none twice (a resync, if any, is counted and repaired from its snapshot), and the stuck one,
when it reads again, finds a resync (a snapshot) or the documented close code, 4408. No timing
is asserted."""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from streams_app.live.messages import CLOSE_TOO_SLOW
from tests.support.live_server import PASSWORD, USERNAME, LiveApp
from tests.support.web_processes import SocketClosed, WebSocket

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's RSS from /proc"),
]

STREAM = "backpressure"
RATE = 1000
PRODUCE_SECONDS = 9.0  # past the send timeout (5 s) with the stuck tab's buffers full
FIELD_BYTES = 4000
WARM_UP_SECONDS = 1.5
RSS_GROWTH_BOUND_MB = 10.0
STUCK_RECEIVE_BUFFER = 4096

# The producer: its own process, as `redis-cli XADD` in a loop would be; late ticks go out together.
PRODUCER = """
import sys, time, redis
url, stream, rate, seconds, size, cluster = sys.argv[1:]
rate, seconds, size = float(rate), float(seconds), int(size)
client = (redis.RedisCluster if cluster == "1" else redis.Redis).from_url(url)
fields = {"temperature": "21.5", "note": "x" * size}
total, sent, started = int(rate * seconds), 0, time.perf_counter()
while sent < total:
    due = min(total, int((time.perf_counter() - started) * rate) + 1)
    if due > sent:
        pipe = client.pipeline(transaction=False)
        for _ in range(sent, due):
            pipe.xadd(stream, fields)
        pipe.execute()
        sent = due
    else:
        time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
print(sent, flush=True)
"""


def rss_mb(pid: int) -> float:
    """The resident set of process `pid` (VmRSS), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def log_in(app: LiveApp) -> str:
    """The Cookie header of a session logged in through the form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
    with opener.open(app.url + "/accounts/login/", timeout=10) as response:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token})
    with opener.open(app.url + "/accounts/login/", data=form.encode(), timeout=10):
        pass
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, "the login failed"
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def open_tail(app: LiveApp, cookie: str, *, receive_buffer: int | None = None) -> WebSocket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the window the server sees is small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", app.port))
    tab = WebSocket(
        sock, host=f"127.0.0.1:{app.port}", path=f"/ws/streams/{STREAM}/tail/", origin=app.url, cookie=cookie
    )
    first = tab.receive_json()
    assert first["type"] == "snapshot", first
    return tab


class Reader(threading.Thread):
    """A tab that reads everything it is sent, keeping the IDs of the entries, in order."""

    def __init__(self, tab: WebSocket) -> None:
        super().__init__(daemon=True)
        self.tab = tab
        self.ids: list[str] = []
        self.resyncs = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    message = self.tab.receive_json(timeout=0.5)
                except TimeoutError:
                    continue
                if message["type"] == "entries":
                    self.ids.extend(entry["id"] for entry in message["entries"])
                elif message["type"] == "snapshot":
                    self.resyncs += 1  # repaired: its entries fill what was skipped
                    known = set(self.ids)
                    self.ids.extend(entry["id"] for entry in message["entries"] if entry["id"] not in known)
        except BaseException as error:  # reported by the test
            self.error = error


@pytest.fixture
def app(redis_server):
    found = LiveApp(redis_server.url).start()
    yield found
    found.stop()


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def test_a_tab_that_stops_reading_does_not_grow_the_server_and_the_others_get_every_entry(app, redis_client):
    first_id = redis_client.xadd(STREAM, {"note": "the stream the tabs tail"}).decode()
    web = app.web_pid()
    assert web is not None, app.log("web")
    cookie = log_in(app)
    stuck = open_tail(app, cookie, receive_buffer=STUCK_RECEIVE_BUFFER)
    reader = Reader(open_tail(app, cookie))
    reader.start()

    cluster = "1" if app.env["REDIS_URL"] != app.env.get("QUEUE_REDIS_URL", app.env["REDIS_URL"]) else "0"
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, app.env["REDIS_URL"], STREAM, str(RATE), str(PRODUCE_SECONDS),
         str(FIELD_BYTES), cluster],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(WARM_UP_SECONDS)
        baseline = rss_mb(web)
        peak = baseline
        while producer.poll() is None:
            peak = max(peak, rss_mb(web))
            time.sleep(0.25)
        out, err = producer.communicate(timeout=30)
        assert producer.returncode == 0, err
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    produced = [entry_id.decode() for entry_id, _ in redis_client.xrange(STREAM, min=f"({first_id}", max="+")]
    assert len(produced) == int(out), "the producer's entries are all in the stream"

    # The reading tab: every entry, in order, none twice (waited for, however long the last ones take).
    deadline = time.monotonic() + 30
    while (not reader.ids or reader.ids[-1] != produced[-1]) and time.monotonic() < deadline and not reader.error:
        time.sleep(0.05)
    reader.stop.set()
    reader.join(timeout=5)
    assert reader.error is None, reader.error
    live = [entry_id for entry_id in reader.ids if id_key(entry_id) > id_key(first_id)]
    assert live == produced, (
        f"the reading tab got {len(live):,} of {len(produced):,} entries (resyncs: {reader.resyncs})"
    )

    growth = peak - baseline
    print(
        f"server RSS {baseline:.1f} MB after warm-up, peak {peak:.1f} MB (+{growth:.1f} MB) while "
        f"{len(produced):,} entries ({len(produced) * FIELD_BYTES / 1e6:.1f} MB of fields) flowed; "
        f"reading tab: all {len(live):,}, {reader.resyncs} resync(s)"
    )
    assert growth < RSS_GROWTH_BOUND_MB, f"the server grew by {growth:.1f} MB with a tab that does not read"

    # The stuck tab reads again: behind what was queued for it, a resync or the close code.
    seen: list[str] = []
    code = None
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    deadline = time.monotonic() + 30
    with contextlib.suppress(TimeoutError):
        while time.monotonic() < deadline:
            try:
                message = stuck.receive_json(timeout=10)
            except SocketClosed as closed:
                code = closed.code
                break
            seen.append(message["type"])
            if message["type"] == "snapshot":
                break
    stuck.close()
    print(f"the stuck tab, reading again: {seen.count('entries')} queued message(s), then {seen[-1:] or code}")
    assert code == CLOSE_TOO_SLOW or "snapshot" in seen, (code, seen[-5:])
    if code == CLOSE_TOO_SLOW:
        assert "error" in seen, "the close comes after a message saying why"
