"""Read one keyring secret straight from the Secret Service over D-Bus (the keyring hot path).

`keyring`'s SecretService backend reaches gnome-keyring through keyring ->
secretstorage -> jeepney: ~100 ms of imports and set-up for a `get` that needs
six small D-Bus calls. This module makes those calls itself with the standard
library (`_socket`, SASL EXTERNAL, the wire format of dbuswire.py) in two round
trips (the authentication and the first calls go out together, as sd-bus sends
them), and does exactly what that backend's get_password does when all is well:

    the "default" collection (its alias path, as secretstorage addresses it),
    which must be unlocked;
    SearchItems {"username": account, "service": service}, the first item;
    that item unlocked; GetSecret through a dh-ietf1024-sha256-aes128-cbc-pkcs7
    session (the same encrypted transfer secretstorage uses), AES-CBC decrypted
    by OpenSSL (credhelper.keys.cbc), unpadded as secretstorage does.

Whenever anything else happens (no session bus address we can use, a locked
collection or item that keyring would try to unlock with a prompt, a D-Bus
error, an odd reply, keyring configured through KEYRING_PROPERTY_* variables)
`Unsupported` is raised and the caller runs keyring itself, so every error and
edge case stays keyring's. Nothing is cached; the DH secret lives in this call.

The bus is not trusted: every length is checked against its message, signatures
are held to the specification's limits, each reply is read only as the type its
call returns, and TIMEOUT is a deadline for the whole exchange.
"""

from __future__ import annotations

import os

from credhelper.keys import dbuswire as _wire
from credhelper.keys.dbuswire import Unanswered as Unanswered
from credhelper.keys.dbuswire import Unsupported as Unsupported  # the callers' name for it

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BACKEND = "keyring.backends.SecretService.Keyring"
_BUS = "org.freedesktop.secrets"
_SERVICE_PATH = "/org/freedesktop/secrets"
_DEFAULT = "/org/freedesktop/secrets/aliases/default"  # the "default" collection
_IFACE = "org.freedesktop.Secret."
_PROPS = "org.freedesktop.DBus.Properties"
_DH = "dh-ietf1024-sha256-aes128-cbc-pkcs7"
# RFC 2409's Second Oakley Group (1024-bit MODP), the group the algorithm names.
_PRIME = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
    "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
    "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
    "FFFFFFFFFFFFFFFF",
    16,
)
_MAX_MESSAGE = 1 << 20  # the replies here are a few hundred bytes
_MAX_HEADER = 1 << 16  # a real header is a few names and numbers
TIMEOUT = 10.0  # seconds for the whole exchange; keyring itself would wait as long


def usable(backend_path: str | None) -> bool:
    """Whether the fast path applies: the recorded backend, no keyring properties set."""
    return backend_path == BACKEND and not any(
        name.startswith("KEYRING_PROPERTY_") for name in os.environ
    )


class _Bus:
    """One authenticated connection to the session bus; method calls, pipelined."""

    def __init__(self) -> None:
        """Connect and send the SASL EXTERNAL exchange, without waiting for its answer.

        AUTH and BEGIN go out at once and the calls follow them (as sd-bus does):
        `authenticated()` reads the bus's OK before the first reply, so a refusal
        still means Unsupported, and no round trip is spent on it.
        """
        import _socket
        from time import monotonic  # loaded at interpreter start-up: costs nothing

        self._clock = monotonic
        # TIMEOUT bounds the whole exchange, not each recv: a bus that drips a byte
        # at a time or floods signals would otherwise hold the get for ever.
        self._deadline = monotonic() + TIMEOUT
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self._sock.settimeout(TIMEOUT)
        self._serial = 0
        self._buf = b""
        # Serials of calls sent and not yet answered, and the replies that came
        # before their turn: at most one each, so a bus cannot grow this.
        self._awaited: set[int] = set()
        self._early: dict[int, tuple[bytes, dict[int, Any], int]] = {}
        try:
            self._sock.connect(_address(os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")))
        except BaseException:
            self._sock.close()
            raise
        uid = str(os.getuid()).encode("ascii").hex()
        self._sock.sendall(b"\0AUTH EXTERNAL " + uid.encode("ascii") + b"\r\nBEGIN\r\n")

    def authenticated(self) -> None:
        """The bus's answer to AUTH: OK, or Unsupported (the calls sent are then void)."""
        if not self._line().startswith(b"OK "):
            raise Unsupported("authentication refused")

    def close(self) -> None:
        self._sock.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > 4096:  # a SASL reply is one short line
                raise Unsupported("no SASL reply line")
            self._more()
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _left(self) -> float:
        left = self._deadline - self._clock()
        if left <= 0:
            raise Unanswered("the bus did not answer in time")
        return left

    def _more(self) -> None:
        self._sock.settimeout(self._left())
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise Unanswered("the bus did not answer in time") from None
        if not chunk:
            raise Unsupported("the bus closed the connection")
        self._buf += chunk

    def send(self, dest: str, path: str, iface: str, member: str, sig: str = "", *args: Any) -> int:
        self._serial += 1
        body = bytearray()
        for part, value in zip(_wire.types(sig), args, strict=True):
            _wire.put(body, part, value)
        fields = [(1, ("o", path)), (2, ("s", iface)), (3, ("s", member)), (6, ("s", dest))]
        if sig:
            fields.append((8, ("g", sig)))
        head = bytearray(b"l\x01\x00\x01")
        head += len(body).to_bytes(4, "little") + self._serial.to_bytes(4, "little")
        _wire.put(head, "a(yv)", fields)
        _wire.pad(head, 8)
        self._sock.settimeout(self._left())  # a bus that reads nothing blocks sendall
        self._sock.sendall(bytes(head + body))
        self._awaited.add(self._serial)
        return self._serial

    def reply(self, serial: int, signature: str) -> tuple[Any, ...]:
        """The body of the reply to `serial`, of type `signature`.

        Replies to other calls still awaited are kept for their turn (a bus may
        answer pipelined calls out of order); signals and anything else are skipped.
        """
        found = self._early.pop(serial, None)
        while found is None:
            message, header, end = self._message()
            kind, answers = message[1], header.get(5)
            if kind not in (2, 3) or answers is None or answers[0] != "u":
                continue  # a signal, or no reply at all
            if answers[1] == serial:
                found = message, header, end
            elif answers[1] in self._awaited and answers[1] not in self._early:
                self._early[answers[1]] = message, header, end
        self._awaited.discard(serial)
        message, header, end = found
        if message[1] == 3:
            raise Unsupported(f"D-Bus error {header.get(4, ('s', '?'))[1]}")
        # The body is read only as the type the call returns: a hostile reply
        # of another type never reaches the caller (bytes(an int) allocates).
        if header.get(8, ("g", "")) != ("g", signature):
            raise Unsupported("reply of an unexpected type")
        values, pos = [], end + (-end % 8)
        for part in _wire.types(signature):
            value, pos = _wire.get(message, pos, part)
            values.append(value)
        return tuple(values)

    def _message(self) -> tuple[bytes, dict[int, Any], int]:
        """The next whole message off the wire: (bytes, header fields, end of the header)."""
        self._left()  # a buffer full of signals is no way round the deadline
        while len(self._buf) < 16:
            self._more()
        if self._buf[:1] != b"l":
            raise Unsupported("big-endian bus")
        body_len = int.from_bytes(self._buf[4:8], "little")
        fields_len = int.from_bytes(self._buf[12:16], "little")
        total = 16 + fields_len + (-fields_len % 8) + body_len
        if total > _MAX_MESSAGE:
            raise Unsupported("oversized message")
        if fields_len > _MAX_HEADER:  # every message's header is parsed: keep it cheap
            raise Unsupported("oversized header")
        while len(self._buf) < total:
            self._more()
        message, self._buf = self._buf[:total], self._buf[total:]
        fields, end = _wire.get(message, 12, "a(yv)")
        if end != 16 + fields_len:
            raise Unsupported("malformed header")
        return message, dict(fields), end


def _address(spec: str) -> str:
    """The socket path of the first unix:path= or unix:abstract= bus address."""
    for address in spec.split(";"):
        kind, _, params = address.partition(":")
        if kind != "unix":
            continue
        for pair in params.split(","):
            key, _, value = pair.partition("=")
            if key in ("path", "abstract"):
                value = _unescape(value)
                return value if key == "path" else "\0" + value
    raise Unsupported("no usable DBUS_SESSION_BUS_ADDRESS")


def _unescape(value: str) -> str:
    parts = value.split("%")
    out = parts[0]
    for part in parts[1:]:
        out += chr(int(part[:2], 16)) + part[2:]
    return out


# ---------------------------------------------------------------- the exchange


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    from credhelper.crypto import _sha256  # CPython's SHA-256; hashlib would load OpenSSL

    key = key.ljust(64, b"\0")  # keys here are 32 bytes, never longer than the block
    inner = _sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return bytes(_sha256(bytes(b ^ 0x5C for b in key) + inner).digest())


def session_key(private: int, server_public: int) -> bytes:
    """The AES-128 key of a dh-ietf1024-sha256-aes128-cbc-pkcs7 session (HKDF-SHA256)."""
    if not 1 < server_public < _PRIME - 1:
        raise Unsupported("bad DH public key")
    shared = pow(server_public, private, _PRIME).to_bytes(128, "big")
    prk = _hmac_sha256(b"\0" * 32, shared)
    return _hmac_sha256(prk, b"\x01")[:16]


def _decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    from credhelper.keys import cbc

    if not data:
        raise Unsupported("empty secret")  # secretstorage fails on it: keyring reports
    padded = cbc.decrypt(key, iv, data)
    return padded[: -padded[-1]]  # as secretstorage unpads


def get_password(service: str, account: str) -> str | None:
    """keyring's SecretService get_password(service, account), or Unsupported."""
    bus = None
    try:
        bus = _Bus()
        return _exchange(bus, service, account)
    except Unsupported:
        raise
    except Exception as err:  # any surprise (a hostile or odd bus included): keyring decides
        raise Unsupported(type(err).__name__) from None
    finally:
        if bus is not None:
            bus.close()


def _exchange(bus: _Bus, service: str, account: str) -> str | None:
    """Two round trips: a session and the search, then the item's secret.

    The default collection is addressed by its alias path, as secretstorage's
    get_default_collection does, so the search needs no ReadAlias first.
    """
    dbus = "org.freedesktop.DBus"
    hello = bus.send(dbus, "/org/freedesktop/DBus", dbus, "Hello")
    # A 256-bit private exponent (secretstorage draws 1,024 bits): the best attack
    # on a short exponent costs 2**128, far above the ~2**80 of the 1,024-bit group
    # itself, and the two modular exponentiations cost a quarter as much. Computed
    # while the bus reads the authentication and Hello.
    private = int.from_bytes(os.urandom(32), "big") | (1 << 255)
    public = pow(2, private, _PRIME).to_bytes(128, "big")
    opened = bus.send(
        _BUS, _SERVICE_PATH, _IFACE + "Service", "OpenSession", "sv", _DH, ("ay", public)
    )
    locked = bus.send(_BUS, _DEFAULT, _PROPS, "Get", "ss", _IFACE + "Collection", "Locked")
    search = bus.send(
        _BUS, _DEFAULT, _IFACE + "Collection", "SearchItems", "a{ss}",
        {"username": account, "service": service},
    )  # fmt: skip
    from credhelper.keys import cbc

    cbc.prepare()  # while the bus and the keyring answer
    bus.authenticated()
    bus.reply(hello, "s")
    (output, session) = bus.reply(opened, "vo")
    if output[0] != "ay":
        raise Unsupported("no DH session")
    if bus.reply(locked, "v")[0] != ("b", False):
        raise Unsupported("collection locked")
    (items,) = bus.reply(search, "ao")
    if not items:
        return None
    item = items[0]
    locked = bus.send(_BUS, item, _PROPS, "Get", "ss", _IFACE + "Item", "Locked")
    secret = bus.send(_BUS, item, _IFACE + "Item", "GetSecret", "o", session)
    key = session_key(private, int.from_bytes(output[1], "big"))  # while the keyring answers
    if bus.reply(locked, "v")[0] != ("b", False):
        raise Unsupported("item locked")
    ((_session, iv, value, _content_type),) = bus.reply(secret, "(oayays)")
    bus.send(_BUS, session, _IFACE + "Session", "Close")
    return _decrypt(key, bytes(iv), bytes(value)).decode("utf-8")
