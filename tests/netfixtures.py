"""Loopback network stand-ins for engine tests: a tarpit and a CONNECT proxy.

- Tarpit: accepts TCP connections on 127.0.0.1 and never answers, so an engine
  that reached the network is reliably "in the middle of a push" (it already has
  its credentials) when a test sends a signal.
- ConnectProxy: an HTTP CONNECT proxy on 127.0.0.1 that sends every tunnel to one
  local port. With HTTPS_PROXY pointing at it, skopeo/podman pushing to
  `docker.io/...` (registry-1.docker.io:443) reach a local registry instead, so
  the Docker Hub credential path runs for real without the internet.

Both record what they saw, wait on conditions with a bound, and stop every socket
and thread they started in stop().
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator


class _Listener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._cond:
                self.conns.append(conn)
                self.accepted += 1
                self._cond.notify_all()
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        """Tarpit: hold the connection open, say nothing."""

    def wait_for_connection(self, bound: float = 60.0) -> bool:
        deadline = time.monotonic() + bound
        with self._cond:
            while self.accepted == 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._cond:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(timeout=10)


class Tarpit(_Listener):
    """Accepts and holds every connection."""


class ConnectProxy(_Listener):
    """CONNECT anything → 127.0.0.1:target_port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests: list[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        self._spawn(self._tunnel, conn)

    def _tunnel(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(line)
        if not line.startswith("CONNECT "):
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with self._cond:
            self.conns.append(upstream)
        rest = head.split(b"\r\n\r\n", 1)[1]
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        self._spawn(_pipe, upstream, conn)
        _pipe(conn, upstream)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tarpit() -> Iterator[Tarpit]:
    server = Tarpit()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def connect_proxy(target_port: int) -> Iterator[ConnectProxy]:
    server = ConnectProxy(target_port)
    try:
        yield server
    finally:
        server.stop()
