"""A write waiting for the store lock: one line on a terminal naming the holder, else silence.

The holder is a real second process holding the real lock file's flock(2). It runs
as a script named `credhelper` with the argv of `credhelper login -p SECRET`, so
the tests prove the line names the holder's program and subcommand and never the
rest of its argv. The waiter is the real `credhelper logout` on a pseudo-terminal
(stderr a terminal), or with pipes (not a terminal).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CLI, Env

HOLDER = """#!{python}
import fcntl, os, sys
fd = os.open(sys.argv[-1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
sys.stdout.write("held\\n")
sys.stdout.flush()
sys.stdin.read()  # hold until the test closes our stdin
"""
SECRET_ARG = "Hunter2-lockwait-secret"
SERVER = "reg.example:5000"


@dataclass
class Holder:
    proc: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def holder(ch: Env, tmp_path: Path) -> Iterator[Holder]:
    ch.store_creds(SERVER, "alice", "pw-lock-1")  # the store exists: logout must lock it
    script = tmp_path / "bin" / "credhelper"
    script.parent.mkdir()
    script.write_text(HOLDER.format(python=sys.executable))
    script.chmod(0o700)
    lock = ch.home / "config.json.lock"
    proc = subprocess.Popen(
        [str(script), "login", "-p", SECRET_ARG, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"
    held = Holder(proc)
    try:
        yield held
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _read_until(master: int, needle: bytes, seen: bytearray, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return needle in seen
            if not chunk:
                break
            seen.extend(chunk)
    return needle in seen


@contextlib.contextmanager
def logout_on_tty(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The real `credhelper logout SERVER` on a pseudo-terminal; stopped and closed after."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [CLI, "logout", SERVER],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield proc, master
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_waiting_on_a_terminal_names_the_holder(ch: Env, holder: Holder) -> None:
    env = dict(ch.env, CREDHELPER_LOCK_TIMEOUT="60")
    seen = bytearray()
    with logout_on_tty(env) as (proc, master):
        assert _read_until(master, b"waiting for the store lock", seen, 30), bytes(seen)
        assert _read_until(master, b"\n", seen, 5)
        assert proc.poll() is None  # still waiting: the line came while the lock was held
        holder.release()
        _read_until(master, b"Removed", seen, 30)
        assert proc.wait(timeout=30) == 0, bytes(seen)
    text = bytes(seen).decode()
    [line] = [x for x in text.splitlines() if "waiting for the store lock" in x]
    assert f"held by pid {holder.pid}: credhelper login " in line
    assert str(ch.home / "config.json.lock") in line
    assert SECRET_ARG not in text and "-p" not in line
    assert text.count("waiting for the store lock") == 1
    assert ch.cli("list").stdout.count(SERVER) == 0  # the logout did happen after the wait


def test_waiting_without_a_terminal_is_silent_and_the_timeout_names_the_holder(
    ch: Env, holder: Holder
) -> None:
    env = dict(ch.env, CREDHELPER_LOCK_TIMEOUT="2")
    proc = subprocess.run(
        [CLI, "logout", SERVER],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 7, proc.stderr
    assert "waiting for the store lock" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert "gave up after 2s waiting for the lock" in line
    assert f"pid {holder.pid}: credhelper login holds it" in line
    assert SECRET_ARG not in proc.stderr
    holder.release()
    assert SERVER in ch.cli("list").stdout  # nothing changed


def test_a_short_wait_says_nothing_on_a_terminal(ch: Env, holder: Holder) -> None:
    """A lock released within the first second: the write goes ahead without a line."""
    env = dict(ch.env, CREDHELPER_LOCK_TIMEOUT="0.5")
    seen = bytearray()
    with logout_on_tty(env) as (proc, master):
        _read_until(master, b"gave up", seen, 30)
        assert proc.wait(timeout=30) == 7
    assert b"waiting for the store lock" not in seen


def test_holder_names_only_the_program_of_a_foreign_command(tmp_path: Path) -> None:
    from credhelper import lockwait

    proc = subprocess.Popen(
        [sys.executable, "-c", "print('up', flush=True); input()", "--password", SECRET_ARG],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # it runs
        name = lockwait.command_name(proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    assert name == os.path.basename(os.path.realpath(sys.executable))  # its executable's file
    assert lockwait.command_name(2**22 + 12345) is None  # no such process


@pytest.mark.parametrize(
    "argv0",
    [
        f"credhelper-admin login -p {SECRET_ARG}",  # a title carrying its arguments
        SECRET_ARG,  # exec -a TOKEN: argv[0] is whatever the process chose
        f"credhelper\tlogin\t-p\t{SECRET_ARG}",  # a title split by tabs, not spaces
        f"\x1b]0;owned\x07{SECRET_ARG}",
    ],
    ids=["retitled", "argv0-is-secret", "tab-separated", "escapes"],
)
def test_a_holders_argv0_is_never_shown(tmp_path: Path, argv0: str) -> None:
    """Only a fixed word (credhelper's name) or the executable's file name names a holder."""
    from credhelper import lockwait

    proc = subprocess.Popen(
        [argv0, "-c", "print('up', flush=True); input()"],
        executable=sys.executable,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        name = lockwait.command_name(proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    assert name is not None and SECRET_ARG not in name and "\x1b" not in name
    assert name in ("credhelper", os.path.basename(os.path.realpath(sys.executable)))


@pytest.mark.parametrize(
    "tail",
    [
        ["login", f"--password={SECRET_ARG}"],
        ["-p", SECRET_ARG, "login"],
        ["login", "-p", SECRET_ARG],
        [f"--password={SECRET_ARG}"],
        ["store", SECRET_ARG],
    ],
)
@pytest.mark.parametrize("program", ["credhelper", "docker-credential-credhelper"])
def test_credhelper_holders_show_only_a_known_subcommand(
    tmp_path: Path, program: str, tail: list[str]
) -> None:
    """A real script named like credhelper holding the lock, secrets anywhere after it."""
    from credhelper import lockwait

    script = tmp_path / "bin" / program
    script.parent.mkdir()
    script.write_text(HOLDER.format(python=sys.executable))
    script.chmod(0o700)
    lock = tmp_path / "lock"
    proc = subprocess.Popen(
        [str(script), *tail, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        fd = os.open(lock, os.O_RDWR)
        try:
            line = lockwait.describe_holder(fd)
        finally:
            os.close(fd)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    assert SECRET_ARG not in line and "-p" not in line and "password" not in line
    sub = f" {tail[0]}" if tail[0] in ("login", "store") else ""
    assert line == f"pid {proc.pid}: {program}{sub}"


def test_python_m_credhelper_holder(tmp_path: Path) -> None:
    """`python3 -m credhelper login -p SECRET` shows `credhelper login`."""
    from credhelper import lockwait

    pkg = tmp_path / "pkg" / "credhelper"
    pkg.mkdir(parents=True)
    # A regular package (not a namespace one): found first, in the current
    # directory, before the installed credhelper that is also on sys.path.
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(HOLDER.format(python=sys.executable))
    lock = tmp_path / "lock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "credhelper", "login", "-p", SECRET_ARG, str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(tmp_path / "pkg"),
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        fd = os.open(lock, os.O_RDWR)
        try:
            line = lockwait.describe_holder(fd)
        finally:
            os.close(fd)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    assert line == f"pid {proc.pid}: credhelper login"


def test_the_timeout_line_does_not_carry_the_holders_argv0(ch: Env, tmp_path: Path) -> None:
    """No terminal: the exit-7 line (what a CI log keeps) names the holder by its executable."""
    ch.store_creds(SERVER, "alice", "pw-lock-argv0")
    lock = ch.home / "config.json.lock"
    proc = subprocess.Popen(
        [SECRET_ARG, "-c", HOLDER.split("\n", 1)[1], str(lock)], executable=sys.executable,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        out = ch.cli("logout", SERVER, env=dict(ch.env, CREDHELPER_LOCK_TIMEOUT="1"))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    assert out.returncode == 7, out.stderr
    assert "gave up after 1s" in out.stderr
    assert SECRET_ARG not in out.stderr, out.stderr
    assert f"pid {proc.pid}: {os.path.basename(os.path.realpath(sys.executable))}" in out.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_waiting_ends_the_wait_cleanly(ch: Env, holder: Holder, signum: int) -> None:
    env = dict(ch.env, CREDHELPER_LOCK_TIMEOUT="60")
    seen = bytearray()
    with logout_on_tty(env) as (proc, master):
        assert _read_until(master, b"waiting for the store lock", seen, 30), bytes(seen)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == -signum
        _read_until(master, b"never", seen, 1)
    assert b"Traceback" not in seen
    holder.release()
    assert SERVER in ch.cli("list").stdout  # the logout never happened


def test_one_waiting_line_per_command_and_it_names_the_right_lock(ch: Env) -> None:
    """`logout` on a terminal while one process holds the store lock and Docker's config lock."""
    import json

    ch.store_creds(SERVER, "alice", "pw-two-locks")
    (ch.docker_config / "config.json").write_text(
        json.dumps({"auths": {SERVER: {}}, "credsStore": "credhelper"})
    )
    store_lock = ch.home / "config.json.lock"
    docker_lock = ch.docker_config / ".config.json.credhelper-lock"
    code = (
        "import fcntl, os, sys\n"
        f"a = os.open({str(store_lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        f"b = os.open({str(docker_lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(a, fcntl.LOCK_EX); fcntl.flock(b, fcntl.LOCK_EX)\n"
        "print('held', flush=True); sys.stdin.readline(); os.close(a)\n"
        "print('a', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    seen = bytearray()
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "held\n"
        with logout_on_tty(dict(ch.env, CREDHELPER_LOCK_TIMEOUT="4")) as (proc, master):
            assert _read_until(master, b"CREDHELPER_LOCK_TIMEOUT sets the wait", seen, 30)
            holder.stdin.write("x\n")  # the store lock is freed; Docker's stays held
            holder.stdin.flush()
            assert holder.stdout.readline() == "a\n"
            _read_until(master, b"run: credhelper doctor", seen, 60)
            assert proc.wait(timeout=30) == 0, bytes(seen)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    text = bytes(seen).decode(errors="replace")
    waits = [line for line in text.splitlines() if "credhelper: waiting for the" in line]
    assert len(waits) == 1, text
    assert f"waiting for the store lock {store_lock}," in waits[0], text
    # Docker's config lock was never taken: the logout says so in its one warning line.
    assert f"waiting for the lock {docker_lock};" in text, text


def test_the_waits_of_one_command_share_one_timeout(tmp_path: Path) -> None:
    """Two contended locks in one process: the second wait gets what the first left."""
    from credhelper import fslock, lockwait

    first, second = tmp_path / "config.json.lock", tmp_path / ".config.json.credhelper-lock"
    code = (
        "import fcntl, os, sys\n"
        f"for p in ({str(first)!r}, {str(second)!r}):\n"
        "    fcntl.flock(os.open(p, os.O_RDWR | os.O_CREAT, 0o600), fcntl.LOCK_EX)\n"
        "print('held', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    asked: list[float] = []

    def take(fd: int, seconds: float) -> bool:
        asked.append(seconds)
        return fslock._flock_bounded(fd, seconds)

    saved = dict(lockwait._waited)
    lockwait._waited.clear()
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for path in (first, second):
            fd = os.open(path, os.O_RDWR)
            try:
                assert not lockwait.wait(fd, str(path), 0.3, take)
            finally:
                os.close(fd)
    finally:
        lockwait._waited.clear()
        lockwait._waited.update(saved)
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert asked[0] == 0.3 and asked[1] == 0.0  # nothing of the 0.3 s was left
    assert lockwait.label_for(str(first)) == "store lock"
    assert lockwait.label_for(str(second)) == "Docker config lock"
