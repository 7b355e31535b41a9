"""Serve the ASGI application with several daphne processes on one address.

    python -m weatherstreams.serve [--host H] [--port P] [--processes N] [-- daphne options]

Defaults: WEATHERSTREAMS_HOST (127.0.0.1), WEATHERSTREAMS_PORT (8000), WEATHERSTREAMS_WEB_PROCESSES (1).
Options after `--` go to every daphne (scripts/run passes `--proxy-headers`); `--no-server-name` is
always on (no Server banner).

This launcher binds the listening socket(s) itself and starts N `daphne --fd` processes that accept
on them, so all N serve one port. Each process has its own live feeds (streams_app/live/registry.py);
they share the Channels layer (QUEUE_REDIS_URL) and everything else through Redis and the database.

How connections are shared: on Linux each process gets its own socket, every one bound to the same
address with SO_REUSEPORT, and the kernel spreads new connections over them evenly (by a hash of the
connection's addresses). One socket shared by all would do too, but every process is woken for each
connection and the one that wins keeps accepting what is queued, so under light load one process
tends to get most of the (long-lived) WebSockets. Elsewhere (macOS, the BSDs: SO_REUSEPORT there
does not balance) the processes share one socket. daphne cannot set SO_REUSEPORT on a socket it binds
itself, hence `--fd`. Before binding, a plain probe bind makes sure nothing else holds the port (a
second launcher would otherwise silently share it).

It restarts nothing: if a process ends on its own, the launcher says which, stops the others and
exits 1. SIGTERM or SIGINT (Ctrl-C) stops every process (SIGTERM, then SIGKILL after --stop-timeout
seconds or at a second signal) and exits 0 when all stopped cleanly. On Linux
the processes also get SIGTERM if the launcher itself is killed, so none is left behind. With more
than one process, each line a process prints is prefixed with `webN[pid]`.
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

APPLICATION = "weatherstreams.asgi:application"
# How long the processes have to stop after SIGTERM before they are killed.
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


class LaunchError(Exception):
    """What keeps the launcher from starting, said in one line."""


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
        description="Serve the app with N daphne processes on one address (options after -- go to daphne).",
    )
    parser.add_argument("--host", default=os.environ.get("WEATHERSTREAMS_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default WEATHERSTREAMS_PORT or 8000")
    parser.add_argument("--processes", type=int, default=None, help="default WEATHERSTREAMS_WEB_PROCESSES or 1")
    parser.add_argument("--application", default=APPLICATION)
    parser.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
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


# --- the listening sockets ----------------------------------------------------------------


def balances_with_reuseport() -> bool:
    """Whether SO_REUSEPORT spreads connections over the sockets bound with it (Linux 3.9+)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise LaunchError(f"cannot listen on {host}: {error.strerror}") from None
    # IPv4 first, as daphne -b does for a name such as localhost.
    family, _, _, _, address = sorted(infos, key=lambda info: info[0] != socket.AF_INET)[0]
    return family, address


def new_socket(family: socket.AddressFamily, *, reuseport: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as twisted does: TIME_WAIT is no obstacle
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


def bind(sock: socket.socket, address: tuple, host: str) -> None:
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        shown = f"[{address[0]}]:{address[1]}" if sock.family == socket.AF_INET6 else f"{address[0]}:{address[1]}"
        named = f" ({host})" if host and host.strip("[]") != address[0] else ""
        raise LaunchError(f"cannot listen on {shown}{named}: {error.strerror}") from None


def check_free(host: str, port: int) -> None:
    """Refuse at once, in one line, an address that cannot be listened on."""
    family, address = resolve(host, port)
    probe = new_socket(family, reuseport=False)
    bind(probe, address, host)
    probe.close()


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket] | None:
    """`count` listening sockets on host:port with SO_REUSEPORT where that balances, else one; None for
    an IPv6 address with one process, which daphne binds itself (see below)."""
    family, address = resolve(host, port)
    if family != socket.AF_INET:
        # daphne's `--fd` adopts a socket as IPv4 (its fd endpoint has no way to say otherwise), and
        # clients' addresses would then come out garbled (the login lockout counts by address).
        if count > 1:
            raise LaunchError(
                f"more than one web process needs an IPv4 address ({host} is not): daphne takes inherited "
                "sockets as IPv4 only; use 127.0.0.1 or 0.0.0.0 (or one process)"
            )
        check_free(host, port)
        return None
    reuseport = count > 1 and balances_with_reuseport()
    if reuseport and port != 0:
        # A socket of another program holding the port with SO_REUSEPORT (a second launcher) would
        # let ours in beside it: make sure the port is free first.
        check_free(host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if reuseport else 1):
            sock = new_socket(family, reuseport=reuseport)
            bind(sock, address, host)
            sock.listen(socket.SOMAXCONN)
            sockets.append(sock)
            address = sock.getsockname()  # port 0: the rest bind the port the first one got
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def shown_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if sock.family == socket.AF_INET6 else f"http://{host}:{port}/"


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

    def daphne_command(self, binding: list[str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "daphne",
            *binding,
            "--no-server-name",
            *self.args.daphne_args,
            self.args.application,
        ]

    def start(self, sockets: list[socket.socket] | None) -> None:
        total = self.args.processes
        prefixed = total > 1
        hook = die_with_launcher_hook()
        for number in range(1, total + 1):
            if sockets is None:  # one process on an IPv6 address: daphne binds it
                binding, fds = ["-b", self.args.host, "-p", str(self.args.port)], ()
            else:
                fd = sockets[(number - 1) % len(sockets)].fileno()
                binding, fds = ["--fd", str(fd)], (fd,)
            popen = subprocess.Popen(
                self.daphne_command(binding),
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
            say(f"{process.describe(total)}: daphne")
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
        terminal has signalled the daphnes already; SIGTERM as well does them no harm.)"""
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
        sockets = listening_sockets(self.args.host, self.args.port, self.args.processes)
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
        prepare_settings()
        return Launcher(args).run()
    except LaunchError as error:
        say(f"error: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
