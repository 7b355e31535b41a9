"""Worker benchmark: how fast `manage.py run_consumer` drains a stream with a no-op handler.

    .venv/bin/python bench/workers.py [--runs N] [--count N] [--tutorial-count N] [--no-profile] [--cluster]

Starts its own redis-server (free port, temporary directory, persistence off:
--save '' --appendonly no) and stops it at the end; it never touches a Redis that was
already running. It pre-fills the stream `bench` with `manage.py produce bench --count
100000 --quiet`, then, in the same run and against that one server, drains it with:

  (w1) one `manage.py run_consumer alice --handler streams_app.worker.handlers.noop` process,
       all its bookkeeping on (heartbeats, claim passes, dead-letter checks, live events);
  (w2) two such processes, alice and bob, in one group;
  (a)  the tutorial's loop: redis-py (hiredis), XREADGROUP COUNT 1 then XACK, per entry
       (on the last --tutorial-count entries only, 20,000 by default: it is slow);
  (b)  walrus's ConsumerGroup: batched reads of 100 (run_consumer's default --count),
       a no-op call per entry, then one XACK of the batch.

With --cluster it also starts a private 3-primary Redis Cluster (tests/support/redis_cluster.py,
persistence off; QUEUE_REDIS_URL the private redis-server), pre-fills `bench` there the same
way, and runs (w1) and (w2) on it in the same rounds: REDIS_URL is the cluster, and the start
gate, CLIENT LIST and XINFO GROUPS go to the primary that owns `bench`.

Every contender is a real subprocess on a fresh group. Start-up is excluded the same way
for all: the group is created at `$`, the processes start and block in XREADGROUP (a
worker once it has logged "is consuming"), then the benchmark moves the group back with
XGROUP SETID (0, ENTRIESREAD 0) and wakes the blocked reads with CLIENT UNBLOCK: the
clock starts there. It stops when a poller (XINFO GROUPS every ~2 ms) sees lag 0 and
pending 0: at the drain, not when the processes exit (a worker's last read blocks for
--block ms). For the workers the wall time from spawning the processes (Django start-up
included) to the drain is reported too. Each contender runs --runs times (rounds
interleaved, order rotated); medians are reported.

Then, unless --no-profile, one worker runs in this process (Worker + WorkerIO + noop) on
the same 100,000 entries with its time split between Redis round trips and Python, its
Python work per entry is timed on its own (without Redis, best of 5; beside the same work
done the way the worker did it before: redis-py's pipeline, bytes decoded in Python), and
cProfile lists its top functions, so a missed goal can be explained.

Goals (issue 11): one worker at least 35x (a) and 1.3x walrus (b) in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import pstats
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    BENCH_PACKAGES,
    ROOT,
    PrivateRedis,
    Processes,
    cpu_seconds,
    load_note,
    machine,
    median,
    need,
    raise_keyboard_interrupt_on_sigterm,
    shown_command,
)

STREAM = "bench"
BATCH = 100  # run_consumer's default --count (WEATHERSTREAMS_WORKER_COUNT)
GOAL_VS_TUTORIAL = 35.0  # issue 11 (it was 20× before)
GOAL_VS_WALRUS = 1.3  # issue 11 (it was 1× before)
GOAL_TWO_VS_ONE = 1.5
POLL_SECONDS = 0.002


# --- the baselines, run as child processes of this script ------------------------------


def _noop(*args) -> None:
    """The baselines' handler: does nothing, like streams_app.worker.handlers.noop."""


def child_tutorial(url: str, group: str, consumer: str) -> None:
    """(a) The tutorial's consumer: one XREADGROUP COUNT 1, then one XACK, per entry."""
    import redis

    client = redis.Redis.from_url(url)
    key = STREAM.encode()
    print("ready", flush=True)
    reply = client.xreadgroup(group, consumer, {key: ">"}, count=1, block=120_000)  # the start gate
    done = 0
    while True:
        if reply:
            for entry_id, fields in reply[0][1]:
                _noop(fields)
                client.xack(key, group, entry_id)
                done += 1
        reply = client.xreadgroup(group, consumer, {key: ">"}, count=1)
        if not reply or not reply[0][1]:
            break
    print(f"done {done}", flush=True)


def child_walrus(url: str, group: str, consumer: str, batch: int) -> None:
    """(b) walrus: ConsumerGroup.<stream>.read(count=batch), then ack(*ids) of the batch."""
    walrus = need("walrus")
    db = walrus.Database.from_url(url)
    cg = db.consumer_group(group, [STREAM], consumer=consumer)
    stream = cg.bench  # the ConsumerGroupStream of "bench"
    print("ready", flush=True)
    messages = stream.read(count=batch, block=120_000)  # the start gate
    done = 0
    while True:
        if messages:
            for entry_id, data in messages:
                _noop(entry_id, data)
            stream.ack(*[entry_id for entry_id, _ in messages])
            done += len(messages)
        messages = stream.read(count=batch)
        if not messages:
            break
    print(f"done {done}", flush=True)


# --- the benchmark ------------------------------------------------------------------------


@dataclass
class Run:
    contender: str
    entries: int
    seconds: float  # clock start (gate opened) -> drain seen
    wall_seconds: float  # processes spawned -> drain seen (start-up included)
    startup_seconds: float  # processes spawned -> all ready and blocked
    processed: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core during the drain

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


class LineReader:
    """Reads a child's stdout in a thread, so the benchmark can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.queue: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self.queue.put(line)

    def wait_for(self, needle: str, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=0.05)
                if needle in line:
                    return
            except queue.Empty:
                pass
            if process.poll() is not None:
                time.sleep(0.1)
                raise RuntimeError(f"process exited ({process.returncode}) before '{needle}':\n" + self.text())
            if time.monotonic() > deadline:
                raise RuntimeError(f"no '{needle}' within {timeout} s:\n" + self.text())

    def text(self) -> str:
        return "\n".join(self.lines[-40:])


class Bench:
    def __init__(
        self, server: PrivateRedis, processes: Processes, count: int, tutorial_count: int, cluster=None
    ) -> None:
        self.server = server
        self.processes = processes
        self.count = count
        self.tutorial_count = min(tutorial_count, count)
        self.client = server.client()
        self.router = self.client  # for keys anywhere: the processed-events stream of a group
        self.redis_pid = server.process.pid
        redis_url, queue = server.url, {}
        if cluster is not None:  # a tests/support/redis_cluster.LocalCluster
            # The stream's commands and the reads blocked on it are all on the primary that owns it.
            owner = cluster.primary_for(STREAM).port
            self.client, self.router, self.redis_pid = cluster.node_client(owner), cluster.client(), cluster.pids[owner]
            redis_url, queue = cluster.url, {"QUEUE_REDIS_URL": server.url}
        self.var_dir = Path(tempfile.mkdtemp(prefix="weatherstreams-benchwl-workers-"))
        self.env = {
            **os.environ,
            **queue,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "weatherstreams.settings",
            "DJANGO_SECRET_KEY": "bench-workers-" + "x" * 50,
            "WEATHERSTREAMS_VAR_DIR": str(self.var_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.serial = 0

    def prefill(self) -> float:
        command = [sys.executable, "manage.py", "produce", STREAM, "--count", str(self.count), "--quiet", "--seed", "1"]
        print(f"pre-filling: {' '.join(command[1:])}")
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stderr[-3000:]}")
        seconds = time.perf_counter() - started
        length = self.client.xlen(STREAM)
        if length != self.count:
            raise RuntimeError(f"the stream holds {length} entries, not {self.count}")
        self.last_id = self.client.xrevrange(STREAM, count=1)[0][0]
        # The entry just before the last `tutorial_count` ones: the tutorial loop starts after it.
        if self.tutorial_count < self.count:
            self.tutorial_from = self.client.xrevrange(STREAM, count=self.tutorial_count + 1)[-1][0]
        else:
            self.tutorial_from = b"0"
        return seconds

    # --- one contender, one run -------------------------------------------------------

    def run(self, contender: str) -> Run:
        self.serial += 1
        group = f"g{self.serial}-{contender}"
        entries = self.tutorial_count if contender == "a" else self.count
        start_id = self.tutorial_from if contender == "a" else b"0"
        entries_read = self.count - entries
        self.client.xgroup_create(STREAM, group, id="$")
        names = ["alice", "bob"] if contender == "w2" else ["alice"]
        spawned = time.perf_counter()
        children: list[tuple[str, subprocess.Popen, LineReader]] = []
        try:
            for name in names:
                if contender in {"w1", "w2"}:
                    command = [
                        sys.executable, "manage.py", "run_consumer", name,
                        "--stream", STREAM, "--group", group, "--handler", "streams_app.worker.handlers.noop",
                    ]  # fmt: skip
                    ready = "is consuming"
                else:
                    command = [
                        sys.executable, str(Path(__file__).resolve()), "--child", contender,
                        "--url", self.server.url, "--group", group, "--consumer", name,
                    ]  # fmt: skip
                    ready = "ready"
                process = self.processes.spawn(
                    name, command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                children.append((name, process, LineReader(process)))
            for _, process, reader in children:
                reader.wait_for(ready, process)
            blocked = self._wait_blocked(len(children))
            ready_at = time.perf_counter()
            # The start gate: the group back to the first entry to read, the blocked reads woken.
            pipe = self.client.pipeline(transaction=False)
            pipe.xgroup_setid(STREAM, group, start_id, entries_read=entries_read)
            for client_id in blocked:
                pipe.client_unblock(client_id)
            pids = {
                "redis": self.redis_pid,
                **{name: process.pid for name, process, _ in children},
                "poller": os.getpid(),
            }
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            pipe.execute()
            drained = self._wait_drained(group)
            seconds = drained - started
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / seconds for name, pid in pids.items()}
            processed = self._stop(children, workers=contender in {"w1", "w2"})
            self._check(group, entries)
        finally:
            for _, process, _ in children:
                self.processes.stop(process)
        self.client.xgroup_destroy(STREAM, group)
        self.router.delete(f"weatherstreams:processed:{group}")
        return Run(contender, entries, seconds, drained - spawned, ready_at - spawned, processed, cpu)

    def _wait_blocked(self, how_many: int, timeout: float = 30) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            blocked = [
                int(c["id"]) for c in self.client.client_list() if c.get("cmd") == "xreadgroup" and "b" in c["flags"]
            ]
            if len(blocked) >= how_many:
                return blocked
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(blocked)} of {how_many} readers blocked in XREADGROUP")
            time.sleep(0.005)

    def _wait_drained(self, group: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        key = STREAM.encode()
        while True:
            for row in self.client.xinfo_groups(key):
                if row["name"].decode() == group:
                    lag_zero = row.get("lag") == 0 or (
                        row.get("lag") is None and row["last-delivered-id"] == self.last_id
                    )
                    if lag_zero and row["pending"] == 0:
                        return time.perf_counter()
            if time.monotonic() > deadline:
                raise RuntimeError(f"group {group} not drained within {timeout} s")
            time.sleep(POLL_SECONDS)

    def _stop(self, children, *, workers: bool) -> dict[str, int]:
        processed = {}
        for _name, process, _reader in children:
            if not workers:
                # A baseline exits by itself once its last read comes back empty, a moment after
                # the drain was seen: let it say how many it handled.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
            if process.poll() is None:
                process.terminate()  # run_consumer: warm stop
        for name, process, reader in children:
            process.wait(timeout=15)
            reader.thread.join(timeout=5)
            for line in reader.lines:
                if " stopped: " in line and " processed" in line:
                    processed[name] = int(line.split(" stopped: ", 1)[1].split(" processed", 1)[0])
                elif line.startswith("done "):
                    processed[name] = int(line.split()[1])
            if process.returncode not in (0, None) and name not in processed:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{reader.text()}")
        return processed

    def _check(self, group: str, entries: int) -> None:
        for row in self.client.xinfo_groups(STREAM):
            done = row["pending"] == 0 and row.get("entries-read") in (self.count, None)
            if row["name"].decode() == group and not done:
                raise RuntimeError(f"group {group} not fully processed: {row}")


# --- in-process profile ----------------------------------------------------------------


def _resp2(rows) -> bytes:
    """XREADGROUP's entries as Redis puts them on the wire in RESP2 (arrays of bulk strings)."""
    out = [b"*%d\r\n" % len(rows)]
    for entry_id, flat in rows:
        out.append(b"*2\r\n$%d\r\n%s\r\n*%d\r\n" % (len(entry_id), entry_id, len(flat)))
        out.extend(b"$%d\r\n%s\r\n" % (len(item), item) for item in flat)
    return b"".join(out)


def _resp3(stream: bytes, rows) -> bytes:
    """The same reply in RESP3, redis-py 8's default protocol: a map of stream to entries."""
    return b"%%1\r\n$%d\r\n%s\r\n" % (len(stream), stream) + _resp2(rows)


def _parse(data: bytes, encoding: str | None):
    import hiredis

    reader = hiredis.Reader(encoding=encoding, errors="backslashreplace") if encoding else hiredis.Reader()
    reader.feed(data)
    return reader.gets()


class _NoIO:
    """What an offline Worker is given instead of a WorkerIO: nothing is read or written."""

    def __init__(self, client) -> None:
        self.client = client  # the heartbeat builds its stores on it; it never beats here


def python_costs(bench: Bench, repeats: int = 5) -> list[str]:
    """The worker's Python work per entry, timed without Redis: 20 batches of 100 of the
    stream's entries, each stage run over them 50 times (100,000 entries; best of `repeats`),
    after one untimed warm-up round (the first round on this VM runs about twice as slow)."""
    _python_costs(bench, 1)
    return _python_costs(bench, repeats)


def _python_costs(bench: Bench, repeats: int) -> list[str]:
    import json

    import hiredis
    import redis
    from redis._parsers.helpers import parse_stream_list

    from streams_app.gateway.worker_io import BatchOutcome, _outcome_commands
    from streams_app.gateway.worker_reads import bytes_deliveries, decoded_deliveries, xreadgroup_command
    from streams_app.worker import Worker
    from streams_app.worker import sampling as worker_module
    from streams_app.worker.handlers import noop

    raw = redis.Redis(host="127.0.0.1", port=bench.server.port, protocol=2)
    raw.set_response_callback("XRANGE", lambda reply, **options: reply)
    rows = raw.xrange(STREAM, count=20 * BATCH)
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    cycles = 50
    entries = len(rows) * cycles
    wire2 = [_resp2(batch) for batch in batches]
    wire3 = [_resp3(STREAM.encode(), batch) for batch in batches]
    texts = [_parse(data, "utf-8")[STREAM] for data in wire3]
    deliveries = [decoded_deliveries(STREAM, batch, "g", "offline") for batch in texts]
    worker = Worker(_worker_config(bench, name="offline"), noop, io=_NoIO(raw))  # process() needs no I/O
    connection = raw.connection_pool.get_connection()  # only its packer is used (redis-py's pipeline path)
    raw.connection_pool.release(connection)
    read = xreadgroup_command("g", "offline", {STREAM.encode(): ">"}, count=BATCH, block_ms=2000)

    def best(stage, inputs) -> float:
        gc.collect()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(cycles):
                for item in inputs:
                    stage(item)
            times.append(time.perf_counter() - t)
        return min(times) / entries * 1e6

    def process(batch) -> None:
        worker._process(batch, first_delivery=True)

    def commands(batch) -> list:
        outcome = BatchOutcome(acks={STREAM: [d.id for d in batch]}, events_total=len(batch))
        return [*_outcome_commands("g", "offline", outcome), tuple(read)]

    level = _quiet_worker_logs()
    try:
        in_c = best(lambda data: _parse(data, "utf-8"), wire3)  # the worker's read: hiredis decodes
        build = best(lambda batch: decoded_deliveries(STREAM, batch, "g", "offline"), texts)
        packed = [commands(batch) for batch in deliveries]
        pack = best(lambda batch: b"".join(map(hiredis.pack_command, batch)), packed)
        handled = best(process, deliveries)
        outcomes = [worker._process(batch, first_delivery=True) for batch in deliveries]
        events_json = best(lambda outcome: json.dumps(outcome.events, separators=(",", ":")), outcomes)
        original = worker_module.EVENT_ENTRIES_PER_BATCH
        worker_module.EVENT_ENTRIES_PER_BATCH = 0
        try:
            handled_no_events = best(process, deliveries)
        finally:
            worker_module.EVENT_ENTRIES_PER_BATCH = original
        # The way it was before (redis-py's pipeline on a bytes client), same entries:
        wire = best(lambda data: _parse(data, None), wire2)
        parse = best(parse_stream_list, batches)
        parsed = [parse_stream_list(batch) for batch in batches]
        decode = best(lambda batch: bytes_deliveries(STREAM, batch, "g", "offline"), parsed)
        pack_then = best(connection.pack_commands, packed)
    finally:
        _restore_worker_logs(level)
    now = in_c + build + pack + handled + events_json
    then = wire + parse + decode + pack_then
    return [
        f"  the worker's Python work per entry, timed without Redis (best of {repeats}; µs per entry):",
        f"    hiredis reading the reply and decoding it to text (RESP3, as redis-py 8 speaks)  {in_c:5.2f}",
        f"    worker_reads.decoded_deliveries (a Delivery per entry: the handler's Message)   {build:5.2f}",
        f"    packing the round trip (XACK of the batch, its report, XREADGROUP; hiredis)      {pack:5.2f}",
        f"    BatchProcessor.process (no-op handler, acks, entry log, live events)             {handled:5.2f}"
        f"   (of which the live events of sampled batches: {handled - handled_no_events:.2f})",
        f"    json.dumps of those events, in the round trip                                    {events_json:5.2f}",
        f"    total                                                                            {now:5.2f}",
        "    the same work the way the worker did it before (redis-py's pipeline, bytes):",
        f"      hiredis reading the reply (bytes)                                              {wire:5.2f}",
        f"      redis-py parse_stream_list (a dict per entry, pairs_to_dict)                   {parse:5.2f}",
        f"      decoding every ID, field and value in Python (worker_reads.bytes_deliveries)   {decode:5.2f}",
        f"      redis-py packing the same commands (Connection.pack_commands)                  {pack_then:5.2f}",
        f"      reading + packing then {then:.2f}, now {in_c + build + pack:.2f}",
    ]


def _worker_config(bench: Bench, **fields):
    """run_consumer's config for the in-process worker: its defaults are the app's settings,
    read through Django's, which this process configures with the benchmark's Redis alone."""
    from django.conf import settings

    from streams_app.worker.build import worker_config

    if not settings.configured:
        settings.configure(REDIS_URL=bench.server.url)
    return worker_config(streams=(STREAM,), **fields)


class InProcess:
    """One Worker (WorkerIO + a no-op handler) in this process, on a fresh group at 0. The
    handler asks the worker to stop once every entry has been handled, so the time ends at
    the drain, not after a final blocking read; start-up is not counted (the clock starts
    at its first read)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.serial = 0

    def run(self, *, split: bool = False, profiler: cProfile.Profile | None = None) -> dict:
        from streams_app.gateway.clients import connect
        from streams_app.gateway.worker_io import WorkerIO
        from streams_app.worker import Worker
        from streams_app.worker.handlers import noop

        self.serial += 1
        group = f"inproc{self.serial}"
        total = self.bench.count
        self.bench.client.xgroup_create(STREAM, group, id="0")
        worker_io = WorkerIO(connect(self.bench.server.url, socket_timeout=7))
        handled = 0

        def handler(message):
            nonlocal handled
            noop(message)
            handled += 1
            if handled >= total:
                worker.request_stop()

        worker = Worker(_worker_config(self.bench, name="inproc", group=group), handler, worker_io)
        times = {"read": 0.0, "process": 0.0, "reads": 0, "first": None}
        original_read, original_process = worker_io.read, worker._process

        def read(*args, **kwargs):
            t = time.perf_counter()
            if times["first"] is None:
                times["first"] = t
            try:
                return original_read(*args, **kwargs)
            finally:
                times["read"] += time.perf_counter() - t
                times["reads"] += 1

        def process(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original_process(*args, **kwargs)
            finally:
                times["process"] += time.perf_counter() - t

        worker_io.read = read  # the first read marks the start of the clock
        if split:
            worker._process = process
        level = _quiet_worker_logs()
        try:
            if profiler:
                profiler.enable()
            worker.run()
            ended = time.perf_counter()
            if profiler:
                profiler.disable()
        finally:
            _restore_worker_logs(level)
        self.bench.client.xgroup_destroy(STREAM, group)
        self.bench.client.delete(f"weatherstreams:processed:{group}")
        if handled != total:
            raise RuntimeError(f"the in-process worker handled {handled} of {total} entries")
        times["busy"] = ended - times["first"]
        times["rate"] = total / times["busy"]
        return times


def raw_loop(bench: Bench) -> tuple[float, float, int]:
    """The worker's Redis traffic without the worker, the way it was before: pipelined XACK of
    the last batch + XREADGROUP COUNT 100 with redis-py (replies parsed as redis-py does), and,
    timed apart, decoding the rows into Delivery objects as WorkerIO did on that path."""
    from streams_app.gateway.clients import connect
    from streams_app.gateway.worker_reads import bytes_deliveries

    client = connect(bench.server.url)
    group = "raw-loop"
    client.xgroup_create(STREAM, group, id="0")
    key = STREAM.encode()
    reads, previous, decode_seconds = 0, [], 0.0
    started = time.perf_counter()
    while True:
        pipe = client.pipeline(transaction=False)
        if previous:
            pipe.xack(key, group, *previous)
        pipe.xreadgroup(group, "raw", {key: ">"}, count=BATCH)
        reply = pipe.execute()[-1]
        reads += 1
        if not reply:
            break
        rows = reply[0][1]
        t = time.perf_counter()
        bytes_deliveries(STREAM, rows, group, "raw")
        decode_seconds += time.perf_counter() - t
        previous = [entry_id for entry_id, _ in rows]
    round_trips = time.perf_counter() - started - decode_seconds
    client.xgroup_destroy(STREAM, group)
    return round_trips, decode_seconds, reads


def profile_in_process(bench: Bench) -> list[str]:
    """Where one worker's time goes: Redis round trips vs Python, per entry."""
    total = bench.count
    inproc = InProcess(bench)
    lines: list[str] = []

    # 1. The split: Redis round trips (incl. redis-py parsing and decoding) vs Python per entry.
    bench.client.config_resetstat()
    times = inproc.run(split=True)
    stats = bench.client.info("commandstats")
    busy = times["busy"]
    rest = busy - times["read"] - times["process"]
    lines.append(
        f"in-process Worker, {total:,} entries: {times['rate']:,.0f} entries/s, {busy * 1000:.0f} ms "
        f"from its first read to its last ack = {busy / total * 1e6:.2f} µs per entry:"
    )
    lines.append(
        f"  WorkerIO.read (pipelined XACK + XREADGROUP COUNT {BATCH}, parsing, decoding) "
        f"{times['read'] * 1000:6.0f} ms {times['read'] / busy:4.0%}  {times['read'] / total * 1e6:5.2f} µs/entry "
        f"({times['reads']} calls, {times['read'] / max(times['reads'], 1) * 1e6:.0f} µs each)"
    )
    lines.append(
        f"  Worker._process (Message, handler, acks, live events, entry log)          "
        f"{times['process'] * 1000:6.0f} ms {times['process'] / busy:4.0%}  "
        f"{times['process'] / total * 1e6:5.2f} µs/entry"
    )
    lines.append(
        f"  the rest (claim pass, loop, commit at stop)                                 "
        f"{rest * 1000:6.0f} ms {rest / busy:4.0%}  {rest / total * 1e6:5.2f} µs/entry"
    )
    server = {name.removeprefix("cmdstat_"): row for name, row in stats.items()}
    lines.append(
        "  inside redis-server (INFO commandstats): "
        + ", ".join(
            f"{name.upper()} {row['calls']} calls × {row['usec_per_call']:.0f} µs"
            for name, row in server.items()
            if name in {"xreadgroup", "xack", "xadd"}
        )
        + f" = {sum(row['usec'] for name, row in server.items() if name in {'xreadgroup', 'xack', 'xadd'}) / total:.2f}"
        " µs/entry of server time"
    )
    round_trips, decode_seconds, reads = raw_loop(bench)
    lines.append(
        f"  the same Redis traffic without the Worker (redis-py pipeline, {reads} round trips): "
        f"{round_trips / total * 1e6:.2f} µs/entry; decoding the rows into Delivery objects "
        f"(bytes_deliveries): {decode_seconds / total * 1e6:.2f} µs/entry"
    )

    # 2. The Python work per entry, offline.
    lines += python_costs(bench)

    # 3. cProfile, for the functions (its overhead inflates Python's share: read the order, not the ms).
    profiler = cProfile.Profile()
    inproc.run(profiler=profiler)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    lines.append("  cProfile of one in-process run, top functions by own time (profiling overhead included):")
    table = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(table) if line.strip().startswith("ncalls")), 0)
    for line in table[start:]:
        if line.strip():
            lines.append("    " + line.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")[:150])
    return lines


def _quiet_worker_logs():
    import logging

    logger = logging.getLogger("streams_app.worker")
    level = logger.level
    # As run_consumer does: INFO to a stream (here a null sink), so the entry log's cost is counted.
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    logger.handlers[:] = [handler]
    return level


def _restore_worker_logs(level) -> None:
    import logging

    logger = logging.getLogger("streams_app.worker")
    logger.setLevel(level)
    logger.handlers[:] = []
    logger.propagate = True


# --- report ------------------------------------------------------------------------------

NAMES = {
    "w1": "run_consumer, 1 process (alice)",
    "w2": "run_consumer, 2 processes (alice + bob)",
    "a": "(a) tutorial: XREADGROUP COUNT 1 + XACK per entry",
    "b": f"(b) walrus ConsumerGroup, batches of {BATCH}",
}


def report(runs: dict[str, list[Run]], bench: Bench) -> list[str]:
    rate = {key: median([r.rate for r in found]) for key, found in runs.items()}
    a, b = rate["a"], rate["b"]
    out = [
        "",
        f"{'contender':<52} {'entries':>8} {'entries/s (median)':>19} {'runs':>24} {'vs (a)':>8} {'vs (b)':>7}",
    ]
    for key in ("w1", "w2", "a", "b"):
        found = runs[key]
        each = ", ".join(f"{r.rate:,.0f}" for r in found)
        out.append(
            f"{NAMES[key]:<52} {found[0].entries:>8,} {rate[key]:>19,.0f} {each:>24} "
            f"{rate[key] / a:>7.1f}× {rate[key] / b:>6.2f}×"
        )
    out.append("")
    out.append("CPU time per entry during the drain (medians, from /proc; the clients include the handler call):")
    for key in ("w1", "w2", "a", "b"):
        found = runs[key]
        client_us = median(
            [
                sum(v for k, v in r.cpu.items() if k not in {"redis", "poller"}) * r.seconds / r.entries * 1e6
                for r in found
            ]
        )
        redis_us = median([r.cpu.get("redis", 0) * r.seconds / r.entries * 1e6 for r in found])
        wall_us = median([r.seconds / r.entries * 1e6 for r in found])
        out.append(
            f"  {NAMES[key]:<52} consumer process(es) {client_us:6.2f} µs, redis-server {redis_us:5.2f} µs, "
            f"wall {wall_us:6.2f} µs per entry"
        )
    out.append("")
    for key in ("w1", "w2"):
        found = runs[key]
        out.append(
            f"{NAMES[key]}: wall time from spawning to drain (Django start-up included), median "
            f"{median([r.wall_seconds for r in found]):.2f} s (start-up until blocked in XREADGROUP "
            f"{median([r.startup_seconds for r in found]):.2f} s, draining {median([r.seconds for r in found]):.2f} s)"
        )
    splits = [r.processed for r in runs["w2"]]
    out.append("two workers' split of the entries (alice/bob): " + "; ".join(
        f"{s.get('alice', '?'):,}/{s.get('bob', '?'):,}" if all(isinstance(v, int) for v in s.values()) else str(s)
        for s in splits
    ))  # fmt: skip
    w1, w2 = rate["w1"], rate["w2"]

    def verdict(ratio: float, goal: float) -> str:
        return "met" if ratio >= goal else "MISSED"

    out += [
        "",
        "goals:",
        f"  one worker ≥ {GOAL_VS_TUTORIAL:.0f}× (a):       {w1 / a:6.1f}×  {verdict(w1 / a, GOAL_VS_TUTORIAL)}",
        f"  one worker ≥ (b) (walrus):  {w1 / b:6.2f}×  {verdict(w1 / b, GOAL_VS_WALRUS)}",
        f"  two workers ≥ {GOAL_TWO_VS_ONE}× one:        {w2 / w1:6.2f}×  {verdict(w2 / w1, GOAL_TWO_VS_ONE)}",
        f"  (this machine has {os.cpu_count()} cores and redis-server keeps one of them busy: "
        "two worker processes share the other, which caps the two-worker speed-up)",
    ]
    return out


def cluster_report(runs: dict[str, list[Run]]) -> list[str]:
    """run_consumer on the cluster beside the same on one node, from the same rounds."""
    rate = {key: median([r.rate for r in found]) for key, found in runs.items()}
    out = ["", "on a 3-primary Redis Cluster (the stream on one primary), beside one node, same rounds:"]
    for key in ("w1", "w2"):
        found = runs["c" + key]
        each = ", ".join(f"{r.rate:,.0f}" for r in found)
        client_us = median(
            [
                sum(v for k, v in r.cpu.items() if k not in {"redis", "poller"}) * r.seconds / r.entries * 1e6
                for r in found
            ]
        )
        redis_us = median([r.cpu.get("redis", 0) * r.seconds / r.entries * 1e6 for r in found])
        out.append(
            f"  {NAMES[key]:<44} {rate['c' + key]:>9,.0f}/s ({each}) = {rate['c' + key] / rate[key]:.2f}× one node's "
            f"{rate[key]:,.0f}/s; per entry: worker(s) {client_us:.2f} µs, the stream's primary {redis_us:.2f} µs"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per contender; medians are reported (default 3)")
    parser.add_argument("--count", type=int, default=100_000, help="entries to drain (default 100000)")
    parser.add_argument(
        "--tutorial-count", type=int, default=20_000, help="entries for the slow tutorial loop (a) (default 20000)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile of one worker")
    parser.add_argument("--cluster", action="store_true", help="also run (w1) and (w2) on a private 3-primary cluster")
    parser.add_argument("--child", choices=["a", "b"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--consumer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "a":
        child_tutorial(args.url, args.group, args.consumer)
        return 0
    if args.child == "b":
        child_walrus(args.url, args.group, args.consumer, BATCH)
        return 0

    print(f"$ {shown_command()}")
    print(f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; machine: {machine()}")
    print(load_note())
    walrus = need("walrus")  # fail before starting anything
    import redis

    print(
        f"redis-py {redis.__version__} (hiredis {'on' if redis.utils.HIREDIS_AVAILABLE else 'OFF'}), "
        f"walrus {walrus.__version__} ({BENCH_PACKAGES['walrus']})"
    )
    raise_keyboard_interrupt_on_sigterm()
    processes = Processes()
    server = PrivateRedis(processes)
    bench: Bench | None = None
    cluster_bench: Bench | None = None
    cluster = None
    try:
        server.start()
        print(
            f"private redis-server {server.version} on port {server.port}, persistence off (--save '' --appendonly no)"
        )
        bench = Bench(server, processes, args.count, args.tutorial_count)
        seconds = bench.prefill()
        print(f"pre-filled {args.count:,} readings in {seconds:.1f} s (the command's wall time)")
        order = ["w1", "w2", "a", "b"]
        if args.cluster:
            from tests.support.redis_cluster import LocalCluster

            cluster = LocalCluster(persistent=False).start()
            owner = cluster.primary_for(STREAM).port
            print(f"private cluster: primaries on ports {cluster.ports}, '{STREAM}' on {owner}, persistence off")
            cluster_bench = Bench(server, processes, args.count, args.tutorial_count, cluster)
            seconds = cluster_bench.prefill()
            print(f"pre-filled {args.count:,} readings on the cluster in {seconds:.1f} s")
            order += ["cw1", "cw2"]  # run_consumer on the cluster
        runs: dict[str, list[Run]] = {key: [] for key in order}
        for round_number in range(args.runs):
            rotated = order[round_number % len(order) :] + order[: round_number % len(order)]
            for key in rotated:
                on_cluster = key.startswith("c") and cluster_bench is not None
                run = cluster_bench.run(key[1:]) if on_cluster else bench.run(key)
                runs[key].append(run)
                print(
                    f"  round {round_number + 1}: {key:<2} {run.entries:>7,} entries in {run.seconds * 1000:7.0f} ms "
                    f"= {run.rate:>9,.0f}/s   (spawn→drain {run.wall_seconds:.2f} s; "
                    f"entries per process {run.processed}; "
                    f"CPU during the drain: {', '.join(f'{k} {v:.0%}' for k, v in run.cpu.items())})",
                    flush=True,
                )
        for line in report(runs, bench):
            print(line)
        if cluster_bench is not None:
            for line in cluster_report(runs):
                print(line)
        if not args.no_profile:
            print("\nwhere one worker's time goes (in-process, same stream, same defaults):")
            for line in profile_in_process(bench):
                print(line)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process this benchmark started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        server.stop()
        if cluster is not None:
            cluster.stop()
        for made in (bench, cluster_bench):
            if made is not None:
                shutil.rmtree(made.var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
