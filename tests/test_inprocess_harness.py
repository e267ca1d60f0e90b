"""What tests/inprocess.py promises the test process itself: after an in-process
command its timer (pytest-timeout's alarm) is still armed, and a signal during
a command ends the run as Ctrl-C does instead of killing the process, with the
process's own state (environment, streams, signal handlers) put back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests import inprocess
from tests.conftest import Env


@contextmanager
def lock_held_by_a_child(ch: Env) -> Iterator[None]:
    """The store lock, held by another process (flock is per open file) until the end."""
    ch.home.mkdir(mode=0o700, exist_ok=True)
    lock = ch.home / "config.json.lock"
    code = (
        "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.communicate("", timeout=30)


@contextmanager
def alarm(seconds: float) -> Iterator[list[int]]:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, _frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_test_processs_timer_is_still_armed_after_a_command_and_a_lock_wait(ch: Env) -> None:
    ch.put("a.example", "u", "s")
    with alarm(60) as fired:
        assert ch.cli("version").returncode == 0
        assert 50 < signal.getitimer(signal.ITIMER_REAL)[0] <= 60
        env = {**ch.env, "CREDHELPER_LOCK_TIMEOUT": "0.2"}
        with lock_held_by_a_child(ch):
            # Both bounded waits set and clear the real-time timer themselves.
            assert ch.cli("logout", "a.example", env=env).returncode == 7
            assert ch.call("erase", "a.example", env=env).returncode != 0
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 50 < left <= 60, left
        assert signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL
    assert fired == []


def test_a_signal_during_a_command_ends_the_run_and_the_process_is_put_back(ch: Env) -> None:
    ch.put("a.example", "u", "s")
    env = {**ch.env, "CREDHELPER_LOCK_TIMEOUT": "30"}
    before = (dict(os.environ), sys.stdout, sys.stderr, signal.getsignal(signal.SIGTERM))
    pid = os.getpid()
    with lock_held_by_a_child(ch):
        timer = threading.Timer(0.5, os.kill, (pid, signal.SIGTERM))
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt, match="signal 15 during an in-process"):
                ch.cli("logout", "a.example", env=env)
        finally:
            timer.cancel()
    assert time.monotonic() - started < 25  # the signal ended the wait, not the timeout
    after = (dict(os.environ), sys.stdout, sys.stderr, signal.getsignal(signal.SIGTERM))
    assert after == before
    # The command was unwound: the login is still there, the lock free again.
    assert ch.call("get", "a.example").returncode == 0


def nest(ch: Env, base: bytes, depth: int) -> None:
    """The store with a member of its own, an array nested `depth` deep."""
    ch.store.write_bytes(base[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}\n")


def deepest(ch: Env, base: bytes, parses: Callable[[], bool]) -> int:
    """The deepest nesting of the store that `parses` reads (Python's json counts each
    level against the recursion limit: 1000 by default, so the answer is below it)."""
    low, high = 100, 1000  # parses at `low`, not at `high`
    nest(ch, base, low)
    assert parses(), low
    nest(ch, base, high)
    assert not parses(), high
    while high - low > 1:  # bounded: halves each time
        mid = (low + high) // 2
        nest(ch, base, mid)
        low, high = (mid, high) if parses() else (low, mid)
    return low


def deep_store(ch: Env) -> bytes:
    ch.put("a.example", "u", "s")
    base = ch.store.read_bytes().rstrip()
    assert base.endswith(b"}"), base[-20:]
    return base


# stack_room() raises the recursion limit by the frames below the command, but CPython
# 3.11 also counts a level for every entry into the interpreter from C (pluggy's hook
# calls, contextlib's next(gen), ...): under pytest 7-8 levels that no frame count sees
# (the executable: 1). The executable's deepest store must parse in-process too.
def test_the_deepest_store_the_executable_parses_parses_in_process(ch: Env) -> None:
    base = deep_store(ch)
    exe = deepest(ch, base, lambda: ch.cli_exe("list").returncode == 0)
    nest(ch, base, exe)
    assert ch.cli_exe("list").returncode == 0
    in_process = ch.cli("list")
    assert (in_process.returncode, in_process.stderr) == (0, ""), exe


def test_the_deepest_store_the_helper_executable_parses_parses_in_env_call(ch: Env) -> None:
    base = deep_store(ch)
    exe = deepest(ch, base, lambda: ch.helper("get", "a.example").returncode == 0)
    nest(ch, base, exe)
    assert ch.helper("get", "a.example").returncode == 0
    called = ch.call("get", "a.example")
    assert (called.returncode, called.stderr) == (0, b""), exe


# A helper that answers only once the test's timer has fired: its handler opens the fifo.
WAITS_FOR_THE_ALARM = """#!/bin/sh
read -r _ < "@FIFO@"
printf '{}'
"""


def test_a_timer_that_fires_during_a_command_is_not_armed_again(ch: Env) -> None:
    """The test process's one-shot timer fires once, as it does while the executable
    runs: timer_kept() must not re-arm a timer that already fired during the command
    (its handler has run; pytest-timeout's would fail the test a second time)."""
    fifo = ch.root / "alarm.fifo"
    os.mkfifo(fifo, 0o600)
    bin_dir = ch.root / "bin"
    bin_dir.mkdir(mode=0o700)
    helper = bin_dir / "docker-credential-waits"
    helper.write_text(WAITS_FOR_THE_ALARM.replace("@FIFO@", str(fifo)))
    helper.chmod(0o700)
    env = {**ch.env, "PATH": f"{bin_dir}{os.pathsep}{ch.env['PATH']}"}
    fired: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        fired.append(signum)
        if len(fired) == 1:  # the helper has the fifo open (or opens it): never blocks long
            with open(fifo, "w") as out:
                out.write("fired\n")

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        for run in (ch.cli_exe, ch.cli):
            fired.clear()
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            assert run("migrate", "--from-helper", "waits", env=env).returncode == 0
            assert fired == [signal.SIGALRM], run  # it fired during the command
            armed = signal.getitimer(signal.ITIMER_REAL)  # first: then `fired` cannot race
            assert (armed, fired) == ((0.0, 0.0), [signal.SIGALRM]), run
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


BROKEN_OPENSSL_CONF = """openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
nosuch = nosuch_sect
[nosuch_sect]
activate = 1
"""


@pytest.mark.parametrize(
    "name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "FAKETIME", "OPENSSL_CONF", "GLIBC_TUNABLES"]
)
def test_variables_read_when_a_process_starts_keep_the_command_on_the_executable(
    ch: Env, name: str
) -> None:
    """The dynamic loader, libfaketime, glibc and OpenSSL read these once, at start-up:
    a value other than the test process's own needs a process of its own."""
    assert inprocess.in_process_ok(("version",), ch.env)
    assert not inprocess.in_process_ok(("version",), {**ch.env, name: "/elsewhere"})
    if name in os.environ:
        assert inprocess.in_process_ok(("version",), {**ch.env, name: os.environ[name]})


def test_a_preloaded_library_reaches_the_executable(ch: Env) -> None:
    env = {**ch.env, "LD_PRELOAD": str(ch.root / "no-such-library.so")}
    proc = ch.cli("version", env=env)
    assert proc.returncode == 0
    assert "no-such-library.so" in proc.stderr and "cannot be preloaded" in proc.stderr


def test_an_unusable_openssl_is_one_line_not_an_internal_error(ch: Env) -> None:
    """An OpenSSL configuration that activates a provider OpenSSL lacks ("no ciphers"):
    a verified login says so in one line, exit 6 (TLS), and stores nothing."""
    conf = ch.root / "openssl.cnf"
    conf.write_text(BROKEN_OPENSSL_CONF)
    env = {**ch.env, "OPENSSL_CONF": str(conf)}
    proc = ch.cli("login", "127.0.0.1:1", "-u", "u", "--password-stdin", stdin="pw\n", env=env)
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode == 6, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot set up TLS" in lines[0] and "OPENSSL_CONF" in lines[0]
    assert ch.call("list").stdout == b"{}\n"
