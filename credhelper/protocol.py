"""`docker-credential-credhelper`: the docker credential-helper wire protocol.

Byte-compatible with docker/docker-credential-helpers (see shared/spec/protocol.md):
one action argument, input on stdin, every result and error on stdout, exit 0 or 1.
This is the hot path: it imports the standard library, the store and, through it,
cryptography's AESGCM and the active key provider, and nothing else (no click,
logging, no locking code until a write, keyring unless that provider is active).
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, NoReturn

from credhelper import __version__
from credhelper.errors import (
    CredhelperError,
    InputTooLarge,
    Invalidated,
    MissingServerURL,
    MissingUsername,
    NotFound,
    UsageError,
)

NAME = "docker-credential-credhelper"
PACKAGE = "credhelper"
ACTIONS = "store|get|erase|list|version"
MAX_INPUT = 1 << 20  # 1 MiB; far above any real request, far below a memory problem

# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip() would
# also strip \x1c-\x1f, which Go keeps).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GO_KIND = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}
_FIELDS = ("ServerURL", "Username", "Secret")


# ---------------------------------------------------------------- input


def read_input(stream: Any) -> str:
    """stdin as the reference helpers see it: lines joined with no separator.

    Go's bufio.Scanner drops each "\\n" and a "\\r" right before it (or at EOF);
    invalid UTF-8 becomes U+FFFD, as Go's JSON decoder would make it.
    """
    raw = stream.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise InputTooLarge("credhelper: input is larger than 1 MiB; refused, nothing was changed")
    lines = raw.split(b"\n")
    joined = b"".join(line[:-1] if line.endswith(b"\r") else line for line in lines)
    return _scrub(joined.decode("utf-8", "replace"))


def _scrub(text: str) -> str:
    """Replace lone surrogates (from \\ud800-style escapes) with U+FFFD, as Go does."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def server_url(text: str) -> str:
    url = text.strip(_GO_SPACE)
    if not url:
        raise MissingServerURL()
    return url


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


def go_syntax_error(data: bytes) -> str:
    """The error Go's json.Decoder gives for the first value of `data`.

    A port of the state machine of Go's encoding/json/scanner.go, run only when
    Python's parser has already refused the input, so the wording and the
    offending character are Go's (`invalid character 'x' in numeric literal`,
    `unexpected EOF`, ...): scripts compare these strings.
    """

    class _Fail(Exception):
        pass

    n = len(data)

    def fail(pos: int, context: str) -> NoReturn:
        raise _Fail(f"invalid character {_go_quote_char(data[pos])} {context}")

    def skip_space(pos: int) -> int:
        while pos < n and data[pos] in _JSON_SPACE:
            pos += 1
        return pos

    def need(pos: int) -> int:
        if pos >= n:
            raise _Fail("unexpected EOF")
        return data[pos]

    def scan_string(pos: int) -> int:  # pos is just after the opening quote
        while True:
            c = need(pos)
            if c == 0x22:
                return pos + 1
            if c == 0x5C:
                e = need(pos + 1)
                if e == ord("u"):
                    for k in range(pos + 2, pos + 6):
                        if need(k) not in _HEX:
                            fail(k, "in \\u hexadecimal character escape")
                    pos += 6
                    continue
                if e not in b'bfnrt\\/"':
                    fail(pos + 1, "in string escape code")
                pos += 2
                continue
            if c < 0x20:
                fail(pos, "in string literal")
            pos += 1

    def scan_number(pos: int) -> int:
        if data[pos] == ord("-"):
            pos += 1
            if need(pos) not in _DIGITS:
                fail(pos, "in numeric literal")
        if data[pos] == ord("0"):
            pos += 1
        else:
            while pos < n and data[pos] in _DIGITS:
                pos += 1
        if pos < n and data[pos] == ord("."):
            pos += 1
            if need(pos) not in _DIGITS:
                fail(pos, "after decimal point in numeric literal")
            while pos < n and data[pos] in _DIGITS:
                pos += 1
        if pos < n and data[pos] in b"eE":
            pos += 1
            if need(pos) in b"+-":
                pos += 1
            if need(pos) not in _DIGITS:
                fail(pos, "in exponent of numeric literal")
            while pos < n and data[pos] in _DIGITS:
                pos += 1
        return pos

    def scan_value(pos: int, depth: int) -> int:
        pos = skip_space(pos)
        c = need(pos)
        if c in b"{[":
            if depth >= _MAX_DEPTH:
                raise _Fail("exceeded max depth")
            return scan_container(pos, depth + 1)
        if c == 0x22:
            return scan_string(pos + 1)
        if c == ord("-") or c in _DIGITS:
            return scan_number(pos)
        word = _LITERALS.get(c)
        if word is None:
            fail(pos, "looking for beginning of value")
        for k in range(1, len(word)):
            if need(pos + k) != word[k]:
                fail(pos + k, f"in literal {word.decode()} (expecting {chr(word[k])!r})")
        return pos + len(word)

    def scan_container(pos: int, depth: int) -> int:
        is_object = data[pos] == ord("{")
        close = ord("}") if is_object else ord("]")
        pos = skip_space(pos + 1)
        if need(pos) == close:
            return pos + 1
        while True:
            if is_object:
                pos = skip_space(pos)
                if need(pos) != 0x22:
                    fail(pos, "looking for beginning of object key string")
                pos = skip_space(scan_string(pos + 1))
                if need(pos) != ord(":"):
                    fail(pos, "after object key")
                pos += 1
            pos = skip_space(scan_value(pos, depth))
            c = need(pos)
            if c == close:
                return pos + 1
            if c != ord(","):
                fail(pos, "after object key:value pair" if is_object else "after array element")
            pos += 1

    try:
        if skip_space(0) >= n:
            return "EOF"
        scan_value(0, 0)
    except _Fail as err:
        return str(err)
    except RecursionError:
        # Nesting deeper than Python's stack allows (Go's limit is 10000).
        return "exceeded max depth"
    return "invalid JSON"  # unreachable for input Python refused; kept one line


class _Object(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in order, duplicates kept (Go's view)."""


def _go_kind(value: Any) -> str:
    if isinstance(value, _Object):
        return "object"
    return _GO_KIND[type(value)]


def _reject_constant(name: str) -> NoReturn:
    # Python accepts NaN/Infinity; Go's decoder does not.
    raise ValueError(name)


def parse_store(text: str) -> tuple[str, str, str]:
    """(ServerURL, Username, Secret) decoded the way Go's json.Decoder would.

    Only the first JSON value is read; keys match case-insensitively (the last
    one wins); unknown keys are ignored; null leaves a field empty; values are not
    trimmed. Error texts are Go's.
    """
    body = text.lstrip(" \t\r\n")
    if not body:
        raise UsageError("EOF")
    decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_Object)
    try:
        value, _end = decoder.raw_decode(body)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN/Infinity, deep nesting
        message = go_syntax_error(body.encode("utf-8"))
        raise UsageError("exceeded max depth" if message == "invalid JSON" else message) from None
    if value is None:
        value = _Object()
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Python stops a top-level number early ("0." reads as 0); Go's scanner
        # reads on and may find the number incomplete or malformed.
        message = go_syntax_error(body.encode("utf-8"))
        if message != "invalid JSON":
            raise UsageError(message)
    if not isinstance(value, _Object):
        raise UsageError(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type "
            "credentials.Credentials"
        )
    fields = {"ServerURL": "", "Username": "", "Secret": ""}
    folded = {name.casefold(): name for name in _FIELDS}
    for key, item in value:
        name = key if key in fields else folded.get(key.casefold())
        if name is None or item is None:
            continue
        if not isinstance(item, str):
            # Go keeps decoding after a type error but reports the first one.
            raise UsageError(
                f"json: cannot unmarshal {_go_kind(item)} into Go struct field "
                f"Credentials.{name} of type string"
            )
        # "\ud800" escapes decode to lone surrogates, which Go turns into U+FFFD
        # (and which could not be printed as UTF-8 by get/list).
        fields[name] = _scrub(item)
    if not fields["ServerURL"]:
        raise MissingServerURL()
    if not fields["Username"]:
        raise MissingUsername()
    return fields["ServerURL"], fields["Username"], fields["Secret"]


# ---------------------------------------------------------------- output


def _short_escape(match: re.Match[str]) -> str:
    return {"b": "\\u0008", "f": "\\u000c"}.get(match[1], match[0])


def go_json(value: Any) -> str:
    """Compact JSON with Go's default escaping (json.Encoder with SetEscapeHTML(true))."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "\\b" in text or "\\f" in text:
        # Python writes \b and \f; Go (as in protocol.md, and the Debian 0.6.4
        # helpers) writes \u0008 and \u000c. Match escape pairs left to right so an
        # escaped backslash followed by "b" is left alone.
        text = re.sub(r"\\(.)", _short_escape, text)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _write(text: str) -> None:
    # surrogateescape: an undecodable argv byte echoed in an error goes out as
    # that byte (as Go would), not as a UnicodeEncodeError.
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def _hint(text: str) -> None:
    """One line for the human on stderr; clients pass the helper's stderr through."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _summarise(problems: list[Any]) -> None:
    relogin = [p.server for p in problems if p.state == "needs-relogin"]
    corrupt = [p for p in problems if p.state == "corrupt"]
    if relogin:
        shown = ", ".join(relogin[:5]) + (
            f" and {len(relogin) - 5} more" if len(relogin) > 5 else ""
        )
        _hint(
            f"credhelper: {len(relogin)} stored login(s) need a new login (invalidated by a "
            f"key rotation or a lost key): {shown}; run: credhelper login <server>"
        )
    for status in corrupt[:5]:
        _hint(
            f"credhelper: warning: stored credentials for {status.server} are corrupt "
            f"({status.detail}); run: credhelper doctor"
        )
    if len(corrupt) > 5:
        _hint(
            f"credhelper: warning: {len(corrupt) - 5} more corrupt entries; run: credhelper doctor"
        )


# ---------------------------------------------------------------- actions


def action_get(stdin: Any) -> None:
    from credhelper.store import Store

    url = server_url(read_input(stdin))
    creds = Store().get(url)
    _write(go_json({"ServerURL": url, "Username": creds.username, "Secret": creds.secret}) + "\n")


def action_store(stdin: Any) -> None:
    from credhelper.store import Store

    url, username, secret = parse_store(read_input(stdin))
    Store().put(url, username, secret)


def action_erase(stdin: Any) -> None:
    from credhelper.store import Store

    url = server_url(read_input(stdin))
    # Erasing what is not there succeeds (as wincred does): `docker logout` erases
    # up to four spellings of a server and warns only when all of them fail.
    Store().delete(url)


def action_list() -> None:
    from credhelper.store import Store

    found, problems = Store().snapshot().usernames()
    if problems:
        _summarise(problems)
    _write(go_json(dict(sorted(found.items()))) + "\n")


def run(argv: list[str]) -> int:
    """Dispatch one protocol call; returns the exit code. Errors are printed here."""
    if len(argv) != 2:
        _write(f"Usage: {NAME} <{ACTIONS}>\n")
        return 1
    action = argv[1]
    try:
        if action == "get":
            action_get(sys.stdin.buffer)
        elif action == "store":
            action_store(sys.stdin.buffer)
        elif action == "erase":
            action_erase(sys.stdin.buffer)
        elif action == "list":
            action_list()  # never reads stdin: docker-py hands the helper its own
        elif action in ("version", "-v", "--version"):
            _write(f"{NAME} ({PACKAGE}) {__version__}\n")
        elif action in ("-h", "--help"):
            _write(f"Usage: {NAME} <{ACTIONS}>\n")
        else:
            _write(f"{NAME}: unknown action: {action}\n")
            return 1
    except Invalidated as err:
        _hint(err.hint)
        _write(err.message + "\n")
        return 1
    except (NotFound, CredhelperError) as err:
        _write(err.message + "\n")
        return 1
    return 0


def main() -> int:
    """Entry point of docker-credential-credhelper."""
    try:
        import resource

        # A core dump of this process could hold a key or a secret.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    try:
        return run(sys.argv)
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 1
    except Exception as err:  # one line, never a traceback on stdout
        if os.environ.get("CREDHELPER_DEBUG") == "1":
            import traceback

            traceback.print_exc(file=sys.stderr)
        # Only the type: an exception's text could quote input, i.e. a secret.
        _write(
            f"credhelper: internal error ({type(err).__name__}); "
            "set CREDHELPER_DEBUG=1 to see the traceback on stderr\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
