"""Orderly unwind on SIGTERM, SIGHUP, SIGINT and SIGQUIT, and child processes that die with us.

Every command that holds a temporary file or a child process goes through this
module, so a CI cancel (SIGTERM), a closed terminal (SIGHUP), Ctrl-C (SIGINT) or
Ctrl-\\ (SIGQUIT) leaves nothing behind.

API
---
``guard()``
    Context manager for a whole command. Inside it the four signals raise
    ``Terminated`` (a BaseException, so ``except Exception`` never swallows it):
    every ``finally`` and ``with`` exit runs. When the outermost guard is left by
    ``Terminated`` it calls ``die(signum)``. A second signal during the unwind is
    recorded, never raised, so cleanup code is not interrupted half way.
    Only the main thread can install handlers; elsewhere ``guard`` is a no-op.

``critical()``
    Context manager: a signal arriving inside is held and raised on exit, for the
    few lines between creating a resource and registering its cleanup.

``die(signum)``
    Flush stdio, restore the default disposition and re-raise the signal at
    ourselves, so the parent sees "killed by SIGTERM" (a shell reports 128+signum);
    if the signal does not kill us, ``os._exit(128 + signum)``. Core dumps are
    disabled first: a core file of a process holding secrets would be a leak.

``temp_dir(prefix)``
    Context manager: a fresh 0700 directory (tempfile.mkdtemp), removed with all
    its content on every exit, signals included.

``Child(argv, *, grace=5.0, new_group=True, before_exec=None, **popen_kwargs)``
    A started child process (``.proc`` is the Popen). As a context manager it
    stops the child on every exit that leaves it running: SIGTERM (to its whole
    process group when ``new_group``), then SIGKILL after ``grace`` seconds. On
    Linux the child also gets PR_SET_PDEATHSIG=SIGKILL, so even a SIGKILL of
    credhelper does not orphan it. ``wait()`` waits in short slices so a signal
    is always handled promptly, whatever thread the kernel delivered it to.
    ``new_group=False`` keeps the child in our process group (needed for an
    interactive child that reads the terminal). ``before_exec`` runs in the
    child after the prctl, just before the exec (an exception there fails the
    start with subprocess.SubprocessError).

``start_thread(target, *args)``
    A daemon thread with the four signals blocked, so they reach the main thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, ClassVar, NoReturn

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
DEFAULT_GRACE = 5.0
_PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """Raised in the main thread when one of SIGNALS arrives inside guard()."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _State:
    depth = 0  # nesting of guard()
    defer = 0  # nesting of critical()
    pending: int | None = None  # a signal held by critical()
    unwinding: int | None = None  # the signal being unwound
    saved: ClassVar[dict[int, Any]] = {}


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _State.unwinding is not None:
        return  # already unwinding: let the cleanup finish
    if _State.defer:
        if _State.pending is None:
            _State.pending = signum
        return
    _State.unwinding = signum
    raise Terminated(signum)


def _install() -> None:
    for signum in SIGNALS:
        _State.saved[signum] = signal.signal(signum, _handler)


def _uninstall() -> None:
    for signum, previous in _State.saved.items():
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    _State.saved.clear()


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn the four signals into Terminated for the duration; die() when the outermost exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _State.depth == 0:
        _install()
    _State.depth += 1
    try:
        yield
    except Terminated as stop:
        if _State.depth == 1:
            die(stop.signum)
        raise
    finally:
        _State.depth -= 1
        if _State.depth == 0:
            _uninstall()
            _State.unwinding = None
            _State.pending = None


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold the four signals until the block is done (raise Terminated right after)."""
    _State.defer += 1
    try:
        yield
    finally:
        _State.defer -= 1
    if _State.defer == 0 and _State.pending is not None and _State.unwinding is None:
        signum, _State.pending = _State.pending, None
        _State.unwinding = signum
        raise Terminated(signum)


def die(signum: int) -> NoReturn:
    """Exit as if killed by `signum` (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(Exception):
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # delivery is asynchronous to other threads; give it a moment
    os._exit(128 + signum)


@contextlib.contextmanager
def temp_dir(prefix: str = "credhelper-") -> Iterator[str]:
    """A 0700 temporary directory, removed on every exit (signals included)."""
    path: str | None = None
    # The try starts first: a signal held during mkdtemp is raised as the
    # critical block ends, and the removal must already be in place by then.
    try:
        with critical():
            path = tempfile.mkdtemp(prefix=prefix)
        yield path
    finally:
        if path is not None:
            with critical():  # a signal during the removal is raised once it is done
                shutil.rmtree(path, ignore_errors=True)


def _die_with_parent(
    parent: int, then: Callable[[], None] | None = None
) -> Callable[[], None] | None:
    """preexec_fn: SIGKILL the child when its parent dies (Linux prctl), if available.

    `then` runs next in the child, before the exec.
    """
    if not sys.platform.startswith("linux"):
        return then
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return then

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        if then is not None:
            then()

    return preexec


class Child:
    """A child process that is stopped when we stop (see the module docstring)."""

    def __init__(
        self,
        argv: list[str],
        *,
        grace: float = DEFAULT_GRACE,
        new_group: bool = True,
        before_exec: Callable[[], None] | None = None,
        **popen_kwargs: Any,
    ) -> None:
        self.grace = grace
        self.new_group = new_group
        preexec = _die_with_parent(os.getpid(), before_exec)
        try:
            with critical():
                self.proc = subprocess.Popen(
                    argv, start_new_session=new_group, preexec_fn=preexec, **popen_kwargs
                )
        except Terminated:
            if hasattr(self, "proc"):  # the signal was held until the child existed
                self.stop()
            raise

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Popen.poll() and Popen.wait() take a lock of the Popen and release it in a
    # `finally`. A Terminated raised by our handler between the two (right after
    # the lock is taken) leaves it taken: every later poll() then says "running"
    # and the plain wait() in stop() waits for that lock forever, so the unwind of
    # a cancelled command hung. Each call is therefore made with the signals held
    # (critical()): one that arrives is raised just after it, within the slice.

    def poll(self) -> int | None:
        """The child's return code if it has exited, else None."""
        with critical():
            return self.proc.poll()

    def wait_up_to(self, timeout: float) -> int | None:
        """The child's return code, waiting at most `timeout` seconds; None if it runs on."""
        with critical():
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None

    def wait(self) -> int:
        """The child's return code; a signal to us is handled within a tenth of a second."""
        while True:
            code = self.wait_up_to(0.1)
            if code is not None:
                return code

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.new_group:
                os.killpg(self.proc.pid, signum)
            elif self.poll() is None:
                self.proc.send_signal(signum)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace; also sweep what is left of its group."""
        if self.poll() is None:
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            try:
                while self.poll() is None and time.monotonic() < deadline:
                    self.wait_up_to(0.05)
            except Terminated:
                self._signal(signal.SIGKILL)  # cancelled during the grace: no grace left
                raise
            if self.poll() is None:
                self._signal(signal.SIGKILL)
                while self.wait_up_to(0.1) is None:  # in slices: a signal still ends us
                    pass
        if self.new_group:
            # Grandchildren left in the group (the group id cannot be reused while
            # it has members, so this reaches only what the child started).
            self._signal(signal.SIGKILL)


def start_thread(target: Callable[..., object], *args: object) -> threading.Thread:
    """A started daemon thread that never receives SIGNALS (they go to the main thread)."""

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        target(*args)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
