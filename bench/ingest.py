"""Ingest benchmark: how fast the tutorial's 86,400 readings go into a stream, and what they cost in memory.

    .venv/bin/python bench/ingest.py [--runs N] [--tutorial-count N]

Starts its own redis-server (free port, temporary directory, persistence off:
--save '' --appendonly no) and stops it at the end; it never touches a Redis that was
already running. Against that one server, in the same run, it measures:

  (p) our producer, `manage.py produce chennai --count 86400 --quiet`:
      in-process (streams_app.domain.producer.produce, timed with perf_counter) and as the whole
      command (subprocess wall time, Django start-up included);
  (a) the tutorial's way: redis-py, one XADD awaited at a time;
  (b) redis-benchmark's pipelined XADD: -c 1 -P 100 -n 86400.

Every measurement is repeated --runs times (rounds interleaved, order rotated) and the
median is reported. Then the memory of 86,400 readings: written by produce, written raw
with redis-py pipelined XADD (same fields and values), and in the tutorial's shape with
the city stored as a field too.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.support.redis_server import RedisServer  # noqa: E402

COUNT = 86_400
CITY = "chennai"
BENCH_KEY = "benchstream"
GOAL_VS_BENCHMARK = 0.5  # producer at least half redis-benchmark's pipelined rate (within 2x)
GOAL_VS_TUTORIAL = 20.0  # producer at least 20x the one-XADD-at-a-time loop


def shown_command() -> str:
    python = sys.executable
    with contextlib.suppress(ValueError):  # another drive on Windows
        python = os.path.relpath(python)
    return shlex.join([python, *sys.argv])


class Bench:
    def __init__(self, server: RedisServer, tutorial_count: int) -> None:
        self.server = server
        self.tutorial_count = tutorial_count
        self.client = redis.Redis(host="127.0.0.1", port=server.port)
        os.environ["REDIS_URL"] = server.url
        os.environ["DJANGO_SETTINGS_MODULE"] = "weatherstreams.settings"
        import django

        django.setup()
        from streams_app.domain.producer import produce_plan, produce_run
        from streams_app.domain.weather import simulated_weather
        from streams_app.gateway.stores import stream_store

        self.produce_plan, self.produce, self.store = produce_plan, produce_run, stream_store()
        self.tutorial_values = list(zip(*simulated_weather(tutorial_count, seed=7).values(), strict=True))
        self.redis_benchmark = shutil.which("redis-benchmark")
        if self.redis_benchmark is None:
            raise SystemExit("redis-benchmark is not on PATH (it comes with redis-server / redis-tools).")
        self.command_self_rates: list[float] = []

    def fresh(self) -> None:
        self.client.flushall()

    def check_length(self, key: str, expected: int) -> None:
        length = self.client.xlen(key)
        if length != expected:
            raise SystemExit(f"{key} has {length} entries after the run, expected {expected}")

    # --- the measurements: each returns the rate in readings (XADDs) per second ----------

    def producer_in_process(self) -> float:
        self.fresh()
        started = time.perf_counter()
        result = self.produce(store=self.store, plan=self.produce_plan(city=CITY, count=COUNT))
        seconds = time.perf_counter() - started
        assert result.written == COUNT, result
        self.check_length(CITY, COUNT)
        return COUNT / seconds

    def producer_command(self) -> float:
        self.fresh()
        command = [sys.executable, "manage.py", "produce", CITY, "--count", str(COUNT), "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"manage.py produce failed ({done.returncode}):\n{done.stderr}")
        found = re.search(r"\(([\d,]+) readings/s\)", done.stdout)
        if found:  # the command's own timer: produce() only, without Django start-up
            self.command_self_rates.append(float(found.group(1).replace(",", "")))
        self.check_length(CITY, COUNT)
        return COUNT / seconds

    def command_start_up(self) -> float:
        """Seconds for `manage.py produce chennai --count 1 --quiet`: Python and Django start-up, one XADD."""
        self.fresh()
        command = [sys.executable, "manage.py", "produce", CITY, "--count", "1", "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"manage.py produce --count 1 failed ({done.returncode}):\n{done.stderr}")
        self.check_length(CITY, 1)
        return seconds

    def tutorial_way(self) -> float:
        self.fresh()
        client, key = self.client, "chennai"
        started = time.perf_counter()
        for temperature, humidity in self.tutorial_values:
            client.xadd(key, {"temperature": temperature, "humidity": humidity})
        seconds = time.perf_counter() - started
        self.check_length(key, self.tutorial_count)
        return self.tutorial_count / seconds

    def redis_benchmark_xadd(self) -> float:
        self.fresh()
        command = [
            self.redis_benchmark, "-h", "127.0.0.1", "-p", str(self.server.port), "-c", "1", "-P", "100",
            "-n", str(COUNT), "--csv", "XADD", BENCH_KEY, "*", "temperature", "21.5", "humidity", "60",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"redis-benchmark failed ({done.returncode}):\n{done.stderr}")
        rows = [row for row in csv.reader(io.StringIO(done.stdout)) if row and row[0].startswith("XADD")]
        if not rows:
            raise SystemExit(f"no XADD line in redis-benchmark's output:\n{done.stdout}")
        self.check_length(BENCH_KEY, COUNT)
        return float(rows[-1][1])

    # --- memory ---------------------------------------------------------------------------

    def dataset_bytes(self) -> int:
        return int(self.client.info("memory")["used_memory_dataset"])

    def measure_memory(self, write: Callable[[], None]) -> tuple[int, int]:
        """(MEMORY USAGE key SAMPLES 0, change in used_memory_dataset) after `write()` into a fresh key."""
        self.fresh()
        before = self.dataset_bytes()
        write()
        after = self.dataset_bytes()
        self.check_length(CITY, COUNT)
        return int(self.client.memory_usage(CITY, samples=0)), after - before

    def memory(self) -> list[tuple[str, int, int]]:
        rows = []
        usage, dataset = self.measure_memory(
            lambda: self.produce(store=self.store, plan=self.produce_plan(city=CITY, count=COUNT))
        )
        rows.append(("produce: fields temperature, humidity", usage, dataset))
        # The very values produce wrote, to write them again the other ways.
        entries = self.client.xrange(CITY)
        fields = {tuple(entry_fields) for _, entry_fields in entries}
        assert fields == {(b"temperature", b"humidity")}, fields
        values = [(entry_fields[b"temperature"], entry_fields[b"humidity"]) for _, entry_fields in entries]
        assert all(re.fullmatch(rb"-?\d+\.\d", t) and re.fullmatch(rb"\d+", h) for t, h in values)

        def pipelined(make_fields: Callable[[bytes, bytes], dict]) -> Callable[[], None]:
            def write() -> None:
                for start in range(0, COUNT, 10_000):
                    pipe = self.client.pipeline(transaction=False)
                    for temperature, humidity in values[start : start + 10_000]:
                        pipe.xadd(CITY, make_fields(temperature, humidity))
                    pipe.execute()

            return write

        usage, dataset = self.measure_memory(pipelined(lambda t, h: {"temperature": t, "humidity": h}))
        rows.append(("raw redis-py pipelined XADD, same fields", usage, dataset))
        usage, dataset = self.measure_memory(pipelined(lambda t, h: {"city": CITY, "temperature": t, "humidity": h}))
        rows.append(("tutorial shape: fields city, temperature, humidity", usage, dataset))
        self.fresh()
        return rows

    def warm_up(self) -> None:
        self.fresh()
        self.produce(store=self.store, plan=self.produce_plan(city=CITY, count=1_000))
        for temperature, humidity in self.tutorial_values[:200]:
            self.client.xadd("warm-up", {"temperature": temperature, "humidity": humidity})
        self.fresh()


def load_average() -> str:
    """Other work on the machine skews every figure: show it."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return ""
    return f"Load average {one:.2f} (1 min), {five:.2f} (5 min)."


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repeats of each measurement (default 5); medians shown")
    parser.add_argument(
        "--tutorial-count", type=int, default=20_000,
        help="readings for the one-XADD-at-a-time loop (default 20000; its rate is extrapolated to 86,400)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.runs < 1 or args.tutorial_count < 1:
        parser.error("--runs and --tutorial-count must be at least 1")

    print(f"$ {shown_command()}")
    # SIGTERM unwinds like Ctrl-C does, so the private redis-server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    with RedisServer(persistent=False) as server:
        import hiredis

        print(
            f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} | {platform.node()} | {os.cpu_count()} CPUs | "
            f"Python {platform.python_version()} | redis-py {redis.__version__} | hiredis {hiredis.__version__} | "
            f"redis-server {server.version} (private, port {server.port}, --save '' --appendonly no)"
        )
        print(f"{args.runs} runs of each, interleaved; medians shown. {load_average()}\n")
        bench = Bench(server, args.tutorial_count)
        bench.warm_up()
        kinds: list[tuple[str, Callable[[], float]]] = [
            ("producer_in_process", bench.producer_in_process),
            ("producer_command", bench.producer_command),
            ("tutorial", bench.tutorial_way),
            ("redis_benchmark", bench.redis_benchmark_xadd),
            ("start_up_seconds", bench.command_start_up),
        ]
        results: dict[str, list[float]] = {name: [] for name, _ in kinds}
        for round_number in range(args.runs):
            shift = round_number % len(kinds)
            for name, measure in kinds[shift:] + kinds[:shift]:
                results[name].append(measure())
        memory_rows = bench.memory()

    median = {name: statistics.median(values) for name, values in results.items()}
    rows = [
        ("(p) produce, in-process (produce_plan + produce)", COUNT, results["producer_in_process"]),
        ("(p) manage.py produce, whole command (wall)", COUNT, results["producer_command"]),
    ]
    if bench.command_self_rates:
        rows.append(("    ... the command's own timer (no start-up)", COUNT, bench.command_self_rates))
    rows += [
        ("(a) tutorial: redis-py, one XADD awaited at a time", args.tutorial_count, results["tutorial"]),
        ("(b) redis-benchmark -c 1 -P 100 XADD", COUNT, results["redis_benchmark"]),
    ]
    print(f"{'':52} {'count':>7} {'readings/s':>11} {'s for 86,400':>13}   all runs (readings/s)")
    for label, count, all_rates in rows:
        rate = statistics.median(all_rates)
        note = "*" if count != COUNT else " "
        print(
            f"{label:52} {count:>7,} {fmt_rate(rate):>11} {COUNT / rate:>12.3f}{note}   "
            + " ".join(fmt_rate(value) for value in all_rates)
        )
    if args.tutorial_count != COUNT:
        print(f"{'':52} * extrapolated from {args.tutorial_count:,} readings")
    start_up = results["start_up_seconds"]
    print(
        f"start-up alone, `manage.py produce {CITY} --count 1 --quiet` (wall): median "
        f"{statistics.median(start_up):.3f} s  (" + " ".join(f"{value:.3f}" for value in start_up) + ")"
    )

    print("\nratios (median rates)")
    producer, command = median["producer_in_process"], median["producer_command"]
    benchmark, tutorial = median["redis_benchmark"], median["tutorial"]
    checks = [
        ("produce in-process / redis-benchmark", producer / benchmark, GOAL_VS_BENCHMARK),
        ("produce in-process / tutorial way", producer / tutorial, GOAL_VS_TUTORIAL),
        ("whole command / redis-benchmark", command / benchmark, GOAL_VS_BENCHMARK),
        ("whole command / tutorial way", command / tutorial, GOAL_VS_TUTORIAL),
    ]
    for label, ratio, goal in checks:
        verdict = "met" if ratio >= goal else "MISSED"
        print(f"  {label:40} {ratio:>7.2f}x   goal >= {goal:g}x: {verdict}")

    print(f"\nmemory of {COUNT:,} readings in one stream (`*` IDs, written pipelined, fresh key '{CITY}')")
    print(f"  {'':52} {'MEMORY USAGE':>13} {'B/reading':>10} {'Δ dataset':>11} {'B/reading':>10}")
    for label, usage, dataset in memory_rows:
        print(f"  {label:52} {usage:>13,} {usage / COUNT:>10.1f} {dataset:>11,} {dataset / COUNT:>10.1f}")
    saved = memory_rows[2][1] - memory_rows[0][1]
    print(
        f"  not storing the city in every entry saves {saved:,} bytes "
        f"({saved / COUNT:.1f} B/reading, {saved / memory_rows[2][1]:.0%} of the tutorial shape)"
    )
    print(f"\n(MEMORY USAGE: `MEMORY USAGE {CITY} SAMPLES 0`; Δ dataset: change in INFO memory used_memory_dataset.)")
    print(f"total {time.perf_counter() - began:.1f} s; private redis-server stopped. {load_average()}")


if __name__ == "__main__":
    main()
