"""The writers' lock: a bounded, exclusive flock(2) on a never-deleted 0600 file.

Only writers import this (through `fsutil.locked`), so neither its code nor the
signal/threading imports of a contended wait are on the `get`/`list` hot path.
"""

from __future__ import annotations

import errno
import os
import time

from credhelper.errors import LockTimeout, StoreError
from credhelper.fsutil import PRIVATE_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time the lazy stand-in, as in fsutil (write path cost)
    import contextlib
    from collections.abc import Iterator
else:
    from credhelper import lazycontext as contextlib

DEFAULT_LOCK_TIMEOUT = 20.0
MAX_LOCK_TIMEOUT = 3600.0  # CREDHELPER_LOCK_TIMEOUT above this uses the default
MIN_LOCK_WAIT = 0.001  # a shorter timer can fire before flock() is even entered


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


def lock_timeout() -> float:
    raw = os.environ.get("CREDHELPER_LOCK_TIMEOUT")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        # "inf" and "nan" parse as floats; an infinite wait is exactly what the
        # bound exists to prevent, so they fall back to the default, as does a
        # wait beyond MAX_LOCK_TIMEOUT (setitimer cannot even arm 1e12 s).
        if 0 <= value <= MAX_LOCK_TIMEOUT:  # also rejects nan
            return value
    return DEFAULT_LOCK_TIMEOUT


class _LockWaitExpired(Exception):
    """Raised by the SIGALRM handler to interrupt a blocking flock()."""


def _expire(_signum: int, _frame: object) -> None:
    raise _LockWaitExpired


def _flock_bounded(fd: int, wait: float) -> bool:
    """Take an exclusive flock on `fd`, waiting at most `wait` seconds; False on timeout.

    Why not filelock: it waits by polling (try, sleep, try again), which under a
    few hundred concurrent writers burns the CPU the holder needs and serves the
    waiters in no order, so some of them time out; and importing it costs more
    than a whole `get` (~30 ms per write). A blocking flock() sleeps in the kernel
    until the holder releases, and a one-shot real-time timer bounds the wait.
    """
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        if wait <= 0:
            return False
    import signal  # only when another process holds the lock: each costs ~1 ms to import
    import threading

    if threading.current_thread() is not threading.main_thread():
        # Signals reach only the main thread; other threads poll with backoff.
        deadline = time.monotonic() + wait
        pause = 0.002
        while time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pause = min(pause * 2, 0.05)
        return False
    previous = signal.signal(signal.SIGALRM, _expire)
    try:
        try:
            # Armed inside the try: a tiny wait may expire before flock() starts.
            signal.setitimer(signal.ITIMER_REAL, max(wait, MIN_LOCK_WAIT))
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        except _LockWaitExpired:
            return False
        finally:
            _disarm()
    finally:
        signal.signal(signal.SIGALRM, previous)


def _disarm() -> None:
    """Stop the timer; an alarm that fires while stopping it is absorbed."""
    import signal

    for _attempt in range(3):
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            return
        except _LockWaitExpired:
            continue


@contextlib.contextmanager
def locked(lock_path: str, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path`, waiting at most `timeout` seconds.

    The lock is a flock(2) on a 0600 file that is never deleted (deleting a flock
    file lets two processes lock two different inodes of one name). The kernel
    drops the lock when its holder dies, so a SIGKILLed writer never leaves a
    stale lock behind.
    """
    wait = lock_timeout() if timeout is None else timeout
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StoreError(
                f"credhelper: refusing lock file {lock_path}: it is a symbolic link; remove it"
            ) from None
        raise StoreError(
            f"credhelper: cannot open lock file {lock_path}: {_describe(err)}"
        ) from None
    try:
        if not _flock_bounded(fd, 0):
            # Held by another process: wait, bounded; a terminal is told who holds it.
            from credhelper import lockwait

            if not lockwait.wait(fd, lock_path, wait, _flock_bounded):
                raise LockTimeout(
                    f"credhelper: gave up after {wait:g}s waiting for the lock {lock_path}; "
                    f"{lockwait.describe_holder(fd)} holds it "
                    "(set CREDHELPER_LOCK_TIMEOUT to wait longer)"
                )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
