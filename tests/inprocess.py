"""Run `credhelper ARGS…` inside the test process, as the executable would run it.

Starting the CLI costs ~0.15 s of interpreter start-up and imports per call, and
the suite makes ~1,500 such calls. `run_cli` gives what `subprocess.run([credhelper,
…])` gives for the same arguments, stdin and environment, from the same code
(credhelper.cli.main, including its process set-up), without the new process:

- fds 0, 1 and 2 are temporary files for the call (stdin's bytes; what is written
  to stdout and stderr), so that child processes the command starts (the helper,
  crontab, docker) inherit them exactly as they would inherit the executable's;
- sys.stdin/stdout/stderr are built over those fds with the encodings, error
  handlers and buffering Python gives the executable under that environment's
  locale (learned once per locale from a real interpreter);
- os.environ, sys.argv, the signal dispositions, the lock-wait accounting (one
  budget per command), what keyring and tempfile learn once per process, and the
  room on the stack (the recursion limit, raised by the test's own depth) are the
  command's own for the call and restored afterwards;
  the one set-up step left out is lowering RLIMIT_CORE (for good: a process
  cannot raise its hard limit again), which test_leaks checks in the executables;
- the real-time timer (pytest-timeout's alarm) is re-armed afterwards with what was
  left of it, and a signal that arrives during a command unwinds the command as in
  the executable and then ends the test run like Ctrl-C (KeyboardInterrupt, so
  fixtures still clean up) instead of killing the test process.

`in_process_ok` names what stays on the executable: `exec` and `push` (engines on
ptys, process groups, reading fd 0 directly) and any environment with a PYTHON*
variable (the launcher starts again under `python -I` then).
tests/test_cli_equivalence.py proves both give the same exit code, stdout,
stderr and files for a corpus of commands.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import NoReturn

# The launcher (bin/credhelper) re-executes under -I when any other PYTHON* variable is set.
_HARMLESS = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE")
# Commands that run an engine or a job: ptys, their own process groups, os.read(0).
_OWN_PROCESS = frozenset({"exec", "push"})
_SIGNALS = (
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGALRM,
    signal.SIGPIPE,
    signal.SIGCHLD,
)
_AT_START = ("LD_", "FAKETIME", "DONT_FAKE_", "GLIBC_TUNABLES", "MALLOC_", "OPENSSL_")
_LOCALE_VARS = ("LC_ALL", "LC_CTYPE", "LANG", "PYTHONUTF8")
_stdio: dict[tuple[str | None, ...], tuple[str, str, str, str, str | None]] = {}


def in_process_ok(args: tuple[str, ...], env: Mapping[str, str]) -> bool:
    """Whether `credhelper ARGS` under `env` can run in this process unchanged."""
    if any(a in _OWN_PROCESS for a in args[:1]):
        return False
    # Read once, when a process starts (the dynamic loader, libfaketime, glibc, OpenSSL):
    # a value other than this process's own needs a process of its own.
    names = {n for n in (*env, *os.environ) if n.startswith(_AT_START)}
    if any(env.get(n) != os.environ.get(n) for n in names):
        return False
    return not any(
        n.startswith("PYTHON") and not n.startswith("PYTHON_") and n not in _HARMLESS for n in env
    )


def _stdio_config(env: Mapping[str, str]) -> tuple[str, str, str, str, str | None]:
    """(encoding, stdin errors, stdout errors, stderr errors, LC_CTYPE) of a CLI started
    under `env`. LC_CTYPE: Python's start-up coerces the C locale to C.UTF-8 and says
    so in its environment (PEP 538), which the programs a command starts inherit."""
    key = tuple(env.get(n) for n in _LOCALE_VARS)
    if key not in _stdio:
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys; print(sys.stdout.encoding, sys.stdin.errors, "
                "sys.stdout.errors, sys.stderr.errors, os.environ.get('LC_CTYPE', '-'))",
            ],
            env={n: v for n, v in env.items() if n in _LOCALE_VARS or n == "PATH"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        enc, ein, eout, eerr, ctype = probe.stdout.split()
        _stdio[key] = (enc, ein, eout, eerr, None if ctype == "-" else ctype)
    return _stdio[key]


@contextlib.contextmanager
def _process_state() -> Iterator[None]:
    """Everything of this process that a command may change, put back afterwards."""
    streams = (sys.stdin, sys.stdout, sys.stderr)
    dunder = (sys.__stdin__, sys.__stdout__, sys.__stderr__)
    argv, environ = sys.argv, dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in _SIGNALS}
    tempdir = tempfile.tempdir
    fds = [os.dup(fd) for fd in (0, 1, 2)]
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        yield
    finally:
        for fd, saved in enumerate(fds):
            os.dup2(saved, fd)
            os.close(saved)
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = dunder  # type: ignore[misc]
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)
        for signum, handler in handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        tempfile.tempdir = tempdir


@contextlib.contextmanager
def timer_kept() -> Iterator[None]:
    """This process's real-time timer (pytest-timeout's alarm) as it was, less the time
    the command took: a command's bounded lock wait sets and clears that timer."""
    value, interval = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()
    try:
        yield
    finally:
        left = value - (time.monotonic() - start) if value else 0.0
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left, interval)
        elif value and interval:  # a repeating timer goes on
            signal.setitimer(signal.ITIMER_REAL, interval, interval)
        else:  # off, or a one-shot that came due meanwhile: it fired (or would have)
            signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def signals_end_the_run() -> Iterator[None]:
    """A signal during an in-process command unwinds it (cleanup.guard) and then, instead
    of killing this process as the executable kills itself (cleanup.die), ends the
    test run as Ctrl-C does: fixtures are torn down (a crontab a test changed is
    put back), nothing is left half-done."""
    from credhelper import cleanup

    def die(signum: int) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum} during an in-process credhelper command")

    real, cleanup.die = cleanup.die, die  # type: ignore[assignment]
    try:
        yield
    finally:
        cleanup.die = real  # type: ignore[assignment]


def _down(n: int) -> int:
    try:
        return _down(n + 1)
    except RecursionError:
        return n


def room() -> int:
    """How many calls can still be nested below the caller's frame (CPython counts C
    calls back into Python too, which a walk over the frames does not see)."""
    return _down(0) + 1


_MAIN_ROOM: list[int] = []


def _main_room() -> int:
    """`room()` inside main() of a fresh interpreter, where the executables call run()."""
    if not _MAIN_ROOM:
        code = inspect.getsource(_down) + inspect.getsource(room)
        code += "def main():\n    print(room())\nmain()\n"
        probe = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        _MAIN_ROOM.append(int(probe.stdout))
    return _MAIN_ROOM[0]


def room_as_in_main() -> int:
    """Give the caller's frame the stack room the executables' main() has, for a command
    called from it below this process's frames (pytest's, xdist's): a deeply nested
    file parses alike. Returns the recursion limit to put back afterwards."""
    old = sys.getrecursionlimit()
    here = room() + 1  # the caller is one frame up
    sys.setrecursionlimit(old + _main_room() - here)
    return old


def new_command() -> None:
    """A new process starts with no lock wait spent and no waiting line printed."""
    lockwait = sys.modules.get("credhelper.lockwait")
    if lockwait is not None:
        lockwait._told = False  # type: ignore[attr-defined]
        lockwait._waited.clear()  # type: ignore[attr-defined]
    # keyring finds the backends that are usable (get_all_keyring, @once) and picks
    # one once per process, under the environment (the session bus) of the time.
    core = sys.modules.get("keyring.core")
    if core is not None:
        core._keyring_backend = None  # type: ignore[attr-defined]
    backend = sys.modules.get("keyring.backend")
    if backend is not None:
        vars(backend.get_all_keyring).pop("saved_result", None)
    # tempfile works out its directory from $TMPDIR once per process.
    tempfile.tempdir = None


def run_cli(
    program: str, args: tuple[str, ...], stdin: bytes, env: Mapping[str, str]
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout bytes, stderr bytes) of `program ARGS` run in this process."""
    enc, ein, eout, eerr, ctype = _stdio_config(env)
    from credhelper import cli, stdstreams

    with (
        tempfile.TemporaryFile() as fin,
        tempfile.TemporaryFile() as fout,
        tempfile.TemporaryFile() as ferr,
    ):
        fin.write(stdin)
        fin.seek(0)
        with timer_kept(), _process_state(), signals_end_the_run():
            os.dup2(fin.fileno(), 0)
            os.dup2(fout.fileno(), 1)
            os.dup2(ferr.fileno(), 2)
            # What Python's start-up gives a process whose fds 0-2 are not terminals.
            sys.stdin = open(0, encoding=enc, errors=ein, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", encoding=enc, errors=eout, closefd=False)  # noqa: SIM115
            sys.stderr = io.TextIOWrapper(
                open(2, "wb", closefd=False),  # noqa: SIM115
                encoding=enc,
                errors=eerr,
                line_buffering=True,
            )
            sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]
            sys.argv = [program, *args]
            os.environ.clear()
            os.environ.update(env)
            if ctype is not None:
                os.environ["LC_CTYPE"] = ctype
            new_command()
            # credhelper.cli.main's set-up but for RLIMIT_CORE: a lowered hard limit
            # cannot be raised again (test_leaks checks it in the executables).
            stdstreams.reserve_std_fds()
            stdstreams.guard_stdout()
            stdstreams.quiet_stderr()
            limit = room_as_in_main()
            try:
                code = cli.run()
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            finally:
                sys.setrecursionlimit(limit)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            new_command()
        fout.seek(0)
        ferr.seek(0)
        return code, fout.read(), ferr.read()
