"""One web server process on the listening socket the launcher passed (`serve.py --child S --fd N`):
uvicorn or hypercorn, in this process, until SIGTERM/SIGINT; each prints CHILD_READY once it
accepts connections (the tests wait for it)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys

# How long a server process gives its open connections (live pages' WebSockets, a download) to end
# after SIGTERM before it cancels them: well inside the launcher's STOP_TIMEOUT_SECONDS.
GRACEFUL_SECONDS = 3.0
# What a process this module runs prints once it accepts connections.
CHILD_READY = "serve: accepting connections"


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket the launcher passed, as its own family (IPv4 or IPv6)."""
    return socket.socket(fileno=fd)


def run_uvicorn(args: argparse.Namespace) -> int:
    """uvicorn on uvloop and httptools, in this process, until SIGTERM/SIGINT (its own handlers)."""
    import uvicorn

    class Announced(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(
                    f"{CHILD_READY} (uvicorn {uvicorn.__version__}, {args.ws}, pid {os.getpid()})",
                    file=sys.stderr,
                    flush=True,
                )

    config = uvicorn.Config(
        args.application,
        loop="uvloop",
        http="httptools",
        ws=args.ws,
        lifespan="off",  # Channels' router has no lifespan protocol
        server_header=False,
        proxy_headers=args.proxy_headers,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = Announced(config)
    server.run(sockets=[inherited_socket(args.fd)])
    return 0 if server.started else 1


def run_hypercorn(args: argparse.Namespace) -> int:
    """hypercorn on uvloop, in this process, until SIGTERM/SIGINT."""
    import asyncio

    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{args.fd}"]
    config.include_server_header = False
    config.graceful_timeout = GRACEFUL_SECONDS
    config.accesslog = "-"
    module, _, attribute = args.application.partition(":")
    application = getattr(importlib.import_module(module), attribute)
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"{CHILD_READY} (hypercorn, pid {os.getpid()})", file=sys.stderr, flush=True)
        await serve(application, config, shutdown_trigger=stop.wait, mode="asgi")

    uvloop.run(main())
    return 0
