"""Serve the ASGI application with several web server processes on one address.

    python -m weatherstreams.serve [--host H] [--port P] [--processes N] [--server S] [--proxy-headers]
                                   [-- daphne options]

Defaults: WEATHERSTREAMS_HOST (127.0.0.1), WEATHERSTREAMS_PORT (8000), WEATHERSTREAMS_WEB_PROCESSES (1),
--server uvicorn. The server (bench/README.md has the measurements that chose it):

- `uvicorn` (the default): uvicorn on uvloop with httptools and the `websockets` library's sans-I/O
  protocol (`--ws`, default websockets-sansio; `wsproto` also works), run inside each process by
  weatherstreams/server_process.py (`--child`), on the socket the launcher made. Its WebSocket
  `send` waits while the client's socket is full, so a tab that stops reading holds back its own
  sends (and is then resynchronised or closed by the app, streams_app/live/sockets.py) instead of
  growing the server's memory.
- `daphne`: what `manage.py runserver` runs; its `send` never waits (Twisted buffers every frame in
  memory), and a WebSocket message costs it several times uvicorn's CPU. Options after `--` go to it.
- `hypercorn` (on uvloop), for comparison.

Every variant serves the same weatherstreams.asgi application (Channels, the same origin and host
checks, static files through WhiteNoise) and sends no Server header. `--proxy-headers` trusts
X-Forwarded-For/-Proto: daphne from any peer, uvicorn from FORWARDED_ALLOW_IPS (default 127.0.0.1).

This launcher binds the listening socket(s) itself and starts N processes that accept on them, so
all N serve one port. Each process has its own live feeds (streams_app/live/registry.py); they share
the Channels layer (QUEUE_REDIS_URL) and everything else through Redis and the database.

How connections are shared: on Linux each process gets its own socket, every one bound to the same
address with SO_REUSEPORT, and the kernel spreads new connections over them evenly (by a hash of the
connection's addresses). One socket shared by all would do too, but every process is woken for each
connection and the one that wins keeps accepting what is queued, so under light load one process
tends to get most of the (long-lived) WebSockets. Elsewhere (macOS, the BSDs: SO_REUSEPORT there
does not balance) the processes share one socket. No server can set SO_REUSEPORT on a socket it binds
itself, hence the inherited socket (`--fd`). Before binding, a plain probe bind makes sure nothing
else holds the port (a second launcher would otherwise silently share it).

It restarts nothing: if a process ends on its own, the launcher says which, stops the others and
exits 1. SIGTERM or SIGINT (Ctrl-C) stops every process (SIGTERM, then SIGKILL after --stop-timeout
seconds or at a second signal) and exits 0 when all stopped cleanly; each server closes its
WebSockets (uvicorn with 1012, "service restart": the pages reconnect) and ends within
server_process.GRACEFUL_SECONDS. On Linux the processes also get SIGTERM if the launcher itself is
killed, so none is left behind. With more than one process, each line a process prints is prefixed
with `webN[pid]`.
Each process prints its server's `ready_line` once it accepts connections (the tests wait for it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from weatherstreams.listening import LaunchError, listening_sockets, shown_address
from weatherstreams.server_process import CHILD_READY, run_hypercorn, run_uvicorn

APPLICATION = "weatherstreams.asgi:application"
# How long the processes have to stop after SIGTERM before they are killed.
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # linux/prctl.h
DEFAULT_SERVER = "uvicorn"
UVICORN_WEBSOCKETS = ("websockets-sansio", "wsproto", "websockets")


@dataclass(frozen=True)
class Server:
    """An ASGI server the launcher can start on an inherited listening socket."""

    name: str
    ready_line: str  # what each of its processes prints once it accepts connections
    takes_ipv6_fd: bool = True  # whether it adopts an inherited IPv6 socket as such


SERVERS = {
    "uvicorn": Server("uvicorn", CHILD_READY),
    # daphne's `--fd` adopts a socket as IPv4 (its fd endpoint has no way to say otherwise).
    "daphne": Server("daphne", "Listening on TCP address", takes_ipv6_fd=False),
    "hypercorn": Server("hypercorn", CHILD_READY),
}


def say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


# --- options --------------------------------------------------------------------------


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise LaunchError(f"{name} must be a whole number; got {raw!r}") from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    daphne_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, daphne_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m weatherstreams.serve",
        description="Serve the app with N web server processes on one address (options after -- go to daphne).",
    )
    parser.add_argument("--host", default=os.environ.get("WEATHERSTREAMS_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default WEATHERSTREAMS_PORT or 8000")
    parser.add_argument("--processes", type=int, default=None, help="default WEATHERSTREAMS_WEB_PROCESSES or 1")
    parser.add_argument("--server", choices=sorted(SERVERS), default=DEFAULT_SERVER, help=f"default {DEFAULT_SERVER}")
    parser.add_argument("--ws", choices=UVICORN_WEBSOCKETS, default=UVICORN_WEBSOCKETS[0], help="uvicorn's protocol")
    parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For/-Proto (see above)")
    parser.add_argument("--application", default=APPLICATION)
    parser.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT_SECONDS)
    # One server process, run by the launcher on the socket it passed (not for people).
    parser.add_argument("--child", choices=("uvicorn", "hypercorn"), help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if daphne_args and args.server != "daphne" and not args.child:
        raise LaunchError(f"options after -- are daphne's; {args.server} takes none ({' '.join(daphne_args)})")
    if args.child:
        args.daphne_args = []
        return args
    if args.port is None:
        args.port = env_int("WEATHERSTREAMS_PORT", 8000)
    if args.processes is None:
        args.processes = env_int("WEATHERSTREAMS_WEB_PROCESSES", 1)
    if args.processes < 1:
        raise LaunchError(f"the number of web processes must be 1 or more; got {args.processes}")
    if not 0 <= args.port <= 65535:
        raise LaunchError(f"no such port: {args.port}")
    args.daphne_args = daphne_args
    return args


# --- the processes --------------------------------------------------------------------


def die_with_launcher_hook() -> Callable[[], None] | None:
    """A preexec_fn that has the child sent SIGTERM when the launcher dies (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    launcher = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != launcher:  # the launcher died before the line above
            os._exit(1)

    return hook


def relay_lines(source: BinaryIO, target: BinaryIO, prefix: bytes) -> None:
    """Copy a process's output line by line, each line prefixed; keeps reading if `target` fails."""
    with source:
        for line in iter(source.readline, b""):
            with contextlib.suppress(OSError, ValueError):
                target.write(prefix + line)
                target.flush()


@dataclass
class WebProcess:
    number: int
    popen: subprocess.Popen
    relays: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def describe(self, total: int) -> str:
        return f"web process {self.number} of {total} (pid {self.pid})"


def exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Launcher:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: list[WebProcess] = []
        self.signals: list[int] = []

    # signals only record; the main loop acts
    def on_signal(self, signum: int, _frame) -> None:
        self.signals.append(signum)

    def command(self, binding: list[str]) -> list[str]:
        """One server process's command line; `binding` is `--fd N` (or, for daphne, `-b H -p P`)."""
        args = self.args
        if args.server == "daphne":
            proxy = ["--proxy-headers"] if args.proxy_headers else []
            return [sys.executable, "-m", "daphne", *binding, "--no-server-name", *proxy, *args.daphne_args,
                    args.application]  # fmt: skip
        return [
            sys.executable, "-m", "weatherstreams.serve", "--child", args.server, *binding, "--ws", args.ws,
            "--application", args.application, *(["--proxy-headers"] if args.proxy_headers else []),
        ]  # fmt: skip

    def start(self, sockets: list[socket.socket] | None) -> None:
        total = self.args.processes
        prefixed = total > 1
        hook = die_with_launcher_hook()
        for number in range(1, total + 1):
            if sockets is None:  # one daphne process on an IPv6 address: daphne binds it
                binding, fds = ["-b", self.args.host, "-p", str(self.args.port)], ()
            else:
                fd = sockets[(number - 1) % len(sockets)].fileno()
                binding, fds = ["--fd", str(fd)], (fd,)
            popen = subprocess.Popen(
                self.command(binding),
                pass_fds=fds,
                preexec_fn=hook,  # safe: no thread runs yet (the relays start below)
                stdout=subprocess.PIPE if prefixed else None,
                stderr=subprocess.PIPE if prefixed else None,
            )
            self.processes.append(WebProcess(number, popen))
        # Only the processes hold the sockets now: one that dies takes its socket (and, with
        # SO_REUSEPORT, its share of new connections) with it.
        for sock in sockets or ():
            sock.close()
        for process in self.processes:
            say(f"{process.describe(total)}: {self.args.server}")
            if prefixed:
                prefix = f"web{process.number}[{process.pid}] ".encode()
                for source, target in ((process.popen.stdout, sys.stdout), (process.popen.stderr, sys.stderr)):
                    relay = threading.Thread(
                        target=relay_lines, args=(source, target.buffer, prefix), daemon=True, name=prefix.decode()
                    )
                    relay.start()
                    process.relays.append(relay)

    def watch(self) -> WebProcess | None:
        """Wait until a signal comes (None) or a process ends on its own (that process)."""
        while not self.signals:
            for process in self.processes:
                if process.popen.poll() is not None:
                    return process
            time.sleep(POLL_SECONDS)
        return None

    def alive(self) -> list[WebProcess]:
        return [process for process in self.processes if process.popen.poll() is None]

    def wait_for_all(self, seconds: float, *, until_signals: int) -> bool:
        """Whether every process ended within `seconds` (False early once `until_signals` signals came)."""
        deadline = time.monotonic() + seconds
        while self.alive() and time.monotonic() < deadline and len(self.signals) < until_signals:
            time.sleep(POLL_SECONDS)
        return not self.alive()

    def stop(self) -> bool:
        """Stop every process: SIGTERM, then SIGKILL after --stop-timeout seconds or at the next
        signal; whether all stopped on their own (none had to be killed). (After Ctrl-C the
        terminal has signalled the processes already; SIGTERM as well does them no harm.)"""
        signals = len(self.signals)
        for process in self.alive():
            with contextlib.suppress(ProcessLookupError):
                process.popen.send_signal(signal.SIGTERM)
        stopped = self.wait_for_all(self.args.stop_timeout, until_signals=signals + 1)
        for process in self.alive():
            say(f"{process.describe(self.args.processes)} did not stop: killing it")
            with contextlib.suppress(ProcessLookupError):
                process.popen.kill()
        for process in self.processes:
            process.popen.wait()
            for relay in process.relays:
                relay.join(timeout=1)
        return stopped

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.on_signal)
        sockets = listening_sockets(
            self.args.host, self.args.port, self.args.processes, takes_ipv6_fd=SERVERS[self.args.server].takes_ipv6_fd
        )
        total = self.args.processes
        if sockets is None:
            address, how = f"http://[{self.args.host.strip('[]')}]:{self.args.port}/", ""
        else:
            address = shown_address(sockets[0])
            how = "SO_REUSEPORT, one socket each" if len(sockets) > 1 else "one shared socket" if total > 1 else ""
        say(f"{total} web process{'es' if total > 1 else ''} on {address}" + (f" ({how})" if how else ""))
        self.start(sockets)
        ended = self.watch()
        if ended is not None:
            line = f"{ended.describe(total)} {exit_description(ended.popen.returncode)}"
            if total > 1:
                line += f"; stopping the other{'s' if total > 2 else ''}"
            say(line)
            self.stop()
            say("all web processes stopped")
            return 1
        signum = self.signals[0]
        say(f"{signal.Signals(signum).name}: stopping {total} web process{'es' if total > 1 else ''}")
        clean = self.stop()
        # (those killed were said so already)
        expected = (0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL)
        unclean = [process for process in self.processes if process.popen.returncode not in expected]
        for process in unclean:
            say(f"{process.describe(total)} {exit_description(process.popen.returncode)}")
        say("all web processes stopped")
        return 0 if clean and not unclean else 1


def prepare_settings() -> None:
    """Load the Django settings once here, before any process starts: without DJANGO_SECRET_KEY they
    make the local key file on first use, and N processes racing to make it would each keep their own
    key (each would refuse the others' sessions)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "weatherstreams.settings")
    try:
        importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    except Exception as error:
        raise LaunchError(f"the settings cannot be read: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.child == "uvicorn":
            return run_uvicorn(args)
        if args.child == "hypercorn":
            return run_hypercorn(args)
        prepare_settings()
        return Launcher(args).run()
    except LaunchError as error:
        say(f"error: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
