"""A hostile Secret Service on a fake session bus (unix socket in tmp).

The fake speaks just enough D-Bus (SASL OK, then method returns built with the
same wire code) to run the fast path's exchange to the end, with one twist per
case: replies in reverse order, stray replies to unknown serials, a DH public
key of 0/1/p-1, a never-answered GetSecret. Checks what the client sent before
the bus said OK. Held on the code under attack; kept as regression guards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from credhelper.keys import dbuswire as wire
from credhelper.keys import secretservice as ss

SECRET = b"c2VjcmV0LWtleS0zMi1ieXRlcy1sb25nLXh4eHg="


def _reply(serial: int, reply_to: int, sig: str, *values: object, sender: str = ":1.1") -> bytes:
    body = bytearray()
    for part, value in zip(wire.types(sig), values, strict=True):
        wire.put(body, part, value)
    fields = [(5, ("u", reply_to)), (7, ("s", sender))]
    if sig:
        fields.append((8, ("g", sig)))
    head = bytearray(b"l\x02\x00\x01")
    head += len(body).to_bytes(4, "little") + serial.to_bytes(4, "little")
    wire.put(head, "a(yv)", fields)
    wire.pad(head, 8)
    return bytes(head + body)


def _calls(buf: bytes) -> tuple[list[tuple[int, str, tuple[object, ...]]], bytes]:
    out = []
    while len(buf) >= 16:
        body_len = int.from_bytes(buf[4:8], "little")
        fields_len = int.from_bytes(buf[12:16], "little")
        total = 16 + fields_len + (-fields_len % 8) + body_len
        if len(buf) < total:
            break
        msg, buf = buf[:total], buf[total:]
        fields, end = wire.get(msg, 12, "a(yv)")
        f = dict(fields)
        sig = f.get(8, ("g", ""))[1]
        pos, vals = end + (-end % 8), []
        for part in wire.types(sig):
            v, pos = wire.get(msg, pos, part)
            vals.append(v)
        out.append((int.from_bytes(msg[8:12], "little"), f[3][1], tuple(vals)))
    return out, buf


class Fake:
    def __init__(self, twist: str) -> None:
        self.twist = twist
        self.before_ok = b""
        self.private = int.from_bytes(os.urandom(32), "big") | 1

    def serve(self, conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(0.2)
        buf, authed, serial, pending = b"", False, 100, []
        aes_key = b""
        while not stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            buf += chunk
            if not authed:
                if b"BEGIN\r\n" not in buf:
                    continue
                self.before_ok = buf
                conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                buf = buf[buf.index(b"BEGIN\r\n") + 7 :]
                authed = True
            calls, buf = _calls(buf)
            for call_serial, member, args in calls:
                serial += 1
                if member == "Hello":
                    pending.append(_reply(serial, call_serial, "s", ":1.42"))
                elif member == "OpenSession":
                    client = int.from_bytes(args[1][1], "big")
                    mine = pow(2, self.private, ss._PRIME)
                    if self.twist.startswith("dh="):
                        mine = int(self.twist[3:].replace("p", str(ss._PRIME)).split("-")[0])
                        if self.twist.endswith("-1"):
                            mine -= 1
                    shared = pow(client, self.private, ss._PRIME).to_bytes(128, "big")
                    prk = ss._hmac_sha256(b"\0" * 32, shared)
                    aes_key = ss._hmac_sha256(prk, b"\x01")[:16]
                    out = ("ay", mine.to_bytes(128, "big"))
                    pending.append(_reply(serial, call_serial, "vo", out, "/s/1"))
                elif member == "Get":
                    pending.append(_reply(serial, call_serial, "v", ("b", False)))
                elif member == "SearchItems":
                    pending.append(_reply(serial, call_serial, "ao", ["/i/1"]))
                elif member == "GetSecret":
                    if self.twist == "silent-secret":
                        continue
                    iv = os.urandom(16)
                    pad = 16 - len(SECRET) % 16
                    enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
                    data = enc.update(SECRET + bytes([pad]) * pad) + enc.finalize()
                    value = ("/s/1", iv, data, "text/plain")
                    pending.append(_reply(serial, call_serial, "(oayays)", value))
                else:
                    continue
            if not pending:
                continue
            if self.twist == "strays":
                conn.sendall(b"".join(_reply(900 + i, 700 + i, "s", "x") for i in range(50)))
            if self.twist == "reverse" or self.twist.startswith("dh="):
                pending.reverse()
            conn.sendall(b"".join(pending))
            pending = []


@contextlib.contextmanager
def fake_bus(directory: Path, fake: Fake) -> Iterator[str]:
    path = str(directory / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(10)
    stop = threading.Event()

    def run() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn, contextlib.suppress(OSError):
            fake.serve(conn, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"unix:path={path}"
    finally:
        stop.set()
        server.close()
        thread.join(timeout=10)


@pytest.mark.parametrize("twist", ["in-order", "reverse", "strays"])
def test_a_well_behaved_but_reordered_bus_gives_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twist: str
) -> None:
    fake = Fake(twist)
    with fake_bus(tmp_path, fake) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.setattr(ss, "TIMEOUT", 5.0)
        assert ss.get_password("credhelper", "acct") == SECRET.decode()
    # Before the OK only the SASL lines and the first calls; no secret exists yet.
    assert fake.before_ok.startswith(b"\0AUTH EXTERNAL ")
    assert SECRET not in fake.before_ok and b"GetSecret" not in fake.before_ok


@pytest.mark.parametrize("twist", ["dh=0", "dh=1", "dh=p-1", "dh=p", "silent-secret"])
def test_bad_dh_keys_and_a_never_answered_secret_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twist: str
) -> None:
    with fake_bus(tmp_path, Fake(twist)) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.setattr(ss, "TIMEOUT", 2.0)
        with pytest.raises(ss.Unsupported):
            ss.get_password("credhelper", "acct")
