"""The app served by several web server processes (`python -m weatherstreams.serve --processes N`,
the server the run command ships unless a test names another with `--server`), for the system
tests: the launcher on a free port with its own SQLite database, on the suite's redis-server and
the real channel layer.

The kernel decides which process accepts a connection; /proc says which one did (the server side
of a connection is a socket inode in /proc/net/tcp, held open by one process in /proc/<pid>/fd), so
a test can open a connection on the process it wants: a WebSocket on one, an HTTP request on another.
Linux only. The WebSocket client is a minimal RFC 6455 one over that very socket (text frames,
pings, close), since the suite has no WebSocket client library besides the browser.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import http.cookiejar
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.live_server import PASSWORD, ROOT, USERNAME, LiveApp
from tests.support.processes import stop_process
from tests.support.redis_server import free_port
from tests.support.workers import wait_until
from weatherstreams.serve import DEFAULT_SERVER, SERVERS

START_SECONDS = 30.0
ACCEPT_SECONDS = 5.0


# --- /proc -------------------------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid`, oldest first."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the accepted (server) side of the local connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
                if (
                    state == "01"  # ESTABLISHED
                    and inode  # 0 while it waits in the backlog, not yet accepted
                    and int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    return inode
    return None


def holder_of(inode: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the socket `inode` open."""
    wanted = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                        return pid
    return None


# --- a minimal WebSocket client ---------------------------------------------------------------

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class SocketClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"the server closed the WebSocket (code {code})")
        self.code = code


class WebSocket:
    """A client WebSocket on an already connected TCP socket."""

    def __init__(self, sock: socket.socket, *, host: str, path: str, origin: str, cookie: str) -> None:
        self.sock = sock
        key = base64.b64encode(os.urandom(16))
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\nCookie: {cookie}\r\n\r\n"
        )
        sock.settimeout(ACCEPT_SECONDS)
        sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        assert status.split()[1] == "101", f"the handshake was refused: {head.decode('latin-1')}"
        headers = {name.strip().lower(): value.strip() for name, value in (h.split(":", 1) for h in header_lines)}
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, headers

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SocketClosed(None)
        self.buffer += chunk

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        mask = self._take(4) if second & 0x80 else b""
        payload = self._take(length)
        if mask:
            payload = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self.sock.sendall(header + mask + bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload)))

    def receive_json(self, *, timeout: float = ACCEPT_SECONDS) -> dict:
        """The next text message, decoded; pings are answered on the way."""
        self.sock.settimeout(timeout)
        message = b""
        while True:
            final, opcode, payload = self._frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode == CLOSE:
                raise SocketClosed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            message += payload
            if final:
                return json.loads(message)

    def receive_until(self, done: Callable[[dict], bool], *, timeout: float = 10.0) -> list[dict]:
        """Messages received until one for which `done` is true (the last one), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        received: list[dict] = []
        while not received or not done(received[-1]):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"gave up waiting after {timeout} s; received {received}"
            try:
                received.append(self.receive_json(timeout=remaining))
            except TimeoutError:
                raise AssertionError(f"gave up waiting after {timeout} s; received {received}") from None
        return received

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send_frame(CLOSE, struct.pack("!H", 1000))
        self.sock.close()


# --- the app on N processes --------------------------------------------------------------


class ServedApp:
    """The app's database, var dir and user (a stream-admin with an API token), made once; each
    `launch()` is a launcher on its own free port."""

    def __init__(self, redis_url: str) -> None:
        self.app = LiveApp(redis_url)
        self.app.manage("migrate", "--noinput")
        self.app.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Group; "
            f"user = get_user_model().objects.create_user(username={USERNAME!r}, password={PASSWORD!r}); "
            "user.groups.add(Group.objects.get(name='stream-admins'))",
        )
        self.api_token = self.app.manage("create_api_token", USERNAME).stdout.strip()
        self.launches: list[Launch] = []

    def launch(self, processes: int = 2, *args: str) -> Launch:
        launch = Launch(self, processes, *args)
        self.launches.append(launch)
        return launch.wait_ready()

    def stop(self) -> None:
        for launch in self.launches:
            launch.stop()
        self.app.stop()


class Launch:
    """`python -m weatherstreams.serve --processes N` on a free port; its output in a log file."""

    def __init__(self, served: ServedApp, processes: int, *args: str) -> None:
        self.served = served
        self.processes = processes
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.name = f"serve-{self.port}"
        command = [sys.executable, "-m", "weatherstreams.serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = served.app.spawn(self.name, [*command, "--processes", str(processes), *args])
        self.server = args[args.index("--server") + 1] if "--server" in args else DEFAULT_SERVER
        self.children: list[int] = []

    def log(self) -> str:
        return self.served.app.log(self.name)

    def wait_ready(self) -> Launch:
        """Until every web process listens and the address answers."""
        ready_line = SERVERS[self.server].ready_line

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the launcher exited with {self.process.returncode}:\n{self.log()}")
            self.children = child_pids(self.process.pid)
            if len(self.children) != self.processes or self.log().count(ready_line) < self.processes:
                return False
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/accounts/login/", timeout=1) as r:
                return r.status == 200
            return False

        try:
            wait_until(ready, timeout=START_SECONDS, what=f"{self.processes} web processes to serve")
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{self.log()}") from None
        return self

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=ACCEPT_SECONDS)

    def holder(self, sock: socket.socket) -> int:
        """The web process that accepted the connection `sock` (the client side)."""
        client_port = sock.getsockname()[1]

        def accepted() -> int | None:
            inode = server_socket_inode(self.port, client_port)
            return holder_of(inode, self.children) if inode else None

        return wait_until(accepted, timeout=ACCEPT_SECONDS, what=f"a web process to accept port {client_port}")

    def connection_on(self, pid: int, *, attempts: int = 200) -> socket.socket:
        """A connection accepted by web process `pid` (others the kernel gave elsewhere are closed)."""
        for _ in range(attempts):
            sock = self.connect()
            if self.holder(sock) == pid:
                return sock
            sock.close()
        raise AssertionError(f"no connection of {attempts} reached web process {pid}")

    def request(self, sock: socket.socket, method: str, path: str, **kwargs: Any) -> http.client.HTTPResponse:
        """An HTTP request over the connection `sock`; the response read in full."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=ACCEPT_SECONDS)
        connection.sock = sock
        connection.request(method, path, **kwargs)
        response = connection.getresponse()
        response.body = response.read()
        return response

    def login(self) -> dict[str, str]:
        """A logged-in session's cookies (through the login form, on whichever process)."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(self.url + "/accounts/login/", timeout=ACCEPT_SECONDS) as response:
            form = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode({"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token})
        with opener.open(self.url + "/accounts/login/", data=body.encode(), timeout=ACCEPT_SECONDS):
            pass
        cookies = {cookie.name: cookie.value for cookie in jar}
        assert "sessionid" in cookies, "the login failed"
        return cookies

    def websocket(self, sock: socket.socket, path: str, cookies: dict[str, str]) -> WebSocket:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        return WebSocket(sock, host=self.host, path=path, origin=self.url, cookie=cookie)

    def access_log_line(self, pid: int, client_port: int, text: str, timeout: float = 5.0) -> str | None:
        """The line web process `pid` logged for the connection from `client_port` that holds `text`
        (waited for: the server writes it after the response, and the launcher relays it after that)."""
        prefix = re.compile(rf"^web\d+\[{pid}\] .*\b127\.0\.0\.1:{client_port} .*{re.escape(text)}", re.MULTILINE)
        deadline = time.monotonic() + timeout
        while (found := prefix.search(self.log())) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return found.group(0) if found else None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        for pid in self.children:  # none should be left; never leave one behind
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                if alive(pid) and (b"daphne" in command or b"weatherstreams.serve" in command):
                    os.kill(pid, signal.SIGKILL)


__all__ = ["ROOT", "Launch", "ServedApp", "SocketClosed", "WebSocket", "alive", "child_pids"]
