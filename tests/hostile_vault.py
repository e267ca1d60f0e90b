"""A hostile "Vault" for the vault provider's attack tests: a socket server on 127.0.0.1.

`Hostile(respond)` answers every request with `respond(path, raw request)` and
records the raw requests (so a test can look for a token where it must not be);
`forwarder` relays to a real server, optionally slowly. The `hostile` fixture
stops every server it made.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection

import pytest

Responder = Callable[[str, bytes], bytes]  # (request path, raw request) -> raw response


class Hostile:
    """A tiny HTTP(S) server on 127.0.0.1 that answers with `respond` and records requests."""

    def __init__(self, respond: Responder, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.tls = tls
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def addr(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    want = int(line.split(b":", 1)[1])
                    while len(body) < want:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        body += chunk
            self.requests.append(data)
            path = head.split(b" ")[1].decode()
            conn.sendall(self.respond(path, head + b"\r\n\r\n" + body))
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(timeout=5)
        self.sock.close()


def http(status: int, body: dict[str, object], extra: str = "") -> bytes:
    raw = json.dumps(body).encode()
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(raw)}\r\n\r\n"
    ).encode() + raw


@pytest.fixture
def hostile() -> Iterator[Callable[..., Hostile]]:
    made: list[Hostile] = []

    def make(respond: Responder, tls: ssl.SSLContext | None = None) -> Hostile:
        server = Hostile(respond, tls)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def forwarder(target: str, delay_on: str = "", delay: float = 0.0) -> Responder:
    """A responder that relays each request to the real server `target` (http://),
    sleeping `delay` before answering a GET whose path contains `delay_on`."""
    host, port = target.removeprefix("http://").split(":")

    def relay(path: str, raw: bytes) -> bytes:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method = lines[0].split(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() in ("x-vault-token", "x-vault-namespace", "content-type"):
                headers[name] = value.strip()
        conn = HTTPConnection(host, int(port), timeout=20)
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if delay_on and delay_on in path and method == "GET":
            time.sleep(delay)
        return (
            f"HTTP/1.1 {resp.status} X\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    return relay
