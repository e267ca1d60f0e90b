"""The vault provider's HTTP client against a hostile or broken server (not OpenBao).

A loopback socket server answers each call with chosen bytes: truncated,
not HTTP, not JSON, chunked, oversized, dripped slower than the deadline. Every
case is one KeyProblem line (or, for a well-formed answer, the right key), in
bounded time; nothing echoes the token.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from credhelper.errors import KeyProblem
from credhelper.keys.vault import VaultKeyProvider

TOKEN = "s.hostile-test-token"
WRAPPED = "vault:v1:" + base64.b64encode(b"x" * 40).decode()


class Responder:
    """Accepts connections on 127.0.0.1 and sends `reply` (bytes or a callable)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply: bytes | list[bytes] = b""
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(65536))
                    parts = self.reply if isinstance(self.reply, list) else [self.reply]
                    for part in parts:
                        if self.stop.is_set():
                            break
                        conn.sendall(part)
                        if isinstance(self.reply, list):
                            time.sleep(0.3)  # the drip: slower than the deadline allows
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=10)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Responder]:
    responder = Responder()
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{responder.port}")
    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    monkeypatch.setenv("CREDHELPER_VAULT_TIMEOUT", "1")
    yield responder
    responder.close()


def provider(tmp_path: object) -> VaultKeyProvider:
    record = {"name": "vault", "mount": "transit", "key": "k", "wrapped": WRAPPED}
    return VaultKeyProvider(record, str(tmp_path))


def http(status: str, body: bytes, *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status}", *headers])
    return head.encode() + b"\r\n\r\n" + body


KEY = os.urandom(32)
GOOD = b'{"data":{"plaintext":"' + base64.b64encode(KEY) + b'"}}'


@pytest.mark.parametrize(
    ("reply", "phrase"),
    [
        (b"", "no complete HTTP response"),
        (b"SSH-2.0-OpenSSH\r\n", "no complete HTTP response"),
        (b"garbage\r\n\r\n{}", "not HTTP"),
        (http("200 OK", b"<html>hi</html>"), "not JSON"),
        (http("200 OK", b'{"data":{"plaintext":"!!"}}'), "malformed plaintext"),
        (http("200 OK", b'{"data":{"plaintext":"AAAA"}}'), "3-byte data key"),
        (http("200 OK", b"[1,2]"), "refused"),
        (http("500 Oops", b'{"errors":["boom\\n\\u001b[31m"]}'), "HTTP 500: boom"),
        (http("200 OK", b"x" * (1 << 21)), "response too large"),
        ([http("200 OK", b"")[:-4], b"\r\n", b"\r\n", b"{}"], "did not answer within 1s"),
    ],
)
def test_hostile_answers_are_one_line(
    server: Responder, tmp_path: object, reply: bytes | list[bytes], phrase: str
) -> None:
    server.reply = reply
    with pytest.raises(KeyProblem) as err:
        provider(tmp_path).load()
    text = err.value.message
    assert text.startswith("credhelper: ") and "\n" not in text and "\x1b" not in text, text
    assert phrase in text, text
    assert TOKEN not in text


@pytest.mark.parametrize(
    "reply",
    [
        http("200 OK", GOOD, f"Content-Length: {len(GOOD)}"),
        http("200 OK", GOOD),  # no length: read to the close
        http(
            "200 OK",
            b"%x\r\n" % 10
            + GOOD[:10]
            + b"\r\n"
            + b"%x\r\n" % (len(GOOD) - 10)
            + GOOD[10:]
            + b"\r\n0\r\n\r\n",
            "Transfer-Encoding: chunked",
        ),
    ],
    ids=["content-length", "read-to-close", "chunked"],  # KEY is random: xdist needs stable ids
)
def test_well_formed_answers_give_the_key(
    server: Responder, tmp_path: object, reply: bytes
) -> None:
    server.reply = reply
    assert provider(tmp_path).load() == KEY
    request = server.requests[-1]
    assert request.startswith(b"POST /v1/transit/decrypt/k HTTP/1.1\r\n")
    assert b"X-Vault-Token: " + TOKEN.encode() + b"\r\n" in request
    assert b'"ciphertext": "' + WRAPPED.encode() + b'"' in request or WRAPPED.encode() in request
