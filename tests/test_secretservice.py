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
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper.keys import dbuswire, secretservice
from tests.conftest import HELPER, Env, make_env, require_tool
from tests.keyring_session import secret_service

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- pure parts


def _sent(*call: object) -> bytes:
    out: list[bytes] = []

    class Sock:
        def sendall(self, data: bytes) -> None:
            out.append(data)

        def settimeout(self, value: float) -> None:
            pass

    bus = secretservice._Bus.__new__(secretservice._Bus)

    bus._awaited, bus._early = set(), {}
    bus._sock = Sock()  # type: ignore[assignment]
    bus._serial = 6
    bus._clock = lambda: 0.0
    bus._deadline = 1.0
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
    assert _read(reply, 9, "(oayays)") == body


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


def _fake_bus(tmp_path: Path, reply: bytes) -> tuple[str, socket.socket, threading.Thread]:
    """A unix socket that accepts SASL EXTERNAL, then answers every call with `reply`."""
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
                while conn.recv(1 << 16):  # swallow the calls until the client hangs up
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"unix:path={path}", server, thread


def _reply_header(body_len: int, signature: str, reply_serial: int = 1) -> bytes:
    """A METHOD_RETURN header for `reply_serial`, its fields marshalled in place.

    The fields array is built into the header buffer after its first 12 bytes, as
    `_Bus.send` does: D-Bus alignment is relative to the message, so a separately
    built array (aligned from 0) would put padding where the first field belongs.
    """
    head = bytearray(b"l\x02\x00\x01") + body_len.to_bytes(4, "little") + (1).to_bytes(4, "little")
    dbuswire.put(head, "a(yv)", [(5, ("u", reply_serial)), (8, ("g", signature))])
    dbuswire.pad(head, 8)
    return bytes(head)


def _reply_body(signature: str, body: bytes, reply_serial: int = 1) -> bytes:
    return _reply_header(len(body), signature, reply_serial) + body


def _read(message: bytes, serial: int = 1, signature: str = "s") -> tuple[object, ...]:
    """What `_Bus.reply` makes of `message` (no socket: the buffer already holds it)."""

    class Closed:
        def recv(self, size: int) -> bytes:
            return b""

        def settimeout(self, value: float) -> None:
            pass

    bus = secretservice._Bus.__new__(secretservice._Bus)

    bus._awaited, bus._early = set(), {}
    bus._buf = message
    bus._sock = Closed()  # type: ignore[assignment]
    bus._clock = lambda: 0.0
    bus._deadline = 1.0
    return bus.reply(serial, signature)


def test_replies_out_of_order_wait_for_their_turn_and_strays_are_dropped() -> None:
    """Pipelined calls: a reply that comes early is kept (only for a call still awaited)."""

    class Closed:
        def recv(self, size: int) -> bytes:
            return b""

        def settimeout(self, value: float) -> None:
            pass

    bus = secretservice._Bus.__new__(secretservice._Bus)
    bus._buf = (
        _reply_body("s", b"\x05\0\0\0stray\0", reply_serial=9)
        + _reply_body("s", b"\x03\0\0\0two\0", reply_serial=2)
        + _reply_body("s", b"\x03\0\0\0one\0", reply_serial=1)
    )
    bus._sock = Closed()  # type: ignore[assignment]
    bus._clock = lambda: 0.0
    bus._deadline = 1.0
    bus._awaited, bus._early = {1, 2}, {}
    assert bus.reply(1, "s") == ("one",)
    assert set(bus._early) == {2}  # the stray reply to serial 9 was not kept
    assert bus.reply(2, "s") == ("two",)
    assert bus._early == {} and bus._awaited == set()
    with pytest.raises(secretservice.Unsupported, match="closed"):
        bus.reply(9, "s")  # dropped for good: the bus has nothing more


def test_the_hostile_reply_fixture_is_well_formed_up_to_its_flaw() -> None:
    """Each hostile case below reaches the check it names, not an accident in the header."""
    assert _read(_reply_body("s", b"\x02\0\0\0ok\0")) == ("ok",)
    with pytest.raises(secretservice.Unsupported, match=r"^type z$"):
        _read(_reply_header(4, "z") + b"\0\0\0\0")


def _signal() -> bytes:
    """A well-formed SIGNAL without a body, such as a real bus sends unasked."""
    signal = bytearray(b"l\x04\x00\x01\0\0\0\0\x01\0\0\0")
    dbuswire.put(signal, "a(yv)", [(1, ("o", "/x")), (2, ("s", "a.b")), (3, ("s", "C"))])
    dbuswire.pad(signal, 8)
    return bytes(signal)


def _signal_with_empty_struct_array_field() -> bytes:
    """An unsolicited SIGNAL whose header holds an unknown field (200) of type a() .

    The reader parses every message's header before it looks at the reply serial.
    """
    fields = bytearray()
    fields += bytes((200,))  # field code, at offset 16 (8-aligned)
    fields += b"\x03a()\x00"  # variant signature "a()"                -> offset 22
    fields += b"\x00\x00"  # pad to 4                                  -> offset 24
    fields += (8).to_bytes(4, "little")  # array of 8 bytes             -> offset 28
    fields += b"\x00" * 4  # pad to 8 (struct alignment)               -> offset 32
    fields += b"\x00" * 8  # the array's 8 bytes                       -> offset 40
    head = bytearray(b"l\x04\x00\x01") + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    head += len(fields).to_bytes(4, "little") + fields
    dbuswire.pad(head, 8)
    return bytes(head)


_NESTED = "(" * 40 + "y" + ")" * 40


@pytest.mark.parametrize(
    ("message", "signature", "reason"),
    [
        pytest.param(_reply_body("au", (0x0FFFFFFF).to_bytes(4, "little") + b"\0" * 4), "au",
                     "runs past the end", id="array-longer-than-its-message"),
        pytest.param(_signal_with_empty_struct_array_field(), "s", "empty struct",
                     id="zero-width-array-element-in-a-signal"),
        pytest.param(_reply_body("s", b"\xff\xff\xff\x7fabcd"), "s", "runs past the end",
                     id="string-longer-than-its-message"),
        pytest.param(_reply_body("o", b"\x04\0\0\0/abc"), "o", "runs past the end",
                     id="object-path-without-room-for-its-nul"),
        pytest.param(_reply_body("s", b"\x02\0\0\0abc\0"), "s", "unterminated",
                     id="string-not-nul-terminated"),
        pytest.param(_reply_body("v", b"\x09ay\0"), "v", "runs past the end",
                     id="signature-longer-than-its-message"),
        pytest.param(_reply_body("v", b"\x02ss\0\0\0\0\0"), "v", "unexpected type",
                     id="variant-of-two-types"),
        pytest.param(_reply_body("v", b"\x03(y)\0\0\0\0\0\0\0\0\0"), "v", "unexpected type",
                     id="variant-of-a-struct"),
        pytest.param(b"l\x02\0\x01\0\0\0\0\x01\0\0\0" + (70000).to_bytes(4, "little"), "s",
                     "oversized header", id="a-header-of-70000-bytes"),
        pytest.param(_reply_header(8, _NESTED) + b"\0" * 8, "s", "nested too deeply",
                     id="forty-nested-structs"),
        pytest.param(_reply_header(8, "a" * 33 + "y") + b"\0" * 8, "s", "nested too deeply",
                     id="thirty-three-nested-arrays"),
        pytest.param(_reply_body("u", b"\0\0\0\0"), "(oayays)", "unexpected type",
                     id="an-int-where-the-secret-struct-belongs"),
        pytest.param(_reply_body("", b""), "o", "unexpected type", id="no-body-where-one-is-due"),
        pytest.param(_reply_header(4, "{sv}") + b"\0" * 4, "s", "bad dict entry",
                     id="dict-entry-outside-an-array"),
    ],
)  # fmt: skip
def test_a_malformed_message_is_refused_for_its_own_flaw(
    message: bytes, signature: str, reason: str
) -> None:
    with pytest.raises(secretservice.Unsupported, match=reason):
        _read(message, signature=signature)


def test_a_sasl_reply_without_an_end_of_line_is_refused() -> None:
    """An endless SASL "line" is refused after 4 KiB, not buffered until the deadline."""

    class Endless:
        def recv(self, size: int) -> bytes:
            return b"OK " + b"0" * 1000

        def settimeout(self, value: float) -> None:
            pass

    bus = secretservice._Bus.__new__(secretservice._Bus)

    bus._awaited, bus._early = set(), {}
    bus._buf = b""
    bus._sock = Endless()  # type: ignore[assignment]
    bus._clock = lambda: 0.0
    bus._deadline = 1.0
    with pytest.raises(secretservice.Unsupported, match="no SASL reply line"):
        bus._line()
    assert len(bus._buf) < 8192


def test_a_buffer_full_of_signals_does_not_outlast_the_deadline() -> None:
    """Messages already received are still read against the deadline, not past it."""
    signals = _signal()
    bus = secretservice._Bus.__new__(secretservice._Bus)
    bus._awaited, bus._early = set(), {}
    bus._buf = signals * 100 + _reply_body("s", b"\x02\0\0\0ok\0")
    bus._clock = lambda: 5.0
    bus._deadline = 4.0
    with pytest.raises(secretservice.Unsupported, match="did not answer in time"):
        bus.reply(1, "s")
    bus._deadline = 6.0
    assert bus.reply(1, "s") == ("ok",)


def test_the_spec_limits_themselves_are_accepted() -> None:
    """32 nested arrays and 32 nested structs are legal D-Bus; one more of either is not."""
    deep = "a" * 32 + "y"
    assert dbuswire.signature(deep) == [deep]
    structs = "(" * 32 + "y" + ")" * 32
    assert dbuswire.signature(structs) == [structs]
    assert dbuswire.get(b"\0\0\0\0", 0, deep) == ([], 4)
    for bad in ("a" * 33 + "y", "(" * 33 + "y" + ")" * 33, "()", "a()", "(y", "a", "a{vs}"):
        with pytest.raises(secretservice.Unsupported):
            dbuswire.signature(bad)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["s", "o", "g", "v", "ao", "ay", "au", "(oayays)", "a{ss}", "a(yv)", "vo"]),
    st.binary(max_size=96),
)
def test_any_bytes_parse_or_are_refused(signature: str, data: bytes) -> None:
    """Arbitrary bytes under any type the module reads: a value inside the data, or Unsupported."""
    try:
        pos = 0
        for part in dbuswire.types(signature):
            _value, pos = dbuswire.get(data, pos, part)
    except secretservice.Unsupported:
        return
    assert pos <= len(data)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (_reply_header(1 << 30, "s"), "oversized message"),  # a 1 GiB body announced
        (_reply_header(8, _NESTED) + b"\0" * 8, "nested too deeply"),
        (_reply_header(8, "s") + b"\xff\xff\xff\x7fabcd", "runs past the end"),
        (_reply_header(4, "z") + b"\0\0\0\0", r"^type z$"),  # an unknown type
        (_reply_body("au", b"\0\0\0\0"), "unexpected type"),  # Hello answers a string
        (b"B" + b"\0" * 15, "big-endian bus"),
        (b"", "did not answer in time"),  # silence
    ],
)
def test_a_hostile_bus_is_left_to_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reply: bytes, reason: str
) -> None:
    address, server, thread = _fake_bus(tmp_path, reply)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setattr(secretservice, "TIMEOUT", 2.0)
    try:
        with pytest.raises(secretservice.Unsupported, match=reason):
            secretservice.get_password("credhelper", "acct")
    finally:
        server.close()
        thread.join(timeout=10)


Feed = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def _hostile_bus(directory: Path, feed: Feed) -> Iterator[str]:
    """A unix socket that passes SASL EXTERNAL, then runs `feed` until told to stop."""
    path = str(directory / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(30)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            with contextlib.suppress(OSError):
                while b"BEGIN\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    if b"AUTH" in chunk:
                        conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                    data += chunk
                feed(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix:path={path}"
    finally:
        stop.set()
        server.close()
        thread.join(timeout=10)


def _send_then_listen(payload: bytes) -> Feed:
    def feed(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(payload)
        conn.settimeout(0.5)
        while not stop.is_set():  # keep the connection open, swallow the calls
            with contextlib.suppress(TimeoutError):
                if not conn.recv(4096):
                    return

    return feed


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    """A valid-looking header announcing a 1 KiB body, then one byte of it every 50 ms."""
    conn.sendall(_reply_header(1024, "s"))
    while not stop.wait(0.05):
        conn.sendall(b"\x01")


def _flood(conn: socket.socket, stop: threading.Event) -> None:
    """Signals, as fast as the socket takes them, and never the reply."""
    burst = _signal() * 64
    while not stop.is_set():
        conn.sendall(burst)


# The client, in its own process: a hang can be killed, memory is capped (2 GiB)
# so a runaway list cannot hurt the machine, and the fallback is visible.
_CLIENT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from credhelper.keys import dbuswire, secretservice
secretservice.TIMEOUT = 2.0
try:
    secretservice.get_password("credhelper", "aeskey:/x")
except secretservice.Unsupported as err:
    print("unsupported: keyring decides:", err)
else:
    print("returned")
"""
# The exchange gives up after TIMEOUT (2 s) at most; this only bounds a hang.
_HANG = 30.0


@pytest.mark.parametrize(
    ("feed", "reason"),
    [
        # "au" announcing 0x0fffffff bytes of uint32 in an 8-byte body: 67 M turns
        # of the element loop, each appending a 0 (the message itself is 72 bytes).
        pytest.param(
            _send_then_listen(_reply_body("au", (0x0FFFFFFF).to_bytes(4, "little") + b"\0" * 4)),
            "reply of an unexpected type",
            id="array-longer-than-its-message",
        ),
        # "a()" : the empty struct consumes no bytes, so an unchecked loop never ends.
        pytest.param(
            _send_then_listen(_signal_with_empty_struct_array_field()),
            "empty struct",
            id="zero-width-array-element",
        ),
        pytest.param(_drip, "did not answer in time", id="a-bus-that-drips-bytes"),
        pytest.param(_flood, "did not answer in time", id="a-bus-that-floods-signals"),
    ],
)
def test_hostile_bus_is_left_to_keyring_promptly(tmp_path: Path, feed: Feed, reason: str) -> None:
    work = tmp_path / "w"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "PYTHONPATH": str(ROOT),
    }
    with _hostile_bus(work, feed) as address:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _CLIENT],
                env=env, cwd=work, capture_output=True, timeout=_HANG, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"secretservice.get_password still busy with the hostile bus after {_HANG:.0f} s "
                "(its TIMEOUT is 2 s for the whole exchange): no Unsupported -> keyring fallback"
            )
    said = proc.stdout.decode().strip()
    assert said.startswith("unsupported: keyring decides: "), proc.stderr.decode()
    assert reason in said


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
    monkeypatch.setattr(cbc, "_loaded", [])  # as in a fresh process: nothing loaded yet
    assert cbc._libcrypto(key, iv, ciphertext) is None
    assert cbc._loaded == [None]  # looked for once, not again at every call
    assert cbc.decrypt(key, iv, ciphertext) == plain
    # Odd sizes never reach libcrypto; cryptography refuses them as before.
    with pytest.raises(ValueError):
        cbc.decrypt(key, iv, ciphertext[:-1])


# ---------------------------------------------------------------- a bus that never answers

_BOUND = 45.0  # the fast path gives up after 10 s; 45 s only bounds a hang


@contextlib.contextmanager
def _silent_bus(directory: Path) -> Iterator[str]:
    path = str(directory / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=swallow, args=(conn,), daemon=True).start()

    def swallow(conn: socket.socket) -> None:
        conn.settimeout(0.2)
        authed = False
        data = b""
        while not stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            if not authed and b"AUTH" in data:
                authed = True
                with contextlib.suppress(OSError):
                    conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
            data = data[-64:]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix:path={path}"
    finally:
        stop.set()
        thread.join(timeout=10)
        for conn in conns:
            conn.close()
        server.close()


def test_get_with_a_silent_session_bus_gives_up_in_one_line(tmp_path: Path) -> None:
    """A bus that says OK to SASL, then swallows every call (a hung gnome-keyring or
    dbus-daemon): `get` gives up at the 10 s deadline instead of handing over to
    keyring, whose D-Bus calls have no deadline (docker pull would hang for ever)."""
    env = make_env(tmp_path / "u")
    env.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = {
        "version": 2,
        "keyProvider": {"name": "keyring", "backend": "keyring.backends.SecretService.Keyring"},
        "auths": {"a.example": {"sealed": "A" * 40, "keyId": "0" * 16, "v": 2}},
    }
    path = env.home / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(store, f, indent=1)
    with _silent_bus(tmp_path) as address:
        child_env = {**env.env, "DBUS_SESSION_BUS_ADDRESS": address}
        child_env.pop("CREDHELPER_KEY_PROVIDER", None)
        proc = subprocess.Popen(
            [HELPER, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(b"a.example", timeout=_BOUND)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate(timeout=10)
            raise AssertionError(
                f"`get` still running after {_BOUND:.0f} s against a bus that never answers "
                "(fast path deadline 10 s, then the keyring fallback waits for ever)"
            ) from None
    # The protocol's one error line, on stdout as docker reads it; nothing else.
    assert proc.returncode == 1
    (line,) = out.decode().splitlines()
    assert "did not answer within 10 s" in line and "gnome-keyring-daemon" in line
    assert err == b""
