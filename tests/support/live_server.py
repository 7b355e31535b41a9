"""The app as users get it, for browser tests: the web server the run command ships
(`python -m weatherstreams.serve`, one process: uvicorn, HTTP and WebSockets) on a free port, with
its own SQLite database, on the suite's Redis and the real channel layer; and a real RQ job worker
when a test needs one. In a cluster run the streams are on the cluster and the queue (RQ, the
channel layer) on the suite's redis-server, as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "tester", "a-long-browser-password"
WEB_LOG = "web"  # the web server's log: log(WEB_LOG)


class LiveApp:
    def __init__(self, queue_url: str, *, streams_url: str | None = None, server: str | None = None) -> None:
        """`queue_url`: the suite's redis-server; `streams_url`: the app's streams, by default where
        the run put them for every child process (REDIS_URL: the cluster in a cluster run); `server`:
        another of weatherstreams.serve's servers than the one it ships (to compare)."""
        self.server_choice = ["--server", server] if server else []
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-live-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        streams_url = streams_url or os.environ.get("REDIS_URL") or queue_url
        self.env = {
            **os.environ,
            "REDIS_URL": streams_url,
            # On one node the queue defaults to the streams' Redis, as a single-node install has it.
            **({"QUEUE_REDIS_URL": queue_url} if streams_url != queue_url else {}),
            "DATABASE_URL": f"sqlite:///{self.directory / 'db.sqlite3'}",
            "WEATHERSTREAMS_VAR_DIR": str(self.directory),
            "DJANGO_SECRET_KEY": "browser-tests-" + "x" * 50,
            "DJANGO_DEBUG": "0",
            "DJANGO_HTTPS": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "weatherstreams.settings",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen] = []
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            **kwargs,
        )

    def start(self) -> LiveApp:
        self.manage("migrate", "--noinput")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Group; "
            f"user = get_user_model().objects.create_user(username={USERNAME!r}, password={PASSWORD!r}); "
            # the browser tests make every kind of change: a stream-admin may
            "user.groups.add(Group.objects.get(name='stream-admins'))",
        )
        # As scripts/run serves it (the same launcher and server; no Server banner), in one process.
        self.server = self.spawn(
            WEB_LOG,
            [
                sys.executable,
                "-m",
                "weatherstreams.serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.server_choice,
            ],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/accounts/login/", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start:\n{self.log(WEB_LOG)}")
            time.sleep(0.1)

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_job_worker(self) -> subprocess.Popen:
        return self.spawn("rqworker", [sys.executable, str(ROOT / "manage.py"), "rqworker", "default"])

    def web_pid(self) -> int | None:
        """The pid of the process that serves the app (the launcher's one child), once it runs."""
        if self.server is None:
            return None
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if parent == self.server.pid:
                    return int(entry.name)
        return None

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
