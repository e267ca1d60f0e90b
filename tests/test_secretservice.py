"""credhelper.keys.secretservice: the keyring provider's direct Secret Service read.

It must say what keyring's SecretService backend says (against a real
gnome-keyring in a private D-Bus session), speak the D-Bus wire format exactly
as jeepney does, derive the same DH session key as secretstorage, and hand
every case that is not the plain one (locked, no bus, D-Bus errors) back to
keyring, whose messages the provider then reports.
"""

from __future__ import annotations

import contextlib
import hmac
import subprocess
import sys
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper.keys import secretservice
from tests.conftest import HELPER, Env, require_tool
from tests.keyring_session import secret_service

# ---------------------------------------------------------------- pure parts


def _sent(*call: object) -> bytes:
    out: list[bytes] = []

    class Sock:
        def sendall(self, data: bytes) -> None:
            out.append(data)

    bus = secretservice._Bus.__new__(secretservice._Bus)
    bus._sock = Sock()  # type: ignore[assignment]
    bus._serial = 6
    bus.send(*call)  # type: ignore[arg-type]
    return out[0]


@pytest.mark.parametrize(
    ("path", "iface", "member", "sig", "args"),
    [
        ("/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "OpenSession", "sv",
         ("dh-ietf1024-sha256-aes128-cbc-pkcs7", ("ay", bytes(range(128))))),
        ("/org/freedesktop/secrets/collection/login", "org.freedesktop.Secret.Collection",
         "SearchItems", "a{ss}", ({"username": "aeskey:/h\u00e9", "service": "credhelper"},)),
        ("/org/freedesktop/secrets/collection/login", "org.freedesktop.DBus.Properties", "Get",
         "ss", ("org.freedesktop.Secret.Collection", "Locked")),
        ("/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "ReadAlias", "s",
         ("default",)),
    ],
)  # fmt: skip
def test_messages_are_byte_for_byte_jeepneys(
    path: str, iface: str, member: str, sig: str, args: tuple[object, ...]
) -> None:
    from jeepney import DBusAddress, new_method_call

    address = DBusAddress(path, bus_name="org.freedesktop.secrets", interface=iface)
    expected = new_method_call(address, member, sig, args).serialise(serial=7)
    assert _sent("org.freedesktop.secrets", path, iface, member, sig, *args) == expected


def test_replies_parse_as_jeepney_parses_them() -> None:
    from jeepney import DBusAddress, new_method_return
    from jeepney.low_level import Parser

    call_address = DBusAddress("/x", bus_name="a.b", interface="a.b")
    from jeepney import new_method_call

    call = new_method_call(call_address, "M")
    call.header.serial = 9
    body = (("/org/freedesktop/secrets/session/s1", b"\x00\x01iv", b"\xffsecret", "text/plain"),)
    reply = new_method_return(call, "(oayays)", body).serialise(serial=3)
    parser = Parser()
    parser.add_data(reply)
    assert parser.get_next_message().body == body
    bus = secretservice._Bus.__new__(secretservice._Bus)
    bus._buf = reply
    assert bus.reply(9) == body


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=2, max_value=secretservice._PRIME - 2))
def test_session_key_is_secretstorages(server_public: int) -> None:
    from secretstorage.dhcrypto import Session

    session = Session()
    session.set_server_public_key(server_public)
    assert secretservice.session_key(session.my_private_key, server_public) == session.aes_key


def test_bad_server_keys_are_refused() -> None:
    for bad in (0, 1, secretservice._PRIME - 1, secretservice._PRIME, secretservice._PRIME + 5):
        with pytest.raises(secretservice.Unsupported):
            secretservice.session_key(12345, bad)


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=200))
def test_hmac_is_the_standard_one(key: bytes, message: bytes) -> None:
    assert secretservice._hmac_sha256(key, message) == hmac.new(key, message, sha256).digest()


def test_unusable_bus_addresses_hand_over_to_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    for address in ("", "tcp:host=127.0.0.1,port=1", "unix:path=/nonexistent/bus"):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        with pytest.raises(secretservice.Unsupported):
            secretservice.get_password("credhelper", "x")
    assert secretservice._address("unix:abstract=/tmp/dbus-x,guid=1") == "\0/tmp/dbus-x"
    assert secretservice._address("tcp:host=h;unix:path=/run/a%2cb") == "/run/a,b"


def test_only_the_plain_secretservice_backend_takes_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert secretservice.usable("keyring.backends.SecretService.Keyring")
    assert not secretservice.usable("keyring.backends.libsecret.Keyring")
    assert not secretservice.usable(None)
    monkeypatch.setenv("KEYRING_PROPERTY_PREFERRED_COLLECTION", "/x")
    assert not secretservice.usable("keyring.backends.SecretService.Keyring")


# ---------------------------------------------------------------- the real service


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    require_tool("dbus-daemon")
    with secret_service(tmp_path / "ss") as extra:
        for name, value in extra.items():
            monkeypatch.setenv(name, value)
        yield extra


VALUES = ["s3cr3t", "", "caf\u00e9 \u2603 \U0001f600", "x" * 5000, "a\nb\tc\\\"'", "=" * 44]


def test_same_answers_as_keyring_for_stored_and_missing_items(service: dict[str, str]) -> None:
    import keyring.backends.SecretService

    backend = keyring.backends.SecretService.Keyring()
    for i, value in enumerate(VALUES):
        backend.set_password("credhelper", f"acct{i}", value)
    for i, value in enumerate(VALUES):
        assert secretservice.get_password("credhelper", f"acct{i}") == value
        assert backend.get_password("credhelper", f"acct{i}") == value
    for service_name, account in (("credhelper", "missing"), ("other", "acct0")):
        assert secretservice.get_password(service_name, account) is None
        assert backend.get_password(service_name, account) is None
    backend.set_password("credhelper", "acct0", "replaced")
    assert secretservice.get_password("credhelper", "acct0") == "replaced"


def test_locked_collection_is_left_to_keyring(service: dict[str, str]) -> None:
    import keyring.backends.SecretService
    import secretstorage

    keyring.backends.SecretService.Keyring().set_password("credhelper", "acct", "v")
    secretstorage.get_default_collection(secretstorage.dbus_init()).lock()
    with pytest.raises(secretservice.Unsupported):
        secretservice.get_password("credhelper", "acct")


def test_keyring_get_imports_no_keyring_library(ch: Env, service: dict[str, str]) -> None:
    """The provider's get/list read the key without keyring, secretstorage or jeepney."""
    env = {**ch.env, **service}
    code = "from credhelper.keys.setup import configure_provider\nconfigure_provider('keyring')\n"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    ch.env = env
    ch.store_creds("a.example", "alice", "pw")
    for action, stdin in (("get", b"a.example"), ("list", b"")):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", HELPER, action],
            input=stdin,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout
        modules = {
            line.rsplit("|", 1)[-1].strip()
            for line in proc.stderr.decode().splitlines()
            if line.startswith("import time:")
        }
        assert "credhelper.keys.secretservice" in modules
        libraries = {m.split(".")[0] for m in modules} & {"keyring", "secretstorage", "jeepney"}
        assert not libraries, f"{action} imported {libraries}"
    get = ch.helper("get", b"a.example")
    assert get.stdout == b'{"ServerURL":"a.example","Username":"alice","Secret":"pw"}\n'
    assert not ch.key.exists()  # the key stayed in the keyring


# ---------------------------------------------------------------- a hostile bus


def _fake_bus(tmp_path: Path, reply: bytes) -> tuple[str, object]:
    """A unix socket that accepts SASL EXTERNAL, then answers every call with `reply`."""
    import socket
    import threading

    path = str(tmp_path / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            while b"BEGIN\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                if b"AUTH" in data and b"OK" not in data:
                    conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                    data += b"OK"
            with contextlib.suppress(OSError):
                conn.sendall(reply)
                conn.recv(1 << 16)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"unix:path={path}", (server, thread)


def _reply_header(body_len: int, signature: str, reply_serial: int = 1) -> bytes:
    fields = bytearray()
    secretservice._put(fields, "a(yv)", [(5, ("u", reply_serial)), (8, ("g", signature))])
    head = bytearray(b"l\x02\x00\x01") + body_len.to_bytes(4, "little") + (1).to_bytes(4, "little")
    head += fields[0:]
    secretservice._pad(head, 8)
    return bytes(head)


@pytest.mark.parametrize(
    "reply",
    [
        _reply_header(1 << 30, "s"),  # a 1 GiB body announced
        _reply_header(8, "(" * 40 + "y" + ")" * 40) + b"\0" * 8,  # absurd nesting
        _reply_header(8, "s") + b"\xff\xff\xff\x7fabcd",  # a string longer than the body
        _reply_header(4, "z") + b"\0\0\0\0",  # an unknown type
        b"B" + b"\0" * 15,  # big-endian
        b"",  # silence until the bus closes
    ],
)
def test_a_hostile_bus_is_left_to_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reply: bytes
) -> None:
    address, (server, thread) = _fake_bus(tmp_path, reply)  # type: ignore[misc]
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setattr(secretservice, "TIMEOUT", 2.0)
    try:
        with pytest.raises(secretservice.Unsupported):
            secretservice.get_password("credhelper", "acct")
    finally:
        server.close()  # type: ignore[attr-defined]
        thread.join(timeout=10)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- AES-CBC


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16), st.data())
def test_libcrypto_cbc_is_cryptographys(key: bytes, iv: bytes, data: st.DataObject) -> None:
    from credhelper.keys import cbc

    blocks = data.draw(st.integers(min_value=1, max_value=8))
    ciphertext = data.draw(st.binary(min_size=16 * blocks, max_size=16 * blocks))
    via_libcrypto = cbc._libcrypto(key, iv, ciphertext)
    assert via_libcrypto is not None, "the system libcrypto was not used"
    assert via_libcrypto == cbc._cryptography(key, iv, ciphertext)
    assert cbc.decrypt(key, iv, ciphertext) == via_libcrypto


def test_cbc_without_libcrypto_uses_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from credhelper.keys import cbc

    key, iv = bytes(range(16)), bytes(range(16, 32))
    plain = b"k" * 44 + b"\x04" * 4  # a base64 key and its padding
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    monkeypatch.setattr(cbc, "_SONAMES", ("libcrypto-that-does-not-exist.so",))
    assert cbc._libcrypto(key, iv, ciphertext) is None
    assert cbc.decrypt(key, iv, ciphertext) == plain
    # Odd sizes never reach libcrypto; cryptography refuses them as before.
    with pytest.raises(ValueError):
        cbc.decrypt(key, iv, ciphertext[:-1])
