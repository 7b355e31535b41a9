"""A private PostgreSQL server for the test suite: Debian's binaries, a free port on
127.0.0.1, a cluster in a temporary directory, durability off (the data is thrown away).

As root it runs as the `postgres` user, since initdb and postgres refuse to run as root.
It never touches a PostgreSQL that was already running.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import stop_process
from tests.support.redis_server import free_port

SUPERUSER = "weatherstreams"
DATABASE = "weatherstreams"  # never created: pytest-django creates test_weatherstreams from it


def postgres_bin_dir() -> Path:
    """The directory holding initdb and postgres: $WEATHERSTREAMS_POSTGRES_BIN, Debian's newest, or PATH."""
    if configured := os.environ.get("WEATHERSTREAMS_POSTGRES_BIN"):
        return Path(configured)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    if debian:
        return Path(debian[-1]).parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "PostgreSQL is not installed: scripts/test --postgres installs Debian's postgresql package when "
        "run as root; otherwise install it, or point WEATHERSTREAMS_POSTGRES_BIN at its bin directory."
    )


def postgres_owner() -> pwd.struct_passwd | None:
    """The user the server runs as: None (this process's user) unless this is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("As root, the test PostgreSQL runs as the 'postgres' user, which is missing.") from None


class PostgresServer:
    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-postgres-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.process: subprocess.Popen | None = None
        self.owner = postgres_owner()

    @property
    def settings(self) -> dict[str, object]:
        """The DATABASES entry that reaches this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE,
            "USER": SUPERUSER,
            "PASSWORD": self.password,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"connect_timeout": 5},
        }

    def _run_as_owner(self) -> dict[str, object]:
        if self.owner is None:
            return {}
        return {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}

    def start(self) -> PostgresServer:
        if self.owner is not None:
            os.chown(self.directory, self.owner.pw_uid, self.owner.pw_gid)
        password_file = self.directory / "password"
        password_file.write_text(self.password + "\n")
        if self.owner is not None:
            os.chown(password_file, self.owner.pw_uid, self.owner.pw_gid)
        initdb = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata", str(self.data),
                "--username", SUPERUSER,
                "--pwfile", str(password_file),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
            **self._run_as_owner(),
        )  # fmt: skip
        password_file.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D", str(self.data),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"port={self.port}",
                "-c", f"unix_socket_directories={self.directory}",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
            ],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._run_as_owner(),
        )  # fmt: skip
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=SUPERUSER,
                    password=self.password,
                    dbname="postgres",
                    connect_timeout=1,
                ):
                    return
            except psycopg.OperationalError:
                pass
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres on port {self.port} did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    @property
    def version(self) -> str:
        result = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True)
        return result.stdout.strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing is kept waiting.
            stop_process(self.process, timeout=30, signum=signal.SIGINT)
        shutil.rmtree(self.directory, ignore_errors=True)
