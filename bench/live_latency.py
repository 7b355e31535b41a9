"""Live-tail latency: the time from XADD to the entry reaching open live tabs, for several ASGI servers.

    .venv/bin/python bench/live_latency.py [--seconds S] [--variants uvicorn:1,uvicorn:2,daphne:1,...]
                                           [--tabs 200] [--crowd 1000] [--rounds N] [--profile]

Starts its own redis-server (free port, temporary directory, persistence off) and the app as the
run command serves it, `python -m weatherstreams.serve --server S --processes N` (bench/_common.py
ServedApp: its own SQLite database, DJANGO_DEBUG=0, DJANGO_HTTPS=0, DJANGO_ALLOWED_HOSTS=127.0.0.1;
granian, which cannot adopt an inherited socket, runs with its own `--workers N`), and stops them
at the end, also on Ctrl-C or failure. It never touches a Redis, a database or a server it did not
start. Every server serves the same weatherstreams.asgi application.

In ONE run, each scenario producing for --seconds (10 by default):

- the floor: one raw `XREAD BLOCK` client on the stream (what Redis itself takes; redis-py with
  hiredis, in its own process), at 1,000 entries/s;
- for each server variant (`server:processes`, or `uvicorn/wsproto:1` for uvicorn's other WebSocket
  protocol): 1 tab at 1,000 entries/s, --tabs (200) tabs at 1,000 entries/s, --crowd (1,000) tabs at
  100 entries/s.

Tabs log in as a browser does (GET /accounts/login/ for the csrftoken cookie, POST the form with
csrfmiddlewaretoken, Referer and Origin), once per user at the start of the run: a user may hold
WEATHERSTREAMS_LIVE_SOCKETS_PER_USER (50) live sockets per process, so the run makes one user per
TABS_PER_USER tabs, as that many browsers would be. Each tab is a WebSocket on
/ws/streams/bench/tail/ with its user's Cookie and an Origin of the site; all tabs run in ONE
separate process (asyncio on uvloop, a minimal RFC 6455 client on asyncio.Protocol: the clients
share the machine's cores with the server, so they are kept cheap, and their CPU is reported). A
producer, another process, XADDs at a fixed rate with the wall-clock send time in `sent_ms`
(time.time() in ms, stamped just before each XADD; late ticks are sent together in one pipeline);
each tab records arrival time - sent_ms for every entry, the arrival time taken as the bytes come
in, before anything is parsed. After the producer stops, the tabs get up to CATCH_UP_SECONDS to
receive every entry, so a backlog shows in the latencies instead of being left out.

Reported per scenario: p50/p99/max, entries received per tab (fewest and most) vs sent, resyncs (a
snapshot sent again), entries out of order, WebSocket messages per tab per second; the rate the
producer held; the CPU of the server (all its processes), redis-server, the tabs' process and the
producer while it produced (share of one core); and the server's CPU per WebSocket message it
delivered (from the producer's start to the last arrival). The load average is printed before each
variant. --rounds N runs the whole set N times, interleaved (other processes on a shared machine
come and go), and the table shows, for each row, the round with the median p99, and every round's
p99 beside it. --profile then samples each server (one process, --tabs tabs at 1,000/s) with py-spy
(`pip install py-spy==0.4.3` into any venv; found on PATH or in PYSPY; samples holding the GIL
only) and prints where its time goes, by the function on top of the stack (with its callers) and
by package. Under uvloop py-spy also books some of the loop's own time to redis-py's
`StreamWriter.writelines` (the feed's XREAD): a cProfile of the same run counts ~150 calls a
second there, about 1 % of the time; bench/README.md has that profile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from array import array
from collections import Counter
from datetime import datetime
from http.cookiejar import CookieJar
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    PASSWORD,
    PrivateRedis,
    Processes,
    ServedApp,
    cpu_seconds,
    load_note,
    machine,
    percentile,
    raise_keyboard_interrupt_on_sigterm,
    shown_command,
)

STREAM = "bench"
TABS_PER_USER = 40  # under the 50 live sockets a user may hold per process
OPEN_AT_ONCE = 50
CATCH_UP_SECONDS = 20.0
DEFAULT_VARIANTS = "uvicorn:1,uvicorn:2,uvicorn/wsproto:1,daphne:1,daphne:2,granian:1,granian:2,hypercorn:1"
# The goals (issue 11, section 3).
GOAL_CROWD_P99_MS = 50.0  # --tabs tabs at 1,000/s, and at most 2x the one-tab p99
GOAL_CROWD_VS_ONE = 2.0
GOAL_THOUSAND_P99_MS = 100.0  # --crowd tabs at 100/s
GOAL_TWO_VS_ONE = 1.5
PROFILE_RATE_HZ = 200


# --- logging in, once per user -----------------------------------------------------------


def login(base: str, username: str) -> str:
    """Log in through the form as a browser does; returns the Cookie header (csrftoken + sessionid)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/accounts/login/", timeout=30) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no csrfmiddlewaretoken in the login form")
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD, "next": "/"}
    ).encode()
    request = urllib.request.Request(
        f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/accounts/login/", "Origin": base}
    )
    with opener.open(request, timeout=60) as response:
        response.read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    if "sessionid" not in cookies:
        raise RuntimeError("the login form did not return a sessionid cookie (wrong password?)")
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


# --- the tabs' process: a minimal WebSocket client per tab -----------------------------------

_SENT = re.compile(rb'"sent_ms": ?"([0-9.]+)"')
_SEQ = re.compile(rb'"seq": ?"([0-9]+)"')
TEXT, CLOSE, PING = 0x1, 0x8, 0x9


class Tab(asyncio.Protocol):
    """One live tab: the handshake, then every frame the server sends, timed as its bytes arrive."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = bytearray()
        self.handshaken = False
        self.snapshot = asyncio.get_running_loop().create_future()  # the first message: a snapshot
        self.latencies = array("d")
        self.received = self.messages = self.snapshots = self.out_of_order = 0
        self.last_seq = -1
        self.close_code: int | None = None
        self.partial = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"closed before its snapshot (code {self.close_code})"))

    def data_received(self, data: bytes) -> None:
        now = time.time() * 1000.0  # as the bytes arrive, before anything is parsed
        buffer = self.buffer
        buffer += data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in bytes(buffer[:20]):
                self.snapshot.set_exception(ConnectionError(bytes(buffer[: end + 4]).decode("latin-1")))
                self.transport.close()
                return
            del buffer[: end + 4]
            self.handshaken = True
        position, size = 0, len(buffer)
        while size - position >= 2:
            first, length = buffer[position], buffer[position + 1] & 0x7F
            head = 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if size - position < head + length:
                break
            payload = bytes(buffer[position + head : position + head + length])
            position += head + length
            self.frame(first, payload, now)
        del buffer[:position]

    def frame(self, first: int, payload: bytes, now: float) -> None:
        opcode = first & 0x0F
        if opcode == PING:
            self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)  # pong, zero mask
            return
        if opcode == CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            return
        if not first & 0x80 or opcode == 0:  # a fragment: whole messages only
            self.partial += payload
            if not first & 0x80:
                return
            payload, self.partial = self.partial, b""
        head = payload[:40]
        if b'"type": "entries"' in head:
            sent = [float(value) for value in _SENT.findall(payload)]
            if not sent:
                return
            self.latencies.extend([now - value for value in sent])
            self.received += len(sent)
            self.messages += 1
            seqs = _SEQ.findall(payload)
            low, high = int(seqs[0]), int(seqs[-1])
            if low <= self.last_seq or high - low != len(seqs) - 1:
                self.out_of_order += 1
            self.last_seq = high
        elif b'"type": "snapshot"' in head:
            self.snapshots += 1
            if not self.snapshot.done():
                self.snapshot.set_result(None)


async def run_tabs(base: str, tabs: int, cookies: list[str], out: str) -> None:
    loop = asyncio.get_running_loop()
    port = int(urllib.parse.urlsplit(base).port)
    opened: list[Tab] = []

    async def open_one(index: int) -> Tab:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws/streams/{STREAM}/tail/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {base}\r\nCookie: {cookies[index // TABS_PER_USER]}\r\n\r\n"
        ).encode()
        _, tab = await loop.create_connection(lambda: Tab(request), "127.0.0.1", port)
        await asyncio.wait_for(tab.snapshot, timeout=60)
        return tab

    for start in range(0, tabs, OPEN_AT_ONCE):
        opened.extend(await asyncio.gather(*(open_one(i) for i in range(start, min(tabs, start + OPEN_AT_ONCE)))))
    print(f"ready {tabs}", flush=True)
    command = await loop.run_in_executor(None, sys.stdin.readline)  # "stop <entries sent>"
    expected = int(command.split()[1])
    waited = time.monotonic()
    while min(tab.received for tab in opened) < expected and time.monotonic() - waited < CATCH_UP_SECONDS:
        if all(tab.snapshots > 1 or tab.close_code for tab in opened if tab.received < expected):
            break  # those missing entries were resynchronised or closed: the rest will not come live
        await asyncio.sleep(0.02)
    waited = time.monotonic() - waited
    print("done", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "close", once the server's CPU is read
    for tab in opened:
        tab.transport.close()
    everything = array("d")
    for tab in opened:
        everything.extend(tab.latencies)
    result = {
        "tabs": tabs,
        "waited": waited,
        **stats(sorted(everything)),
        "received_min": min(tab.received for tab in opened),
        "received_max": max(tab.received for tab in opened),
        "out_of_order": sum(tab.out_of_order for tab in opened),
        "messages": sum(tab.messages for tab in opened),
        "resyncs": sum(tab.snapshots - 1 for tab in opened),
        "closed": sum(1 for tab in opened if tab.close_code),
    }
    Path(out).write_text(json.dumps(result))


# --- the floor: one raw XREAD BLOCK client ---------------------------------------------------


def run_xread(redis_url: str, out: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    last = client.xrevrange(STREAM, count=1)
    position = last[0][0] if last else b"0-0"
    latencies = array("d")
    expected: list[int] = []
    threading.Thread(target=lambda: expected.append(int(sys.stdin.readline().split()[1])), daemon=True).start()
    print("ready 1", flush=True)
    received, deadline = 0, None
    while not expected or received < expected[0]:
        if expected and deadline is None:
            deadline = time.monotonic() + CATCH_UP_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            break
        reply = client.xread({STREAM: position}, block=100, count=1000)
        now = time.time() * 1000.0
        for _, entries in reply or ():
            for _, fields in entries:
                latencies.append(now - float(fields[b"sent_ms"]))
            received += len(entries)
            position = entries[-1][0]
    print("done", flush=True)
    sys.stdin.readline()
    result = {"tabs": 1, "waited": 0.0, **stats(sorted(latencies)), "received_min": received,
              "received_max": received, "out_of_order": 0, "messages": received, "resyncs": 0, "closed": 0}  # fmt: skip
    Path(out).write_text(json.dumps(result))


# --- the producer's process --------------------------------------------------------------


def run_producer(redis_url: str, rate: float, seconds: float) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    key = STREAM.encode()
    total = int(rate * seconds)
    sent = late = 0
    started = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        if due - sent > 1:
            late += due - sent - 1  # a tick came late: the overdue entries go out together
            pipe = client.pipeline(transaction=False)
            for seq in range(sent, due):
                pipe.xadd(key, {"sent_ms": f"{time.time() * 1000:.3f}", "seq": str(seq), "temperature": "21.5"})
            pipe.execute()
            sent = due
        elif due > sent:
            client.xadd(key, {"sent_ms": f"{time.time() * 1000:.3f}", "seq": str(sent), "temperature": "21.5"})
            sent += 1
        else:
            time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
    elapsed = time.perf_counter() - started
    result = {"sent": sent, "seconds": elapsed, "rate": sent / elapsed, "late": late, "cpu": time.process_time()}
    print(json.dumps(result), flush=True)


# --- the benchmark -------------------------------------------------------------------------


class Bench:
    def __init__(self, processes: Processes, redis: PrivateRedis, app: ServedApp, seconds: float) -> None:
        self.processes = processes
        self.redis = redis
        self.app = app
        self.seconds = seconds
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-bench-live-"))
        self.cookies: list[str] = []
        self.serial = 0
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def child(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.processes.spawn(
            "bench child", [sys.executable, str(Path(__file__).resolve()), *args], env=self.env, **kwargs
        )

    def produce(self, rate: float) -> tuple[dict, float]:
        """Run the producer for --seconds; its report and the wall time it took."""
        producer = self.child("--child-producer", "--redis-url", self.redis.url, "--rate", str(rate), "--seconds",
                              str(self.seconds), stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        started = time.perf_counter()
        out, err = producer.communicate(timeout=self.seconds + 60)
        elapsed = time.perf_counter() - started
        self.processes.stop(producer)
        if producer.returncode != 0:
            raise RuntimeError(f"the producer failed:\n{err.decode()}")
        return json.loads(out.decode().strip().splitlines()[-1]), elapsed

    def scenario(self, tabs: int, rate: float, *, floor: bool = False, profile: Path | None = None) -> dict:
        self.serial += 1
        out = self.directory / f"tabs{self.serial}.json"
        if floor:
            args = ["--child-xread", "--redis-url", self.redis.url, "--out", str(out)]
        else:
            cookie_file = self.directory / "cookies.json"
            cookie_file.write_text(json.dumps(self.cookies))
            args = ["--child-tabs", "--base", self.app.url, "--tabs", str(tabs), "--cookies", str(cookie_file),
                    "--out", str(out)]  # fmt: skip
        process = self.child(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        spy = None
        try:
            ready = read_line(process, timeout=180)
            if not ready.startswith("ready"):
                raise RuntimeError(f"the tabs did not open: {ready}\n{process.stderr.read()[-3000:]}")
            time.sleep(0.5)  # let the connections' own work settle
            server_pids = [] if floor else self.app.server_pids()
            pids = {"server": server_pids, "redis": [self.redis.process.pid], "tabs": [process.pid]}
            before = {name: sum(map(cpu_seconds, group)) for name, group in pids.items()}
            if profile is not None:
                spy = start_profile(server_pids, profile, self.seconds)
            sent, elapsed = self.produce(rate)
            cpu = {name: (sum(map(cpu_seconds, group)) - before[name]) / elapsed for name, group in pids.items()}
            cpu["producer"] = sent["cpu"] / elapsed
            process.stdin.write(f"stop {sent['sent']}\n")
            process.stdin.flush()
            done = read_line(process, timeout=CATCH_UP_SECONDS + 60)
            server_seconds = sum(map(cpu_seconds, server_pids)) - before["server"]  # until the last arrival
            if done != "done":
                raise RuntimeError(f"the tabs' process failed: {done}\n{process.stderr.read()[-3000:]}")
            process.stdin.write("close\n")
            process.stdin.flush()
            process.wait(timeout=60)
            if process.returncode != 0:
                raise RuntimeError(f"the tabs' process failed:\n{process.stderr.read()[-3000:]}")
            result = json.loads(out.read_text())
        finally:
            self.processes.stop(process)
            if spy is not None:
                spy.wait(timeout=self.seconds + 30)
        result.update(rate=rate, sent=sent["sent"], produced_rate=sent["rate"], late=sent["late"], cpu=cpu)
        result["server_us_per_message"] = server_seconds / max(result["messages"], 1) * 1e6 if not floor else None
        result["messages_per_tab_per_s"] = result["messages"] / tabs / sent["seconds"]
        return result


def read_line(process: subprocess.Popen, timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        raise RuntimeError(f"no answer from a child process within {timeout} s")
    return found[0].strip()


def stats(ordered) -> dict:
    return {
        "samples": len(ordered),
        "p50": percentile(ordered, 0.5),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if len(ordered) else float("nan"),
    }


# --- where the server's time goes (py-spy) ---------------------------------------------------


def py_spy() -> str | None:
    return os.environ.get("PYSPY") or shutil.which("py-spy")


def start_profile(pids: list[int], out: Path, seconds: float) -> subprocess.Popen:
    """py-spy on the server's process that runs the app (the last one: below the launcher)."""
    return subprocess.Popen(
        [py_spy(), "record", "--pid", str(pids[-1]), "--duration", str(int(seconds)), "--rate", str(PROFILE_RATE_HZ),
         "--format", "raw", "--nonblocking", "--gil", "--full-filenames", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def package_of(path: str) -> str:
    """Who a frame's file belongs to: an installed package's name, the app's room, or the standard library."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "streams_app/" in path or "weatherstreams/" in path:
        return "weatherstreams: " + "/".join(path.replace("\\", "/").split("/")[-2:])
    return "Python: " + Path(path).name


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """The functions on top of the stack, and the packages their time is spent in (own time, % of samples)."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    callers: dict[str, Counter[str]] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        leaf = stack.split(";")[-1]
        found = _FRAME.match(leaf)
        name, file = (found["function"], found["file"]) if found else (leaf, "")
        label = f"{name} ({package_of(file) if file else '?'})"
        own[label] += samples
        packages[package_of(file) if file else "?"] += samples
        frames = stack.split(";")
        caller = _FRAME.match(frames[-2]) if len(frames) > 1 else None
        callers.setdefault(label, Counter())[caller["function"] if caller else "?"] += samples
    if not total:
        return ["    (no samples)"]
    lines = ["    own time by package: " + ", ".join(f"{name} {n / total:.0%}" for name, n in packages.most_common(8))]
    for name, n in own.most_common(top):
        called_from = ", ".join(f"{caller} {k / n:.0%}" for caller, k in callers[name].most_common(2))
        lines.append(f"    {n / total:5.1%}  {name}  <- {called_from}")
    return lines


# --- report ----------------------------------------------------------------------------------

HEADER = (
    "| server | processes | scenario | p50 ms | p99 ms | max ms | received / sent per tab | resyncs | msgs/tab/s "
    "| producer held /s | server CPU | µs server CPU per message | tabs' CPU | redis CPU | load (1 min) |"
)
RULE = "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"


def row(label: str, processes: str, result: dict) -> str:
    received = (
        f"{result['received_min']:,}"
        if result["received_min"] == result["received_max"]
        else f"{result['received_min']:,}–{result['received_max']:,}"
    )
    per_message = result["server_us_per_message"]
    cpu = result["cpu"]
    return (
        f"| {label} | {processes} | {result['tabs']:,} tab{'s' * (result['tabs'] > 1)} at {result['rate']:,.0f}/s "
        f"| {result['p50']:.1f} | {result['p99']:.1f} | {result['max']:.1f} | {received} / {result['sent']:,} "
        f"| {result['resyncs']} | {result['messages_per_tab_per_s']:.1f} | {result['produced_rate']:,.0f} "
        f"| {cpu['server']:.0%} | {'–' if per_message is None else f'{per_message:.0f}'} | {cpu['tabs']:.0%} "
        f"| {cpu['redis']:.0%} | {result['load']:.2f} |"
    )


def median_round(found: list[dict]) -> dict:
    """The result whose p99 is the median of the rounds' (the lower middle one of an even count)."""
    return sorted(found, key=lambda result: result["p99"])[(len(found) - 1) // 2]


def each_round(found: list[dict]) -> str:
    return " / ".join(f"{result['p99']:.1f}" for result in found)


def goals(floor: dict, variants: dict[tuple[str, int], dict[str, dict]], tabs: int, crowd: int) -> list[str]:
    lines = ["", f"floor (raw XREAD BLOCK at 1,000/s): p50 {floor['p50']:.1f} / p99 {floor['p99']:.1f} ms", ""]
    for (label, processes), found in variants.items():
        one, many, thousand = found.get("one"), found.get("many"), found.get("thousand")
        if not (one and many and thousand):
            continue
        everything = many["received_min"] == many["sent"] and not many["resyncs"]
        limit = min(GOAL_CROWD_P99_MS, GOAL_CROWD_VS_ONE * one["p99"])
        met = everything and many["p99"] <= limit
        lines.append(
            f"{label}, {processes} process(es): {tabs} tabs at 1,000/s p99 {many['p99']:.1f} ms vs one tab "
            f"{one['p99']:.1f} ms ({many['p99'] / one['p99']:.2f}x; goal <= {GOAL_CROWD_VS_ONE:.0f}x and < "
            f"{GOAL_CROWD_P99_MS:.0f} ms, every entry): {'met' if met else 'MISSED'}; {crowd} tabs at 100/s p99 "
            f"{thousand['p99']:.1f} ms (goal < {GOAL_THOUSAND_P99_MS:.0f} ms, every entry): "
            + (
                "met"
                if thousand["p99"] < GOAL_THOUSAND_P99_MS
                and thousand["received_min"] == thousand["sent"]
                and not thousand["resyncs"]
                else "MISSED"
            )
        )
    for (label, processes), found in variants.items():
        single = variants.get((label, 1), {}).get("many")
        if processes == 2 and single and found.get("many"):
            ratio = single["p99"] / found["many"]["p99"]
            lines.append(
                f"{label}: two processes' {tabs}-tab p99 {found['many']['p99']:.1f} ms vs one's "
                f"{single['p99']:.1f} ms: "
                f"{ratio:.2f}x better (goal >= {GOAL_TWO_VS_ONE}x where the machine has the cores)"
            )
    return lines


def parse_variants(spec: str) -> list[tuple[str, str | None, int]]:
    found = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        server, _, ws = name.partition("/")
        found.append((server, ws or None, int(count or 1)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="producing time per scenario (default 10)")
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS, help=f"server:processes,... (default {DEFAULT_VARIANTS})"
    )
    parser.add_argument("--tabs", type=int, default=200, help="tabs at 1,000 entries/s (default 200)")
    parser.add_argument("--crowd", type=int, default=1000, help="tabs at 100 entries/s (default 1,000)")
    parser.add_argument("--rounds", type=int, default=1, help="run everything N times; report the median (default 1)")
    parser.add_argument("--profile", action="store_true", help="then profile each server with py-spy")
    parser.add_argument("--child-tabs", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-xread", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-producer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--cookies", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_tabs:
        with contextlib.suppress(ImportError):
            import uvloop  # installed with the app's server: the tabs' process is kept cheap

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(run_tabs(args.base, args.tabs, json.loads(Path(args.cookies).read_text()), args.out))
        return 0
    if args.child_xread:
        run_xread(args.redis_url, args.out)
        return 0
    if args.child_producer:
        run_producer(args.redis_url, args.rate, args.seconds)
        return 0
    if args.profile and not py_spy():
        raise SystemExit("--profile needs py-spy: pip install py-spy==0.4.3 (any venv), then PYSPY=path or PATH")

    variants = parse_variants(args.variants)
    print(f"$ {shown_command()}")
    print(f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; machine: {machine()}")
    print(load_note())
    raise_keyboard_interrupt_on_sigterm()
    processes = Processes()
    redis = PrivateRedis(processes)
    app = bench = None
    try:
        redis.start()
        print(f"private redis-server {redis.version} on port {redis.port}, persistence off")
        redis.client().xadd(STREAM, {"note": "the stream the live tabs tail"})
        app = ServedApp(processes, redis.url)
        users = app.prepare(-(-max(args.tabs, args.crowd) // TABS_PER_USER))
        bench = Bench(processes, redis, app, args.seconds)
        floors: list[dict] = []
        rounds: dict[tuple[str, int], dict[str, list[dict]]] = {}
        for number in range(1, args.rounds + 1):
            print(f"\nround {number} of {args.rounds}", flush=True)
            floor = bench.scenario(1, 1000, floor=True)
            floor["load"] = os.getloadavg()[0]
            floors.append(floor)
            print(row("raw XREAD BLOCK (the floor)", "–", floor), flush=True)
            for server, ws, count in variants:
                label = server + (f" ({ws})" if ws else "")
                app.launch(server, count, ws)
                if not bench.cookies:
                    bench.cookies = [login(app.url, user) for user in users]
                print(f"{app.label}: load average {os.getloadavg()[0]:.2f} (1 min)", flush=True)
                found = rounds.setdefault((label, count), {})
                for key, tabs, rate in (("one", 1, 1000), ("many", args.tabs, 1000), ("thousand", args.crowd, 100)):
                    result = bench.scenario(tabs, rate)
                    result["load"] = os.getloadavg()[0]
                    found.setdefault(key, []).append(result)
                    print(row(label, str(count), result), flush=True)
                errors = [line for line in app.log().splitlines() if "ERROR" in line or "Traceback" in line]
                if errors:
                    print(f"  {app.label} logged {len(errors)} error line(s), e.g.: {errors[0][:300]}")
        # Each row: the round with the median p99 (other processes on this machine come and go).
        floor = median_round(floors)
        results = {
            variant: {key: median_round(found) for key, found in keys.items()} for variant, keys in rounds.items()
        }
        lines = ["", f"{HEADER} p99 of each round |", f"{RULE}---|"]
        lines.append(row("raw XREAD BLOCK (the floor)", "–", floor) + f" {each_round(floors)} |")
        for (label, count), keys in rounds.items():
            for key, found in keys.items():
                lines.append(row(label, str(count), results[(label, count)][key]) + f" {each_round(found)} |")
        print("\n".join(lines))
        for line in goals(floor, results, args.tabs, args.crowd):
            print(line)
        if args.profile:
            print(f"\nwhere the server's time goes: py-spy, {args.tabs} tabs at 1,000/s, one process of each server:")
            for server, ws, count in variants:
                if count != 1:
                    continue
                app.launch(server, 1, ws)
                out = bench.directory / f"profile-{server}-{ws}.txt"
                result = bench.scenario(args.tabs, 1000, profile=out)
                print(f"  {app.label}: p99 {result['p99']:.1f} ms, {result['server_us_per_message']:.0f} µs/message "
                      f"(profiled: py-spy's sampling adds its own cost)")  # fmt: skip
                for line in summarize_profile(out):
                    print(line)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process this benchmark started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if app is not None:
            app.stop()
        redis.stop()
        if bench is not None:
            shutil.rmtree(bench.directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
