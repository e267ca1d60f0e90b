"""Robustness at the edges, with real processes of both executables (set-up and
the read-back checks run the protocol in-process: `ch.put`, `ch.call`).

- CREDHELPER_LOCK_TIMEOUT at the extremes (1e-7, 1e12, and other values outside
  0..3600 s) with the store lock held: the lock-timeout line (exit 7 for the CLI,
  the one-line error and exit 1 for the protocol helper), never "internal error".
- A closed stdin (`<&-`): empty input, one clear line.
- A closed stdout (`>&-`): the output is discarded as the Go helpers do; no traceback.
- A full stdout (`>/dev/full`): one line on stderr, exit 1, no traceback.
- Closed fds 1 and 2 while writing: the store still parses (no file can land on them).
- A failing stderr (`2>/dev/full`): usage errors, command failures and the helper's
  hints keep their documented exit code and stdout; only the message is lost.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import CLI, HELPER, Env, with_lock_default

SERVER = "edge.example:5000"


def _store_request(secret: str) -> bytes:
    return json.dumps({"ServerURL": SERVER, "Username": "u", "Secret": secret}).encode()


def _closing(*fds: int) -> Callable[[], None]:
    def close() -> None:
        for fd in fds:
            os.close(fd)

    return close


def _run(
    argv: list[str],
    env: dict[str, str],
    stdin: bytes | None = b"",
    close: tuple[int, ...] = (),
    stdout: int | IO[bytes] | None = subprocess.PIPE,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv,
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
        preexec_fn=_closing(*close) if close else None,
    )


def _no_internal_error(proc: subprocess.CompletedProcess[bytes]) -> None:
    text = (proc.stdout or b"").decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert "internal error" not in text and "Traceback" not in text, text


# ---------------------------------------------------------------- lock timeouts


# 1e12 means the built-in default wait (20 s); those runs shorten the default to
# SHORT_DEFAULT (the script itself still runs: tests.conftest.with_lock_default),
# and test_lock_default_is_twenty_seconds pins the real value.
SHORT_DEFAULT = 1.0


def test_lock_default_is_twenty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """What README documents: unset, empty, or outside 0..3600 s (nan, inf, a
    negative or huge number, not a number) means a 20 s wait."""
    from credhelper import fslock

    assert fslock.DEFAULT_LOCK_TIMEOUT == 20.0
    for raw in ("", "1e12", "inf", "-inf", "nan", "-1", "3600.5", "abc", "½", "1e"):
        monkeypatch.setenv("CREDHELPER_LOCK_TIMEOUT", raw)
        assert fslock.lock_timeout() == 20.0, raw
    monkeypatch.delenv("CREDHELPER_LOCK_TIMEOUT")
    assert fslock.lock_timeout() == 20.0
    for raw, value in (("0", 0.0), ("3600", 3600.0), ("2.5", 2.5)):
        monkeypatch.setenv("CREDHELPER_LOCK_TIMEOUT", raw)
        assert fslock.lock_timeout() == value, raw


@pytest.mark.parametrize("raw", ["1e-7", "1e12", "0"])
def test_lock_timeout_extremes_give_the_lock_line(ch: Env, raw: str) -> None:
    ch.put(SERVER, "u", "s0")
    lock_path = ch.home / "config.json.lock"
    env = {**ch.env, "CREDHELPER_LOCK_TIMEOUT": raw}
    falls_back = raw == "1e12"

    def argv(script: str) -> list[str]:
        return with_lock_default(script, SHORT_DEFAULT) if falls_back else [script]

    with open(lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        # Both writers wait side by side.
        cli = subprocess.Popen(
            [*argv(CLI), "login", SERVER, "-u", "u", "--password-stdin", "--no-verify"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        # The helper reads all of stdin before it asks for the lock: its request is
        # a file, so that both wait at the same time.
        request = ch.root / "request.json"
        request.write_bytes(_store_request("s2"))
        with request.open("rb") as stdin:
            helper = subprocess.Popen(
                [*argv(HELPER), "store"],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        cli_out, cli_err = cli.communicate(b"s1\n", timeout=120)
        helper_out, helper_err = helper.communicate(timeout=120)
        waited = time.monotonic() - started
    assert cli.returncode == 7, cli_err
    lines = cli_err.decode().strip().splitlines()
    assert len(lines) == 1 and str(lock_path) in lines[0] and "CREDHELPER_LOCK_TIMEOUT" in lines[0]
    assert helper.returncode == 1
    text = helper_out.decode()
    assert text.count("\n") == 1 and str(lock_path) in text, text
    for out in (cli_out + cli_err, helper_out + helper_err):
        assert b"internal error" not in out and b"Traceback" not in out
    if falls_back:
        # They waited the default, not 1e12 s nor no time at all (the bound is
        # loose: SHORT_DEFAULT is 1 s, anything else would be >= 20 s).
        assert SHORT_DEFAULT <= waited < 15, waited
    got = json.loads(ch.call("get", SERVER).stdout)
    assert got["Secret"] == "s0"  # nothing changed


# ---------------------------------------------------------------- closed / full streams


@pytest.mark.parametrize(
    ("action", "line"),
    [
        ("get", "no credentials server URL"),
        ("erase", "no credentials server URL"),
        ("store", "EOF"),
    ],
)
def test_helper_with_closed_stdin(ch: Env, action: str, line: str) -> None:
    proc = _run([HELPER, action], ch.env, stdin=None, close=(0,))
    _no_internal_error(proc)
    assert proc.returncode == 1
    assert proc.stdout.decode() == line + "\n"


def test_cli_with_closed_stdin(ch: Env) -> None:
    proc = _run(
        [CLI, "login", SERVER, "-u", "u", "--password-stdin", "--no-verify"],
        ch.env,
        stdin=None,
        close=(0,),
    )
    _no_internal_error(proc)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "credhelper: the password on stdin is empty"
    assert not ch.store.exists()


@pytest.mark.parametrize("action", ["get", "list", "version"])
def test_helper_with_closed_stdout(ch: Env, action: str) -> None:
    ch.put(SERVER, "u", "s0")
    proc = _run([HELPER, action], ch.env, stdin=SERVER.encode(), close=(1,), stdout=None)
    _no_internal_error(proc)
    assert proc.stderr == b""
    assert proc.returncode == 0


@pytest.mark.parametrize("args", [["list"], ["version"], ["doctor"], ["--help"]])
def test_cli_with_closed_stdout(ch: Env, args: list[str]) -> None:
    ch.put(SERVER, "u", "s0")
    proc = _run([CLI, *args], ch.env, close=(1,), stdout=None)
    _no_internal_error(proc)
    assert "Traceback" not in proc.stderr.decode()


@pytest.mark.parametrize("action", ["get", "list", "version"])
def test_helper_with_full_stdout(ch: Env, action: str) -> None:
    ch.put(SERVER, "u", "s0")
    with open("/dev/full", "wb") as full:
        proc = _run([HELPER, action], ch.env, stdin=SERVER.encode(), stdout=full)
    _no_internal_error(proc)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "credhelper: cannot write to standard output: No space left on device"
    ]


@pytest.mark.parametrize(
    "args", [["list"], ["version"], ["doctor"], ["--help"], ["list", "--json"]]
)
def test_cli_with_full_stdout(ch: Env, args: list[str]) -> None:
    ch.put(SERVER, "u", "s0")
    with open("/dev/full", "wb") as full:
        proc = _run([CLI, *args], ch.env, stdout=full)
    _no_internal_error(proc)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[-1:] == [
        "credhelper: cannot write to standard output: No space left on device"
    ]


def test_closed_stdout_and_stderr_cannot_receive_store_writes(ch: Env) -> None:
    """With fds 1 and 2 closed, a file opened while writing would get one of them."""
    for secret in ("s1", "s2"):
        proc = _run([HELPER, "store"], ch.env, stdin=_store_request(secret), close=(1, 2))
        assert proc.returncode == 0
    login = _run(
        [CLI, "login", SERVER, "-u", "u", "--password-stdin", "--no-verify"],
        ch.env,
        stdin=b"s3\n",
        close=(1, 2),
        stdout=None,
    )
    assert login.returncode == 0
    json.loads(ch.store.read_text())  # still a document
    got = json.loads(ch.call("get", SERVER).stdout)
    assert got["Secret"] == "s3"
    leftovers = [p.name for p in Path(ch.home).iterdir() if ".tmp" in p.name]
    assert leftovers == []


# ---------------------------------------------------------------- a failing stderr


def _with_full_stderr(argv: list[str], env: dict[str, str], stdin: bytes) -> tuple[int, int]:
    """(exit code with a working stderr, exit code with stderr on /dev/full)."""
    normal = _run(argv, env, stdin=stdin)
    with open("/dev/full", "wb") as full:
        failing = subprocess.run(
            argv,
            input=stdin,
            stdout=subprocess.DEVNULL,
            stderr=full,
            env=env,
            timeout=120,
            check=False,
        )
    return normal.returncode, failing.returncode


@pytest.mark.parametrize(
    "args",
    [
        ["login", "localhost:5000@evil.example", "-u", "u", "--password-stdin"],
        ["logout", "localhost:5000@evil.example"],
        ["push", "localhost:5000@evil.example/team/app:1"],
    ],
    ids=["login", "logout", "push"],
)
def test_failing_stderr_turns_the_documented_exit_code_into_1(ch: Env, args: list[str]) -> None:
    """A malformed server name is refused with exit 2 (README: "refused with one line
    (exit 2)"), and it is with a working or closed stderr. When stderr *fails* (`2>/dev/full`, a CI
    log on a full disk, a broken pipe) the OSError from writing the one-line message
    escaped and the command exited 1 instead: scripts that branch on credhelper's exit
    codes (2 usage, 3 needs login, 5 rejected, 8 engine...) got the wrong answer."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [CLI, *args],
            input="pw-2024\n",
            stdout=subprocess.DEVNULL,
            stderr=full,
            text=True,
            env=ch.env,
            timeout=60,
            check=False,
        )
    normal = subprocess.run(
        [CLI, *args],
        input="pw-2024\n",
        capture_output=True,
        text=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    assert normal.returncode == 2, normal.stderr
    assert proc.returncode == 2, f"exit {proc.returncode} with a failing stderr (2 expected)"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--bogus"], 2),  # click's own usage output
        (["rotate", "--bogus"], 2),
        (["login", SERVER, "--bogus"], 2),
        (["login", SERVER, "-u", "u", "--password-stdin", "extra-word"], 2),
        (["login", SERVER, "-u", "u", "--password-stdin", "--no-verify"], 2),  # empty stdin
    ],
    ids=["group-option", "rotate-option", "login-option", "extra-argument", "empty-password"],
)
def test_cli_usage_errors_keep_their_code_with_a_failing_stderr(
    ch: Env, args: list[str], code: int
) -> None:
    normal, failing = _with_full_stderr([CLI, *args], ch.env, stdin=b"")
    assert normal == code
    assert failing == code


def test_cli_failure_keeps_its_code_with_a_failing_stderr(ch: Env) -> None:
    """A command failure past parsing (a corrupt store: never overwritten) keeps its code."""
    ch.put(SERVER, "u", "s0")
    ch.store.write_text("{not json")
    normal, failing = _with_full_stderr([CLI, "rotate"], ch.env, stdin=b"")
    assert normal not in (0, 1)  # a documented code, not the generic one
    assert failing == normal
    assert ch.store.read_text() == "{not json"


def test_helper_hint_on_a_failing_stderr_changes_nothing(ch: Env) -> None:
    """The helper's stderr hints (an invalidated login) are lost, its stdout and code are not."""
    ch.put(SERVER, "u", "s0")
    ch.key.unlink()  # the entry now needs a new login: `get` and `list` hint on stderr
    for action, stdin in (("get", SERVER.encode()), ("list", b"")):
        normal = _run([HELPER, action], ch.env, stdin=stdin)
        assert normal.stderr, action  # the hint really is written
        with open("/dev/full", "wb") as full:
            failing = subprocess.run(
                [HELPER, action],
                input=stdin,
                capture_output=False,
                stdout=subprocess.PIPE,
                stderr=full,
                env=ch.env,
                timeout=60,
                check=False,
            )
        assert failing.returncode == normal.returncode, action
        assert failing.stdout == normal.stdout, action
        assert b"internal error" not in failing.stdout


def test_cli_usage_error_keeps_its_code_with_a_broken_stderr_pipe(ch: Env) -> None:
    """stderr a pipe nobody reads any more (`2>&1 | head -0` style): EPIPE, still exit 2."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [CLI, "login", "localhost:5000@evil.example", "-u", "u", "--password-stdin"],
            input=b"pw\n",
            stdout=subprocess.DEVNULL,
            stderr=write_end,
            env=ch.env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 2
