"""`docker-credential-credhelper`: the docker credential-helper wire protocol.

Byte-compatible with docker/docker-credential-helpers (see docs/protocol.md):
one action argument, input on stdin, every result and error on stdout, exit 0 or 1.
This is the hot path: it imports the standard library, the store and, through it,
cryptography's AESGCM and the active key provider, and nothing else (no click,
logging, no locking code until a write, keyring unless that provider is active).
"""

from __future__ import annotations

import os
import sys

from credhelper import __version__
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.dockernames import DOCKER_HUB
from credhelper.errors import (
    CredhelperError,
    InputTooLarge,
    Invalidated,
    MissingServerURL,
    MissingUsername,
    NotFound,
    UsageError,
)
from credhelper.gojson import (
    ObjectPairs,
    go_json,
    go_kind,
    go_syntax_error,
    reject_constant,
    scrub_surrogates,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: importing `typing` costs milliseconds on the hot path
    from typing import Any

    from credhelper.store import Store

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
_FIELDS = ("ServerURL", "Username", "Secret")


# ---------------------------------------------------------------- input


def read_input(stream: Any) -> str:
    """stdin as the reference helpers see it: lines joined with no separator.

    Go's bufio.Scanner drops each "\\n" and a "\\r" right before it (or at EOF).
    An invalid UTF-8 byte stays itself (a surrogateescape character): Go's JSON
    errors quote the raw byte; server_url and parse_store's fields make each such
    byte U+FFFD, as Go does.
    """
    raw = stream.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise InputTooLarge("credhelper: input is larger than 1 MiB; refused, nothing was changed")
    lines = raw.split(b"\n")
    joined = b"".join(line[:-1] if line.endswith(b"\r") else line for line in lines)
    return joined.decode("utf-8", "surrogateescape")


# Lone surrogates become U+FFFD, as Go does: gojson owns the rule, imports share it.
_scrub = scrub_surrogates


def server_url(text: str) -> str:
    url = _scrub(text).strip(_GO_SPACE)
    if not url:
        raise MissingServerURL()
    return url


def parse_store(text: str) -> tuple[str, str, str]:
    """(ServerURL, Username, Secret) decoded the way Go's json.Decoder would.

    Only the first JSON value is read; keys match case-insensitively (the last
    one wins); unknown keys are ignored; null leaves a field empty; values are not
    trimmed. Error texts are Go's.
    """
    body = text.lstrip(" \t\r\n")
    if not body:
        raise UsageError("EOF")
    try:  # json.JSONDecoder(...).raw_decode(body), without importing json
        value, _end = json.raw_decode(body, ObjectPairs, reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN/Infinity, deep nesting
        message = go_syntax_error(body.encode("utf-8", "surrogateescape"))
        raise UsageError("exceeded max depth" if message is None else message) from None
    if value is None:
        value = ObjectPairs()
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Python stops a top-level number early ("0." reads as 0); Go's scanner
        # reads on and may find the number incomplete or malformed.
        message = go_syntax_error(body.encode("utf-8", "surrogateescape"))
        if message is not None:
            raise UsageError(message)
    if not isinstance(value, ObjectPairs):
        raise UsageError(
            f"json: cannot unmarshal {go_kind(value)} into Go value of type credentials.Credentials"
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
                f"json: cannot unmarshal {go_kind(item)} into Go struct field "
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


class _StdoutFailed(Exception):
    """stdout itself failed (full, broken pipe, I/O error): reported on stderr by main."""

    def __init__(self, err: OSError) -> None:
        super().__init__(err.errno)
        self.err = err


def _write(out: Any, text: str) -> None:
    # surrogateescape: an undecodable argv byte echoed in an error goes out as
    # that byte (as Go would), not as a UnicodeEncodeError.
    try:
        out.write(text.encode("utf-8", "surrogateescape"))
        out.flush()
    except OSError as err:
        raise _StdoutFailed(err) from None


def _hint(err: Any, text: str) -> None:
    """One line for the human on stderr; clients pass the helper's stderr through.

    Hints quote server names and key ids from the store file: escaped (`shown`), so a
    planted ESC or lone surrogate never reaches the terminal raw.
    """
    if not text.isprintable():  # the common hint pays nothing
        from credhelper.store.model import shown

        text = shown(text)
    err.write(text + "\n")
    err.flush()


def _summarise(err: Any, problems: list[Any]) -> None:
    relogin = [p.server for p in problems if p.state == "needs-relogin"]
    corrupt = [p for p in problems if p.state == "corrupt"]
    if relogin:
        shown = ", ".join(relogin[:5]) + (
            f" and {len(relogin) - 5} more" if len(relogin) > 5 else ""
        )
        _hint(
            err,
            f"credhelper: {len(relogin)} stored login(s) need a new login (invalidated by a "
            f"key rotation or a lost key): {shown}; run: credhelper login <server>",
        )
    for status in corrupt[:5]:
        _hint(
            err,
            f"credhelper: warning: stored credentials for {status.server} are corrupt "
            f"({status.detail}); run: credhelper doctor",
        )
    if len(corrupt) > 5:
        _hint(
            err,
            f"credhelper: warning: {len(corrupt) - 5} more corrupt entries; run: credhelper doctor",
        )


# ---------------------------------------------------------------- actions
# Each action gets the store and its streams (as docker-credential-helpers'
# HandleCommand(helper, action, in, out) does): main() passes the real ones, the
# tests a Store in a temporary directory and BytesIO streams.


def action_get(store: Store, stdin: Any, stdout: Any) -> None:
    text = read_input(stdin)
    url = server_url(text)
    key = url
    if url == "docker.io" and os.environ.get("CREDHELPER_DOCKER_IO_IS_HUB") == "1":
        # Set by `credhelper push` in skopeo's/podman's environment only:
        # containers/image names Docker Hub "docker.io", docker stores it as below.
        key = DOCKER_HUB
    creds = store.get(key)  # one call: the store owns how a lookup is done
    answer = go_json({"ServerURL": url, "Username": creds.username, "Secret": creds.secret})
    if url != text.strip(_GO_SPACE):
        # The request had bytes that are not UTF-8: Go echoes its raw string, and
        # its encoder writes each such byte as \ufffd (a U+FFFD typed in stays raw).
        echo = go_json(text.strip(_GO_SPACE))
        echo = "".join("\\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in echo)
        answer = '{"ServerURL":' + echo + answer[answer.index(',"Username":') :]
    _write(stdout, answer + "\n")


def action_store(store: Store, stdin: Any) -> None:
    url, username, secret = parse_store(read_input(stdin))
    store.put(url, username, secret)


def action_erase(store: Store, stdin: Any) -> None:
    url = server_url(read_input(stdin))
    # Erasing what is not there succeeds (as wincred does): `docker logout` erases
    # up to four spellings of a server and warns only when all of them fail.
    store.delete(url)


def action_list(store: Store, stdout: Any, stderr: Any) -> None:
    found, problems = store.snapshot().usernames()
    if problems:
        _summarise(stderr, problems)
    _write(stdout, go_json(dict(sorted(found.items()))) + "\n")


def handle(action: str, store: Store | None, stdin: Any, stdout: Any, stderr: Any) -> int:
    """Run one action against `store`; returns the exit code. Errors are printed here.

    stdin/stdout are binary streams, stderr a text one: results and errors go to
    stdout as the protocol wants, hints for the human to stderr. With `store` None
    the real one ($CREDHELPER_HOME, ...) is opened, and only by the actions that
    use it (`version` never imports the store or cryptography).
    """
    try:
        if action in ("get", "store", "erase", "list"):
            if store is None:
                from credhelper.store import Store

                store = Store()
            if action == "get":
                action_get(store, stdin, stdout)
            elif action == "store":
                action_store(store, stdin)
            elif action == "erase":
                action_erase(store, stdin)
            else:  # list never reads stdin: docker-py hands the helper its own
                action_list(store, stdout, stderr)
        elif action in ("version", "-v", "--version"):
            _write(stdout, f"{NAME} ({PACKAGE}) {__version__}\n")
        elif action in ("-h", "--help"):
            _write(stdout, f"Usage: {NAME} <{ACTIONS}>\n")
        else:
            _write(stdout, f"{NAME}: unknown action: {action}\n")
            return 1
    except Invalidated as err:
        _hint(stderr, err.hint)
        _write(stdout, err.message + "\n")
        return 1
    except (NotFound, CredhelperError) as err:
        _write(stdout, err.message + "\n")
        return 1
    return 0


def run(argv: list[str], stdin: Any, stdout: Any, stderr: Any, store: Store | None = None) -> int:
    """One protocol call as the executable makes it, minus the process set-up.

    Any unexpected exception becomes the one "internal error" line on stdout.
    """
    if len(argv) != 2:
        _write(stdout, f"Usage: {NAME} <{ACTIONS}>\n")
        return 1
    try:
        return handle(argv[1], store, stdin, stdout, stderr)
    except _StdoutFailed:  # main reports it on stderr
        raise
    except Exception as err:  # one line, never a traceback on stdout
        from credhelper import stdstreams

        _write(stdout, stdstreams.internal_error(err, stderr) + " on stderr\n")
        return 1


def main() -> int:
    """Entry point of docker-credential-credhelper."""
    from credhelper import stdstreams

    stdstreams.start_process()  # no core dumps, fds 0-2 reopened, a quiet stderr
    try:
        return run(sys.argv, sys.stdin.buffer, sys.stdout.buffer, sys.stderr)
    except _StdoutFailed as failed:
        return stdstreams.report_stdout_failure(failed.err)
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
