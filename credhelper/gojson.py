"""Go's encoding/json, as far as credhelper must match it byte for byte.

docker, docker-py and containers/image talk to helpers written in Go; scripts and
users compare the strings those helpers print. This module owns Go's side of JSON:
the encoder's escaping (get/list output), the decoder's view of an object (keys in
order, duplicates kept), its type names and, ported from encoding/json/scanner.go,
its syntax-error texts. It is on the `get` hot path: standard library only.
"""

from __future__ import annotations

from credhelper import fastjson as json  # json.dumps without importing json (and re)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` and `re` cost milliseconds on the hot path
    import re
    from typing import Any, NoReturn


def _go_quote_char(byte: int) -> str:
    """Go's json quoteChar: the byte as a rune, quoted like strconv.Quote."""
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    short = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    ch = chr(byte)  # Go converts the byte, not a decoded rune: 0xC3 is 'Ã'
    if byte in short:
        body = short[byte]
    elif byte == 0x5C:
        body = "\\\\"
    elif byte < 0x20 or byte == 0x7F:
        body = f"\\x{byte:02x}"
    elif ch.isprintable():
        body = ch
    else:
        body = f"\\u{byte:04x}"
    return f"'{body}'"


_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_JSON_SPACE = b" \t\r\n"
_MAX_DEPTH = 10000


def go_syntax_error(data: bytes) -> str | None:
    """The error Go's json.Decoder gives for the first value of `data` (None: Go accepts it).

    A port of the state machine of Go's encoding/json/scanner.go, run only when
    Python's parser has already refused the input, so the wording and the
    offending character are Go's (`invalid character 'x' in numeric literal`,
    `unexpected EOF`, ...): scripts compare these strings.
    """
    scanner = _GoScanner(data)
    try:
        if scanner.skip_space(0) >= len(data):
            return "EOF"
        scanner.value(0, 0)
    except _GoSyntaxError as err:
        return str(err)
    except RecursionError:
        # Nesting deeper than Python's stack allows (Go's limit is 10000).
        return "exceeded max depth"
    return None  # Go's scanner accepts it (Python refused it for its own reasons)


class _GoSyntaxError(Exception):
    """The first error Go's scanner reports; the message is Go's wording."""


class _GoScanner:
    """Go's JSON scanner over `data`: each method takes a position, returns the next one."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def fail(self, pos: int, context: str) -> NoReturn:
        raise _GoSyntaxError(f"invalid character {_go_quote_char(self.data[pos])} {context}")

    def skip_space(self, pos: int) -> int:
        while pos < self.n and self.data[pos] in _JSON_SPACE:
            pos += 1
        return pos

    def need(self, pos: int) -> int:
        if pos >= self.n:
            raise _GoSyntaxError("unexpected EOF")
        return self.data[pos]

    def digits(self, pos: int) -> int:
        while pos < self.n and self.data[pos] in _DIGITS:
            pos += 1
        return pos

    def string(self, pos: int) -> int:  # pos is just after the opening quote
        while True:
            c = self.need(pos)
            if c == 0x22:
                return pos + 1
            if c == 0x5C:
                e = self.need(pos + 1)
                if e == ord("u"):
                    for k in range(pos + 2, pos + 6):
                        if self.need(k) not in _HEX:
                            self.fail(k, "in \\u hexadecimal character escape")
                    pos += 6
                    continue
                if e not in b'bfnrt\\/"':
                    self.fail(pos + 1, "in string escape code")
                pos += 2
                continue
            if c < 0x20:
                self.fail(pos, "in string literal")
            pos += 1

    def number(self, pos: int) -> int:
        data = self.data
        if data[pos] == ord("-"):
            pos += 1
            if self.need(pos) not in _DIGITS:
                self.fail(pos, "in numeric literal")
        pos = pos + 1 if data[pos] == ord("0") else self.digits(pos)
        if pos < self.n and data[pos] == ord("."):
            pos += 1
            if self.need(pos) not in _DIGITS:
                self.fail(pos, "after decimal point in numeric literal")
            pos = self.digits(pos)
        if pos < self.n and data[pos] in b"eE":
            pos += 1
            if self.need(pos) in b"+-":
                pos += 1
            if self.need(pos) not in _DIGITS:
                self.fail(pos, "in exponent of numeric literal")
            pos = self.digits(pos)
        return pos

    def value(self, pos: int, depth: int) -> int:
        pos = self.skip_space(pos)
        c = self.need(pos)
        if c in b"{[":
            if depth >= _MAX_DEPTH:
                raise _GoSyntaxError("exceeded max depth")
            return self.container(pos, depth + 1)
        if c == 0x22:
            return self.string(pos + 1)
        if c == ord("-") or c in _DIGITS:
            return self.number(pos)
        word = _LITERALS.get(c)
        if word is None:
            self.fail(pos, "looking for beginning of value")
        for k in range(1, len(word)):
            if self.need(pos + k) != word[k]:
                self.fail(pos + k, f"in literal {word.decode()} (expecting {chr(word[k])!r})")
        return pos + len(word)

    def container(self, pos: int, depth: int) -> int:
        is_object = self.data[pos] == ord("{")
        close = ord("}") if is_object else ord("]")
        pos = self.skip_space(pos + 1)
        if self.need(pos) == close:
            return pos + 1
        while True:
            if is_object:
                pos = self.skip_space(pos)
                if self.need(pos) != 0x22:
                    self.fail(pos, "looking for beginning of object key string")
                pos = self.skip_space(self.string(pos + 1))
                if self.need(pos) != ord(":"):
                    self.fail(pos, "after object key")
                pos += 1
            pos = self.skip_space(self.value(pos, depth))
            c = self.need(pos)
            if c == close:
                return pos + 1
            if c != ord(","):
                self.fail(
                    pos, "after object key:value pair" if is_object else "after array element"
                )
            pos += 1


class ObjectPairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in order, duplicates kept (Go's view)."""


def go_kind(value: Any) -> str:
    """The name Go's UnmarshalTypeError gives the JSON type of a decoded value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and not isinstance(value, ObjectPairs):
        return "array"
    return "object"


def reject_constant(name: str) -> NoReturn:
    # Python accepts NaN/Infinity; Go's decoder does not.
    raise ValueError(name)


def _short_escape(match: re.Match[str]) -> str:
    return {"b": "\\u0008", "f": "\\u000c"}.get(match[1], match[0])


def go_json(value: Any) -> str:
    """Compact JSON with Go's default escaping (json.Encoder with SetEscapeHTML(true))."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "\\b" in text or "\\f" in text:
        # Python writes \b and \f; Go (see docs/protocol.md; the Debian 0.6.4
        # helpers) writes \u0008 and \u000c. Match escape pairs left to right so an
        # escaped backslash followed by "b" is left alone.
        import re  # rare: only output with a backspace or form feed needs it

        text = re.sub(r"\\(.)", _short_escape, text)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def scrub_surrogates(text: str) -> str:
    """Lone surrogates (from \\ud800-style escapes) become U+FFFD, as Go's decoder makes them.

    The one rule for text from outside: the protocol's fields and every import
    (Docker's plaintext auths, openEuler, iSulad) go through it, so a stored
    value is always valid UTF-8 and `get` can print it.
    """
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def go_quote(text: str) -> str:
    """`text` as a JSON string with Go's escaping; a lone surrogate stays a \\uXXXX escape.

    Go itself would have read such an escape as U+FFFD, so writing the escape
    back keeps the value equal in Go's meaning (and the file valid UTF-8).
    """
    quoted = go_json(text)
    if not any("\ud800" <= ch <= "\udfff" for ch in quoted):
        return quoted
    return "".join(f"\\u{ord(ch):04x}" if "\ud800" <= ch <= "\udfff" else ch for ch in quoted)


# Unicode simple case folding maps only these two non-ASCII letters onto ASCII
# ones (U+212A KELVIN SIGN -> k, U+017F LONG S -> s); Go's field matching
# (bytes.EqualFold) honours them, so `"cred\u017fStore"` is credsStore to docker.
_FOLD = str.maketrans({"\u212a": "k", "\u017f": "s"})


def go_fold_equal(key: str, name: str) -> bool:
    """Whether Go's json matches object key `key` to the struct field named `name` (ASCII)."""
    return len(key) == len(name) and key.translate(_FOLD).lower() == name.lower()
