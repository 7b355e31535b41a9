"""The launcher's listening sockets (weatherstreams/serve.py): one per web process bound with
SO_REUSEPORT where the kernel balances connections over them (Linux), else one shared; a probe bind
first, so a port another program holds is refused in one line instead of silently shared."""

from __future__ import annotations

import contextlib
import socket
import sys


class LaunchError(Exception):
    """What keeps the launcher from starting, said in one line."""


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


def listening_sockets(host: str, port: int, count: int, *, takes_ipv6_fd: bool) -> list[socket.socket] | None:
    """`count` listening sockets on host:port with SO_REUSEPORT where that balances, else one; None for
    an IPv6 address with one daphne process, which daphne binds itself (see below)."""
    family, address = resolve(host, port)
    if family != socket.AF_INET and not takes_ipv6_fd:
        # daphne's `--fd` adopts a socket as IPv4 (its fd endpoint has no way to say otherwise), and
        # clients' addresses would then come out garbled (the login lockout counts by address).
        if count > 1:
            raise LaunchError(
                f"more than one daphne process needs an IPv4 address ({host} is not): daphne takes inherited "
                "sockets as IPv4 only; use 127.0.0.1 or 0.0.0.0, one process, or another --server"
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
