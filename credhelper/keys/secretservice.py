"""Read one keyring secret straight from the Secret Service over D-Bus (the keyring hot path).

`keyring`'s SecretService backend reaches gnome-keyring through keyring ->
secretstorage -> jeepney: ~100 ms of imports and set-up for a `get` that needs
six small D-Bus calls. This module makes those calls itself with the standard
library (`_socket`, the D-Bus wire format, SASL EXTERNAL) in three round trips,
and does exactly what that backend's get_password does when all is well:

    the "default" collection (ReadAlias), which must be unlocked;
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BACKEND = "keyring.backends.SecretService.Keyring"
_BUS = "org.freedesktop.secrets"
_SERVICE_PATH = "/org/freedesktop/secrets"
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


class Unsupported(Exception):
    """Not the plain case: let keyring handle it (never shown to a user)."""


def usable(backend_path: str | None) -> bool:
    """Whether the fast path applies: the recorded backend, no keyring properties set."""
    return backend_path == BACKEND and not any(
        name.startswith("KEYRING_PROPERTY_") for name in os.environ
    )


# ---------------------------------------------------------------- wire format


def _pad(buf: bytearray, align: int) -> None:
    buf.extend(b"\0" * (-len(buf) % align))


def _types(sig: str) -> list[str]:
    """Split a signature into its complete types."""
    out, i = [], 0
    while i < len(sig):
        j = _end_of(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _end_of(sig: str, i: int) -> int:
    c = sig[i]
    if c == "a":
        return _end_of(sig, i + 1)
    if c in "({":
        depth, j = 0, i
        while True:
            if sig[j] in "({":
                depth += 1
            elif sig[j] in ")}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
    return i + 1


_ALIGN = {"y": 1, "g": 1, "v": 1, "n": 2, "q": 2, "b": 4, "i": 4, "u": 4, "h": 4}
_ALIGN.update({"s": 4, "o": 4, "a": 4, "x": 8, "t": 8, "d": 8, "(": 8, "{": 8})
_INTS = {"y": 1, "n": 2, "q": 2, "b": 4, "i": 4, "u": 4, "h": 4, "x": 8, "t": 8}
_BASIC = "ybnqiuxtdsogh"
_MAX_ARRAYS = _MAX_STRUCTS = 32  # the D-Bus specification's nesting limits
_MAX_DEPTH = 64  # containers and variants together, as the specification bounds them
# What a variant here ever holds: header fields (o, s, u, g), Locked (b), the DH
# output (ay). Anything else is refused before it is walked: a 1 MiB message of
# deeply nested structs would otherwise cost seconds of parsing past the deadline.
_VARIANTS = frozenset(("b", "ay", "o", "s", "u", "g"))


def _put(buf: bytearray, sig: str, value: Any) -> None:
    c = sig[0]
    _pad(buf, _ALIGN[c])
    if c in _INTS:
        buf.extend(int(value).to_bytes(_INTS[c], "little", signed=c in "nix"))
    elif c in "so":
        data = value.encode("utf-8")
        buf.extend(len(data).to_bytes(4, "little") + data + b"\0")
    elif c == "g":
        buf.extend(bytes((len(value),)) + value.encode("ascii") + b"\0")
    elif c == "v":
        inner, item = value
        _put(buf, "g", inner)
        _put(buf, inner, item)
    elif c == "a":
        at = len(buf)
        buf.extend(b"\0\0\0\0")
        _pad(buf, _ALIGN[sig[1]])
        start = len(buf)
        items = value.items() if sig[1] == "{" else value
        for item in items:
            _put(buf, sig[1:], item)
        buf[at : at + 4] = (len(buf) - start).to_bytes(4, "little")
    elif c in "({":
        for part, item in zip(_types(sig[1:-1]), value, strict=True):
            _put(buf, part, item)
    else:
        raise Unsupported(f"type {c}")


def _take(data: bytes, pos: int, size: int) -> int:
    """The end of `size` bytes at `pos`, which must lie inside the message."""
    end = pos + size
    if end > len(data):
        raise Unsupported("a value runs past the end of the message")
    return end


def _get(data: bytes, pos: int, sig: str, depth: int = 0) -> tuple[Any, int]:
    """The value of complete type `sig` at `pos` (aligned first), and where it ends.

    `sig` is well-formed (checked by `_signature` when read off the wire); every
    length is checked against the message, so a hostile bus gets Unsupported.
    """
    c = sig[0]
    pos += -pos % _ALIGN.get(c, 1)
    if c in _INTS:
        end = _take(data, pos, _INTS[c])
        value = int.from_bytes(data[pos:end], "little", signed=c in "nix")
        return (bool(value) if c == "b" else value), end
    if c in "sog":
        head = 1 if c == "g" else 4
        size = int.from_bytes(data[pos : _take(data, pos, head)], "little")
        pos += head
        end = _take(data, pos, size + 1)  # the text and its nul
        if data[end - 1] != 0:
            raise Unsupported("unterminated string")
        try:
            text = data[pos : end - 1].decode("utf-8")
        except UnicodeDecodeError:
            raise Unsupported("string not UTF-8") from None
        if c == "g":
            _signature(text)
        return text, end
    if depth >= _MAX_DEPTH:
        raise Unsupported("value nested too deeply")
    if c == "v":
        inner, pos = _get(data, pos, "g")
        if inner not in _VARIANTS:
            raise Unsupported("variant of an unexpected type")
        value, pos = _get(data, pos, inner, depth + 1)
        return (inner, value), pos
    if c == "a":
        size = int.from_bytes(data[pos : _take(data, pos, 4)], "little")
        pos += 4
        pos += -pos % _ALIGN[sig[1]]
        end, items = _take(data, pos, size), []
        if sig[1] == "y":
            return data[pos:end], end
        while pos < end:
            item, after = _get(data, pos, sig[1:], depth + 1)
            if after <= pos:  # never: every well-formed element has a width
                raise Unsupported("array element of no width")
            items.append(item)
            pos = after
        if pos != end:
            raise Unsupported("array elements overrun the array")
        return (dict(items) if sig[1] == "{" else items), pos
    if c in "({":
        fields = []
        for part in _types(sig[1:-1]):
            item, pos = _get(data, pos, part, depth + 1)
            fields.append(item)
        return tuple(fields), pos
    raise Unsupported(f"type {c}")


def _signature(sig: str) -> list[str]:
    """The complete types of a signature read off the wire, or Unsupported.

    Every signature the parser follows passes through here first, so `_get` only
    ever walks well-formed types: no empty struct (it would never advance an
    array loop), no nesting deeper than the specification allows.
    """
    out, i = [], 0
    while i < len(sig):
        j = _complete(sig, i, 0, 0)
        out.append(sig[i:j])
        i = j
    return out


def _complete(sig: str, i: int, arrays: int, structs: int) -> int:
    """The end of the complete type that starts at sig[i]."""
    if i >= len(sig):
        raise Unsupported("truncated signature")
    c = sig[i]
    if c in _BASIC or c == "v":
        return i + 1
    if c == "a":
        if arrays >= _MAX_ARRAYS:
            raise Unsupported("signature nested too deeply")
        return _complete(sig, i + 1, arrays + 1, structs)
    if c not in "({" or structs >= _MAX_STRUCTS:
        raise Unsupported("signature nested too deeply" if c in "({" else f"type {c}")
    if c == "{":
        # A dict entry: only as an array's element, a basic key and one value.
        if i == 0 or sig[i - 1] != "a" or i + 1 >= len(sig) or sig[i + 1] not in _BASIC:
            raise Unsupported("bad dict entry")
        j = _complete(sig, i + 2, arrays, structs + 1)
        if j >= len(sig) or sig[j] != "}":
            raise Unsupported("bad dict entry")
        return j + 1
    j = i + 1
    if j < len(sig) and sig[j] == ")":
        raise Unsupported("empty struct")
    while j < len(sig) and sig[j] != ")":
        j = _complete(sig, j, arrays, structs + 1)
    if j >= len(sig):
        raise Unsupported("truncated signature")
    return j + 1


class _Bus:
    """One authenticated connection to the session bus; method calls, pipelined."""

    def __init__(self) -> None:
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
        try:
            self._sock.connect(_address(os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")))
        except BaseException:
            self._sock.close()
            raise
        uid = str(os.getuid()).encode("ascii").hex()
        self._sock.sendall(b"\0AUTH EXTERNAL " + uid.encode("ascii") + b"\r\n")
        line = self._line()
        if not line.startswith(b"OK "):
            raise Unsupported("authentication refused")
        self._sock.sendall(b"BEGIN\r\n")

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
            raise Unsupported("the bus did not answer in time")
        return left

    def _more(self) -> None:
        self._sock.settimeout(self._left())
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise Unsupported("the bus did not answer in time") from None
        if not chunk:
            raise Unsupported("the bus closed the connection")
        self._buf += chunk

    def send(self, dest: str, path: str, iface: str, member: str, sig: str = "", *args: Any) -> int:
        self._serial += 1
        body = bytearray()
        for part, value in zip(_types(sig), args, strict=True):
            _put(body, part, value)
        fields = [(1, ("o", path)), (2, ("s", iface)), (3, ("s", member)), (6, ("s", dest))]
        if sig:
            fields.append((8, ("g", sig)))
        head = bytearray(b"l\x01\x00\x01")
        head += len(body).to_bytes(4, "little") + self._serial.to_bytes(4, "little")
        _put(head, "a(yv)", fields)
        _pad(head, 8)
        self._sock.settimeout(self._left())  # a bus that reads nothing blocks sendall
        self._sock.sendall(bytes(head + body))
        return self._serial

    def reply(self, serial: int, signature: str) -> tuple[Any, ...]:
        """The body of the reply to `serial`, of type `signature` (others are skipped)."""
        while True:
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
            fields, end = _get(message, 12, "a(yv)")
            if end != 16 + fields_len:
                raise Unsupported("malformed header")
            header = dict(fields)
            kind = message[1]
            if kind not in (2, 3) or header.get(5) != ("u", serial):
                continue  # a signal, or the reply to another call
            if kind == 3:
                raise Unsupported(f"D-Bus error {header.get(4, ('s', '?'))[1]}")
            # The body is read only as the type the call returns: a hostile reply
            # of another type never reaches the caller (bytes(an int) allocates).
            if header.get(8, ("g", "")) != ("g", signature):
                raise Unsupported("reply of an unexpected type")
            values, pos = [], end + (-end % 8)
            for part in _types(signature):
                value, pos = _get(message, pos, part)
                values.append(value)
            return tuple(values)


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
    # A 256-bit private exponent (secretstorage draws 1,024 bits): the best attack
    # on a short exponent costs 2**128, far above the ~2**80 of the 1,024-bit group
    # itself, and the two modular exponentiations cost a quarter as much.
    private = int.from_bytes(os.urandom(32), "big") | (1 << 255)
    public = pow(2, private, _PRIME).to_bytes(128, "big")
    svc = (_BUS, _SERVICE_PATH, _IFACE + "Service")
    dbus = "org.freedesktop.DBus"
    hello = bus.send(dbus, "/org/freedesktop/DBus", dbus, "Hello")
    alias = bus.send(*svc, "ReadAlias", "s", "default")
    opened = bus.send(*svc, "OpenSession", "sv", _DH, ("ay", public))
    bus.reply(hello, "s")
    (collection,) = bus.reply(alias, "o")
    (output, session) = bus.reply(opened, "vo")
    if collection == "/" or output[0] != "ay":
        raise Unsupported("no default collection, or no DH session")
    key = session_key(private, int.from_bytes(output[1], "big"))
    locked = bus.send(_BUS, collection, _PROPS, "Get", "ss", _IFACE + "Collection", "Locked")
    search = bus.send(
        _BUS, collection, _IFACE + "Collection", "SearchItems", "a{ss}",
        {"username": account, "service": service},
    )  # fmt: skip
    if bus.reply(locked, "v")[0] != ("b", False):
        raise Unsupported("collection locked")
    (items,) = bus.reply(search, "ao")
    if not items:
        return None
    item = items[0]
    locked = bus.send(_BUS, item, _PROPS, "Get", "ss", _IFACE + "Item", "Locked")
    secret = bus.send(_BUS, item, _IFACE + "Item", "GetSecret", "o", session)
    if bus.reply(locked, "v")[0] != ("b", False):
        raise Unsupported("item locked")
    ((_session, iv, value, _content_type),) = bus.reply(secret, "(oayays)")
    bus.send(_BUS, session, _IFACE + "Session", "Close")
    return _decrypt(key, bytes(iv), bytes(value)).decode("utf-8")
