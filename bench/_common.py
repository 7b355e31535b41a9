"""Shared pieces of the benchmarks (workers, live latency, filter, chart).

A private redis-server with persistence off, a real daphne with its own SQLite database and
user (DaphneApp), the app as the run command serves it, with any of the ASGI servers compared
(ServedApp), the processes each benchmark starts (all stopped in `finally`, also on Ctrl-C or
SIGTERM), and small helpers for the report.
Nothing here touches a Redis, a database or a process it did not start.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.support.redis_server import RedisServer, free_port  # noqa: E402

# The benchmark-only packages, pinned to the versions the figures were measured with.
# They are not in requirements.txt: the app does not need them.
BENCH_PACKAGES = {
    "walrus": "walrus==0.9.8",
    # The ASGI servers bench/live_latency.py compares with the one the app ships (uvicorn, pinned
    # in requirements.txt with uvloop, httptools and websockets).
    "granian": "granian==2.8.7",
    "hypercorn": "hypercorn==0.18.0",
    "wsproto": "wsproto==1.3.2",
}


def need(module: str):
    """Import a benchmark-only package, or stop with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        spec = BENCH_PACKAGES.get(module, module)
        raise SystemExit(
            f"This benchmark needs the package {spec.split('==')[0]!r}, which the app itself does not use.\n"
            f"Install it into the venv (benchmarks only, not in requirements.txt):\n\n"
            f"    .venv/bin/pip install {spec}\n"
        ) from None


def shown_command() -> str:
    python = sys.executable
    with contextlib.suppress(ValueError):
        python = os.path.relpath(python)
    script = sys.argv[0]
    with contextlib.suppress(ValueError):
        script = os.path.relpath(script)
    return shlex.join([python, script, *sys.argv[1:]])


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({model}), {system}, Python {platform.python_version()}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


def raise_keyboard_interrupt_on_sigterm() -> None:
    """So `finally` blocks stop every process also when the benchmark is terminated."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it if the benchmark dies without cleaning up
    (SIGKILL), since it is in a session of its own (Linux only; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def load_note() -> str:
    """The load average, and a warning when something else is using the machine."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return ""
    note = f"load average before the run: {one:.2f} (1 min), {five:.2f} (5 min)"
    if one > 0.5:
        note += " -- something else is running: figures will be lower and noisier"
    return note


class Processes:
    """Every process a benchmark starts; `stop_all` ends them (and only them), newest first."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        # A session of its own: Ctrl-C reaches the benchmark only, which then stops its
        # children in order (workers before the Redis they write to).
        process = subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10.0) -> int | None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        self.running = [(n, p) for n, p in self.running if p is not process]
        return process.returncode

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process)


class PrivateRedis(RedisServer):
    """The suite's private redis-server, persistence off, started through `Processes` so that
    it dies with the benchmark whatever happens."""

    def __init__(self, processes: Processes) -> None:
        super().__init__(persistent=False)
        self.processes = processes

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def spawn(self, command: list[str]) -> subprocess.Popen:
        return self.processes.spawn("redis-server", command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)


USERNAME, PASSWORD = "tester", "a-long-browser-password"
# Straight to 127.0.0.1, whatever proxy the environment names.
LOCAL_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def app_environment(redis_url: str, directory: Path) -> dict[str, str]:
    """The environment of a web server of the app's own for a benchmark: its Redis, its own SQLite
    database and var/ in `directory`, production settings over plain HTTP on 127.0.0.1."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "WEATHERSTREAMS_VAR_DIR": str(directory),
        "DJANGO_SECRET_KEY": "bench-live-" + "x" * 50,
        "DJANGO_DEBUG": "0",
        "DJANGO_HTTPS": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "weatherstreams.settings",
        "PYTHONUNBUFFERED": "1",
    }


class DaphneApp:
    """The app as users get it: a real daphne (HTTP + WebSockets) with its own SQLite
    database and one user, on the given Redis (the idea of tests/live_server.py)."""

    def __init__(self, processes: Processes, redis_url: str) -> None:
        self.processes = processes
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-benchwl-daphne-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = app_environment(redis_url, self.directory)
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )

    def start(self, application: str = "weatherstreams.asgi:application", env: dict | None = None) -> DaphneApp:
        self.manage("migrate", "--noinput")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user(username={USERNAME!r}, password={PASSWORD!r})",
        )
        return self.launch(application, env)

    def launch(self, application: str = "weatherstreams.asgi:application", env: dict | None = None) -> DaphneApp:
        """Start daphne (again: the database and its user are kept) serving `application`."""
        if self.server is not None:
            self.processes.stop(self.server)
        log = (self.directory / "daphne.log").open("ab")
        self.server = self.processes.spawn(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), application],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with LOCAL_HTTP.open(self.url + "/accounts/login/", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def log(self) -> str:
        path = self.directory / "daphne.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.server is not None:
            self.processes.stop(self.server)
        shutil.rmtree(self.directory, ignore_errors=True)


class ServedApp:
    """The app as the run command serves it: `python -m weatherstreams.serve --server S --processes N`
    (granian, which cannot adopt an inherited socket, with its own `--workers N`), with its own
    SQLite database and `users` users (tester0, tester1, ...; one password), made once by `prepare`;
    `launch` (again) starts a server on it. The live pages allow 50 sockets per user and process
    (WEATHERSTREAMS_LIVE_SOCKETS_PER_USER), so many tabs need many users, as many browsers would."""

    def __init__(self, processes: Processes, redis_url: str) -> None:
        self.processes = processes
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-bench-web-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = app_environment(redis_url, self.directory)
        self.launcher: subprocess.Popen | None = None
        self.label = ""
        self.serial = 0

    def prepare(self, users: int) -> list[str]:
        """Migrate and make `users` users with PASSWORD (hashed once); their names."""
        names = [f"{USERNAME}{n}" for n in range(users)]
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)  # fmt: skip
        script = (
            "from django.contrib.auth import get_user_model; User = get_user_model(); "
            f"first = User.objects.create_user(username={names[0]!r}, password={PASSWORD!r}); "
            f"User.objects.bulk_create([User(username=name, password=first.password) for name in {names[1:]!r}])"
        )
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", script], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)  # fmt: skip
        return names

    def launch(self, server: str, web_processes: int, ws: str | None = None) -> ServedApp:
        """Start `server` with `web_processes` processes on this app's port (stopping the one before)."""
        self.stop_server()
        self.serial += 1
        self.log_path = self.directory / f"web{self.serial}.log"
        log = self.log_path.open("ab")
        if server == "granian":
            command = [
                sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1", "--port",
                str(self.port), "--workers", str(web_processes), "--loop", "uvloop", "--no-respawn-failed-workers",
                "weatherstreams.asgi:application",
            ]  # fmt: skip
        else:
            command = [
                sys.executable, "-m", "weatherstreams.serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--processes", str(web_processes), "--server", server, *(["--ws", ws] if ws else []),
            ]  # fmt: skip
        self.label = f"{server}{' (' + ws + ')' if ws else ''}, {web_processes} process{'es' * (web_processes > 1)}"
        self.launcher = self.processes.spawn(
            "web", command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while True:
            if self.launcher.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} did not start:\n{self.log()[-3000:]}")
            if len(self.server_pids()) >= web_processes:
                try:
                    with LOCAL_HTTP.open(self.url + "/accounts/login/", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
            time.sleep(0.1)
        # Every process answers (SO_REUSEPORT spreads connections by hash: a few tries reach each).
        for _ in range(10 * web_processes):
            with contextlib.suppress(OSError), LOCAL_HTTP.open(self.url + "/accounts/login/", timeout=5):
                pass
        return self

    def server_pids(self) -> list[int]:
        """The launcher and every process under it (the server processes)."""
        if self.launcher is None or self.launcher.poll() is not None:
            return []
        below = descendants(self.launcher.pid)
        return [self.launcher.pid, *below] if below else []

    def cpu(self) -> float:
        """CPU seconds used so far by the launcher and the server processes."""
        return sum(value for value in map(cpu_seconds, self.server_pids()) if value == value)

    def log(self) -> str:
        path = getattr(self, "log_path", None)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop_server(self) -> None:
        if self.launcher is not None:
            self.processes.stop(self.launcher, timeout=15)
            self.launcher = None

    def stop(self) -> None:
        self.stop_server()
        shutil.rmtree(self.directory, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def descendants(root: int) -> list[int]:
    """The processes below `root` (children, grandchildren, ...), from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


# --- the app on a private Redis, with a stream to read (filter.py, chart.py) ---------------------


def django_on(redis_url: str) -> None:
    """Set Django up with its streams on `redis_url` (call before importing the app's modules)."""
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "weatherstreams.settings"
    import django

    django.setup()


def produce_readings(store, key: str, count: int, *, interval_seconds: float = 1.0) -> None:
    """`count` readings on `key` from 2026-11-30 00:00 UTC, `interval_seconds` apart (the bulk path)."""
    from datetime import UTC, datetime

    from streams_app.domain.producer import produce_plan, produce_run

    start = datetime(2026, 11, 30, tzinfo=UTC)
    plan = produce_plan(city=key, count=count, start=start, interval_seconds=interval_seconds, seed=7)
    produce_run(store=store, plan=plan)


def xrange_all(client: redis.Redis, key: str, chunk: int) -> int:
    """Read the whole stream with plain XRANGE pages of `chunk` (the baseline); how many entries."""
    low, read = "-", 0
    while True:
        rows = client.xrange(key, min=low, max="+", count=chunk)
        read += len(rows)
        if len(rows) < chunk:
            return read
        low = "(" + rows[-1][0].decode()
