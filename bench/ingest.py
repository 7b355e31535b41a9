"""Ingest benchmark: how fast the tutorial's 86,400 readings go into a stream, and what they cost in memory.

    .venv/bin/python bench/ingest.py [--runs N] [--tutorial-count N] [--cluster]

Starts its own redis-server (free port, temporary directory, persistence off:
--save '' --appendonly no) and stops it at the end; it never touches a Redis that was
already running. Against that one server, in the same run, it measures:

  (p) our producer, `manage.py produce chennai --count 86400 --quiet`:
      in-process (streams_app.domain.producer.produce, timed with perf_counter) and as the whole
      command (subprocess wall time, Django start-up included);
  (a) the tutorial's way: redis-py, one XADD awaited at a time;
  (b) redis-benchmark's pipelined XADD: -c 1 -P 100 -n 86400.

With --cluster it also starts a private 3-primary Redis Cluster (tests/support/redis_cluster.py,
persistence off) and measures (p) and (a) on it as well, the app's RedisCluster client writing
`chennai` to the primary that owns its slot, plus (b) against that primary alone, side by side
with the single node in the same rounds.

It also times start-up with no work: `manage.py produce --help` (goal, issue 11: at most
0.4 s), beside the interpreter alone and the settings + django.setup(), and says how close
the whole command can come to redis-benchmark given that start-up.

Every measurement is repeated --runs times (rounds interleaved, order rotated) and the
median is reported. Then the memory of 86,400 readings: written by produce, written raw
with redis-py pipelined XADD (same fields and values), and in the tutorial's shape with
the city stored as a field too.
"""

from __future__ import annotations

import argparse
import atexit
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
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.support.redis_cluster import LocalCluster  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

COUNT = 86_400
CITY = "chennai"
BENCH_KEY = "benchstream"
GOAL_VS_BENCHMARK = 0.5  # producer at least half redis-benchmark's pipelined rate (within 2x)
GOAL_VS_TUTORIAL = 20.0  # producer at least 20x the one-XADD-at-a-time loop
GOAL_CLUSTER_VS_NODE = 0.5  # bulk produce on a cluster within 2x of its single-node rate (issue 9)
GOAL_START_UP_SECONDS = 0.4  # `manage.py produce` start-up, Python + Django, no work (issue 11)


def shown_command() -> str:
    python = sys.executable
    with contextlib.suppress(ValueError):  # another drive on Windows
        python = os.path.relpath(python)
    return shlex.join([python, *sys.argv])


class Target:
    """Where readings go: the private single node, or the private cluster (through the app's
    own RedisCluster client, as `app_client()` builds it in cluster mode)."""

    def __init__(self, *, client, store, env: dict[str, str], flush: Callable[[], None], port: int) -> None:
        self.client, self.store, self.env, self.flush = client, store, env, flush
        self.port = port  # where redis-benchmark sends its XADDs (on a cluster: the owner of BENCH_KEY)


class Bench:
    def __init__(self, server: RedisServer, tutorial_count: int, cluster: LocalCluster | None = None) -> None:
        self.server = server
        self.tutorial_count = tutorial_count
        self.client = redis.Redis(host="127.0.0.1", port=server.port)
        os.environ["REDIS_URL"] = server.url
        os.environ["DJANGO_SETTINGS_MODULE"] = "weatherstreams.settings"
        import django

        django.setup()
        from streams_app.domain.producer import produce_plan, produce_run
        from streams_app.domain.weather import simulated_weather
        from streams_app.gateway.clients import connect_cluster
        from streams_app.gateway.stores import stream_store
        from streams_app.gateway.streams import StreamStore

        self.produce_plan, self.produce, self.store = produce_plan, produce_run, stream_store()
        self.node = Target(
            client=self.client, store=self.store, env=os.environ.copy(), flush=self.fresh, port=server.port
        )
        self.cluster: Target | None = None
        if cluster is not None:
            cluster_env = {**os.environ, "REDIS_URL": cluster.url, "QUEUE_REDIS_URL": server.url}
            self.cluster = Target(
                client=connect_cluster(cluster.url),
                store=StreamStore(connect_cluster(cluster.url)),
                env=cluster_env,
                flush=cluster.flushall,
                port=cluster.primary_for(BENCH_KEY).port,
            )
        self.tutorial_values = list(zip(*simulated_weather(tutorial_count, seed=7).values(), strict=True))
        self.redis_benchmark = shutil.which("redis-benchmark")
        if self.redis_benchmark is None:
            raise SystemExit("redis-benchmark is not on PATH (it comes with redis-server / redis-tools).")
        self.command_self_rates: dict[str, list[float]] = {"node": [], "cluster": []}

    def fresh(self) -> None:
        self.client.flushall()

    def check_length(self, key: str, expected: int, target: Target | None = None) -> None:
        length = (target or self.node).client.xlen(key)
        if length != expected:
            raise SystemExit(f"{key} has {length} entries after the run, expected {expected}")

    # --- the measurements: each returns the rate in readings (XADDs) per second ----------

    def producer_in_process(self, target: Target | None = None) -> float:
        target = target or self.node
        target.flush()
        started = time.perf_counter()
        result = self.produce(store=target.store, plan=self.produce_plan(city=CITY, count=COUNT))
        seconds = time.perf_counter() - started
        assert result.written == COUNT, result
        self.check_length(CITY, COUNT, target)
        return COUNT / seconds

    def producer_command(self, target: Target | None = None) -> float:
        target = target or self.node
        target.flush()
        command = [sys.executable, "manage.py", "produce", CITY, "--count", str(COUNT), "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=target.env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"manage.py produce failed ({done.returncode}):\n{done.stderr}")
        found = re.search(r"\(([\d,]+) readings/s\)", done.stdout)
        if found:  # the command's own timer: produce() only, without Django start-up
            where = "node" if target is self.node else "cluster"
            self.command_self_rates[where].append(float(found.group(1).replace(",", "")))
        self.check_length(CITY, COUNT, target)
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

    def wall_seconds(self, command: list[str], *, env: Callable[[dict], dict] | None = None) -> float:
        """Wall time of `command` (run from the checkout, with the benchmark's environment, or `env` of it)."""
        environment = os.environ.copy()
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=ROOT, env=env(environment) if env else environment, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr}")
        return seconds

    def tutorial_way(self, target: Target | None = None) -> float:
        target = target or self.node
        target.flush()
        client, key = target.client, "chennai"
        started = time.perf_counter()
        for temperature, humidity in self.tutorial_values:
            client.xadd(key, {"temperature": temperature, "humidity": humidity})
        seconds = time.perf_counter() - started
        self.check_length(key, self.tutorial_count, target)
        return self.tutorial_count / seconds

    def redis_benchmark_xadd(self, target: Target | None = None) -> float:
        target = target or self.node
        target.flush()
        command = [
            self.redis_benchmark, "-h", "127.0.0.1", "-p", str(target.port), "-c", "1", "-P", "100",
            "-n", str(COUNT), "--csv", "XADD", BENCH_KEY, "*", "temperature", "21.5", "humidity", "60",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"redis-benchmark failed ({done.returncode}):\n{done.stderr}")
        rows = [row for row in csv.reader(io.StringIO(done.stdout)) if row and row[0].startswith("XADD")]
        if not rows:
            raise SystemExit(f"no XADD line in redis-benchmark's output:\n{done.stdout}")
        self.check_length(BENCH_KEY, COUNT, target)
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
        for target in (self.node, self.cluster):
            if target is None:
                continue
            target.flush()
            self.produce(store=target.store, plan=self.produce_plan(city=CITY, count=1_000))
            for temperature, humidity in self.tutorial_values[:200]:
                target.client.xadd(CITY, {"temperature": temperature, "humidity": humidity})
            target.flush()

    def measurements(self) -> list[tuple[str, Callable[[], float]]]:
        """Every measurement of a round, by name (the cluster's too when there is one)."""
        kinds: list[tuple[str, Callable[[], float]]] = [
            ("producer_in_process", self.producer_in_process),
            ("producer_command", self.producer_command),
            ("tutorial", self.tutorial_way),
            ("redis_benchmark", self.redis_benchmark_xadd),
            ("start_up_seconds", self.command_start_up),
            # Start-up with no work at all (no Redis, no database), and what it is made of.
            ("help_seconds", lambda: self.wall_seconds([sys.executable, "manage.py", "produce", "--help"])),
            ("help_uncached_seconds", lambda: self.wall_seconds(HELP, env=without_bytecode_cache)),
            ("python_seconds", lambda: self.wall_seconds([sys.executable, "-c", "pass"])),
            ("setup_seconds", lambda: self.wall_seconds([sys.executable, "-c", DJANGO_SETUP])),
        ]
        if (cluster := self.cluster) is not None:
            kinds += [
                ("cluster_producer_in_process", lambda: self.producer_in_process(cluster)),
                ("cluster_producer_command", lambda: self.producer_command(cluster)),
                ("cluster_tutorial", lambda: self.tutorial_way(cluster)),
                ("cluster_redis_benchmark", lambda: self.redis_benchmark_xadd(cluster)),
            ]
        return kinds


HELP = [sys.executable, "manage.py", "produce", "--help"]


def without_bytecode_cache(env: dict) -> dict:
    """No bytecode cache for the app's own modules: their source is compiled at every start."""
    return {**{k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}, "PYTHONDONTWRITEBYTECODE": "1"}


def cache_bytecode() -> str:
    """Time start-up as a user sees it, with bytecode cached: in a private PYTHONPYCACHEPREFIX
    (nothing written into the checkout), also where PYTHONDONTWRITEBYTECODE is set (then every
    start compiles the app's ~40 modules again, ~0.1 s on this VM). Returns the directory."""
    prefix = tempfile.mkdtemp(prefix="weatherstreams-bench-pycache-")
    atexit.register(shutil.rmtree, prefix, ignore_errors=True)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    subprocess.run(HELP, cwd=ROOT, env=os.environ.copy(), capture_output=True, check=True)  # fills the cache
    return prefix


# What every command pays before it parses its options: the settings and django.setup().
DJANGO_SETUP = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'weatherstreams.settings'); django.setup()"
)


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
    parser.add_argument(
        "--cluster", action="store_true",
        help="also on a private local 3-primary Redis Cluster, side by side with the single node",
    )  # fmt: skip
    args = parser.parse_args()
    if args.runs < 1 or args.tutorial_count < 1:
        parser.error("--runs and --tutorial-count must be at least 1")

    print(f"$ {shown_command()}")
    bytecode_was_off = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    cache_bytecode()
    # SIGTERM unwinds like Ctrl-C does, so the private redis-server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    with RedisServer(persistent=False) as server, contextlib.ExitStack() as stack:
        cluster = stack.enter_context(LocalCluster(persistent=False)) if args.cluster else None
        import hiredis

        print(
            f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} | {platform.node()} | {os.cpu_count()} CPUs | "
            f"Python {platform.python_version()} | redis-py {redis.__version__} | hiredis {hiredis.__version__} | "
            f"redis-server {server.version} (private, port {server.port}, --save '' --appendonly no)"
        )
        if cluster is not None:
            owner = cluster.primary_for(CITY).port
            print(
                f"cluster: 3 primaries on ports {cluster.ports} (private, persistence off); "
                f"'{CITY}' is on {owner}, '{BENCH_KEY}' on {cluster.primary_for(BENCH_KEY).port}"
            )
        print(f"{args.runs} runs of each, interleaved; medians shown. {load_average()}\n")
        bench = Bench(server, args.tutorial_count, cluster)
        bench.warm_up()
        kinds = bench.measurements()
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
    if bench.command_self_rates["node"]:
        rows.append(("    ... the command's own timer (no start-up)", COUNT, bench.command_self_rates["node"]))
    rows += [
        ("(a) tutorial: redis-py, one XADD awaited at a time", args.tutorial_count, results["tutorial"]),
        ("(b) redis-benchmark -c 1 -P 100 XADD", COUNT, results["redis_benchmark"]),
    ]
    if cluster is not None:
        cluster_tutorial = results["cluster_tutorial"]
        rows += [
            ("[cluster] (p) produce, in-process", COUNT, results["cluster_producer_in_process"]),
            ("[cluster] (p) manage.py produce, whole command (wall)", COUNT, results["cluster_producer_command"]),
        ]
        if bench.command_self_rates["cluster"]:
            rows.append(("[cluster]     ... the command's own timer", COUNT, bench.command_self_rates["cluster"]))
        rows += [
            ("[cluster] (a) tutorial: RedisCluster, one XADD at a time", args.tutorial_count, cluster_tutorial),
            ("[cluster] (b) redis-benchmark on the key's primary", COUNT, results["cluster_redis_benchmark"]),
        ]
    print(f"{'':58} {'count':>7} {'readings/s':>11} {'s for 86,400':>13}   all runs (readings/s)")
    for label, count, all_rates in rows:
        rate = statistics.median(all_rates)
        note = "*" if count != COUNT else " "
        print(
            f"{label:58} {count:>7,} {fmt_rate(rate):>11} {COUNT / rate:>12.3f}{note}   "
            + " ".join(fmt_rate(value) for value in all_rates)
        )
    if args.tutorial_count != COUNT:
        print(f"{'':58} * extrapolated from {args.tutorial_count:,} readings")
    print("\nstart-up (wall, median; every run)")
    for name, label in [
        ("python_seconds", "the interpreter alone: python -c pass"),
        ("setup_seconds", "python + the settings + django.setup()"),
        ("help_seconds", "manage.py produce --help (start-up, no work)"),
        ("help_uncached_seconds", "  ... without bytecode caches for the app's own modules"),
        ("start_up_seconds", f"manage.py produce {CITY} --count 1 --quiet (+ 1 XADD, audit row)"),
    ]:
        values = results[name]
        print(f"  {label:66} {statistics.median(values):6.3f} s   " + " ".join(f"{value:.3f}" for value in values))
    help_seconds = statistics.median(results["help_seconds"])
    verdict = "met" if help_seconds <= GOAL_START_UP_SECONDS else "MISSED"
    print(f"  start-up goal <= {GOAL_START_UP_SECONDS} s (produce --help): {verdict}")
    day_seconds = COUNT / median["producer_command"]
    print(
        f"  of the whole command's {day_seconds:.3f} s for a day, start-up is {help_seconds:.3f} s "
        f"({help_seconds / day_seconds:.0%}); at redis-benchmark's rate the readings alone take "
        f"{COUNT / median['redis_benchmark']:.3f} s, so the whole command could reach at most "
        f"{(COUNT / median['redis_benchmark']) / (help_seconds + COUNT / median['redis_benchmark']):.2f}x of it"
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
    if cluster is not None:
        on_cluster = median["cluster_producer_in_process"]
        checks += [
            ("cluster / node: produce in-process", on_cluster / producer, GOAL_CLUSTER_VS_NODE),
            ("cluster / node: whole command", median["cluster_producer_command"] / command, GOAL_CLUSTER_VS_NODE),
            ("cluster / node: tutorial way", median["cluster_tutorial"] / tutorial, None),
            ("cluster / node: redis-benchmark", median["cluster_redis_benchmark"] / benchmark, None),
        ]
    for label, ratio, goal in checks:
        verdict = "(no goal)" if goal is None else f"goal >= {goal:g}x: {'met' if ratio >= goal else 'MISSED'}"
        print(f"  {label:40} {ratio:>7.2f}x   {verdict}")

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
    print(
        "(bytecode cached in a private PYTHONPYCACHEPREFIX for every command timed"
        + ("; PYTHONDONTWRITEBYTECODE was set in this environment" if bytecode_was_off else "")
        + ")"
    )
    stopped = "private redis-server and cluster" if cluster is not None else "private redis-server"
    print(f"total {time.perf_counter() - began:.1f} s; {stopped} stopped. {load_average()}")


if __name__ == "__main__":
    main()
