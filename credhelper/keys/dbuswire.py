"""The D-Bus wire format, little-endian: marshal a call's arguments, read a reply's.

Only what the Secret Service exchange (secretservice.py) sends and receives, and
read as if the bus were hostile: every length is checked against its message,
signatures are held to the specification's nesting limits, a variant may hold
only the few types that exchange ever reads, and nothing malformed is walked.
Anything else raises `Unsupported`, which sends the caller back to keyring.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Unsupported(Exception):
    """Not the plain case: let keyring handle it (never shown to a user)."""


class Unanswered(Unsupported):
    """The bus took the connection but did not answer in time.

    Not handed to keyring: its D-Bus calls have no deadline, so a hung
    gnome-keyring or dbus-daemon would keep `get` (and docker) waiting for ever.
    """


def pad(buf: bytearray, align: int) -> None:
    buf.extend(b"\0" * (-len(buf) % align))


def types(sig: str) -> list[str]:
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


def put(buf: bytearray, sig: str, value: Any) -> None:
    c = sig[0]
    pad(buf, _ALIGN[c])
    if c in _INTS:
        buf.extend(int(value).to_bytes(_INTS[c], "little", signed=c in "nix"))
    elif c in "so":
        data = value.encode("utf-8")
        buf.extend(len(data).to_bytes(4, "little") + data + b"\0")
    elif c == "g":
        buf.extend(bytes((len(value),)) + value.encode("ascii") + b"\0")
    elif c == "v":
        inner, item = value
        put(buf, "g", inner)
        put(buf, inner, item)
    elif c == "a":
        at = len(buf)
        buf.extend(b"\0\0\0\0")
        pad(buf, _ALIGN[sig[1]])
        start = len(buf)
        items = value.items() if sig[1] == "{" else value
        for item in items:
            put(buf, sig[1:], item)
        buf[at : at + 4] = (len(buf) - start).to_bytes(4, "little")
    elif c in "({":
        for part, item in zip(types(sig[1:-1]), value, strict=True):
            put(buf, part, item)
    else:
        raise Unsupported(f"type {c}")


def _take(data: bytes, pos: int, size: int) -> int:
    """The end of `size` bytes at `pos`, which must lie inside the message."""
    end = pos + size
    if end > len(data):
        raise Unsupported("a value runs past the end of the message")
    return end


def get(data: bytes, pos: int, sig: str, depth: int = 0) -> tuple[Any, int]:
    """The value of complete type `sig` at `pos` (aligned first), and where it ends.

    `sig` is well-formed (checked by `signature` when read off the wire); every
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
            signature(text)
        return text, end
    if depth >= _MAX_DEPTH:
        raise Unsupported("value nested too deeply")
    if c == "v":
        inner, pos = get(data, pos, "g")
        if inner not in _VARIANTS:
            raise Unsupported("variant of an unexpected type")
        value, pos = get(data, pos, inner, depth + 1)
        return (inner, value), pos
    if c == "a":
        size = int.from_bytes(data[pos : _take(data, pos, 4)], "little")
        pos += 4
        pos += -pos % _ALIGN[sig[1]]
        end, items = _take(data, pos, size), []
        if sig[1] == "y":
            return data[pos:end], end
        while pos < end:
            item, after = get(data, pos, sig[1:], depth + 1)
            if after <= pos:  # never: every well-formed element has a width
                raise Unsupported("array element of no width")
            items.append(item)
            pos = after
        if pos != end:
            raise Unsupported("array elements overrun the array")
        return (dict(items) if sig[1] == "{" else items), pos
    if c in "({":
        fields = []
        for part in types(sig[1:-1]):
            item, pos = get(data, pos, part, depth + 1)
            fields.append(item)
        return tuple(fields), pos
    raise Unsupported(f"type {c}")


def signature(sig: str) -> list[str]:
    """The complete types of a signature read off the wire, or Unsupported.

    Every signature the parser follows passes through here first, so `get` only
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
