"""Waiting for the store lock another process holds: one line on a terminal, saying who.

fsutil.locked() tries the flock(2) once without blocking and comes here only when
another process holds it (so the uncontended write imports nothing more). The wait
stays bounded by the caller's timeout. After NOTICE_AFTER seconds, if stderr is a
terminal, one line says that credhelper is waiting and who holds the lock; when
stderr is not a terminal (docker running the helper, CI logs, scripts) the wait
stays silent, as the LockTimeout line at the end already says what happened.

Who holds it comes from /proc/locks (the kernel's list of flock holders: pid and
inode), so the uncontended path writes nothing extra into the lock file. Of the
holder's command line only a fixed word is ever printed: credhelper's program
name and its subcommand if it is one of credhelper's own. Any other holder is
named by the basename of its executable (/proc/PID/exe, which the process cannot
retitle), never by its argv: argv[0] is whatever it chose (`exec -a TOKEN`), and
another process's argv may hold a password (`login -p ...`).
"""

from __future__ import annotations

import _thread
import contextlib
import os
import sys
import time
from collections.abc import Callable

NOTICE_AFTER = 1.0  # seconds of silent waiting before the line on a terminal
PROGRAMS = ("credhelper", "docker-credential-credhelper")
# Subcommands of both executables; only these words are ever shown from another argv.
SUBCOMMANDS = frozenset(
    {
        "doctor",
        "exec",
        "install",
        "list",
        "login",
        "logout",
        "migrate",
        "push",
        "rotate",
        "uninstall",
        "version",
        "store",
        "get",
        "erase",
    }
)
MAX_LOCKS_BYTES = 4 * 1024 * 1024  # /proc/locks on a busy host; more is not read
MAX_CMDLINE_BYTES = 64 * 1024
MAX_NAME = 64  # characters of a program name shown


def holder_pid(fd: int) -> int | None:
    """The pid /proc/locks names for a FLOCK on `fd`'s inode, other than ours; None if unknown."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", "rb") as locks:
            table = locks.read(MAX_LOCKS_BYTES).decode("ascii", "replace")
    except OSError:
        return None
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 2950 fe:00:2360193 0 EOF"; "-> " marks a waiter.
        fields = line.split()
        if len(fields) < 6 or "->" in fields or fields[1] != "FLOCK":
            continue
        if fields[5].lower() == inode and fields[4].isdigit():
            pid = int(fields[4])
            if pid not in (0, os.getpid()):
                return pid
    return None


def _first_word(arg: str) -> str:
    """The program name in one argv element; any whitespace ends it (a retitled process)."""
    words = arg.split(None, 1)
    return os.path.basename(words[0])[:MAX_NAME] if words else ""


def _executable_name(pid: int) -> str | None:
    """The basename of the file the holder executes: the kernel's, not a title it chose."""
    try:
        target = os.readlink(f"/proc/{pid}/exe")
    except OSError:  # another user's process, or gone
        return None
    name = os.path.basename(target.removesuffix(" (deleted)"))[:MAX_NAME]
    return name or None


def command_name(pid: int) -> str | None:
    """What the holder runs, safe to print (`credhelper login`, `python3`); None if unknown.

    argv (and comm) are whatever the process set, `exec -a TOKEN` or a retitled
    worker included, so nothing from them is printed but the fixed words of
    PROGRAMS and SUBCOMMANDS. Any other holder is named by its executable's file.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read(MAX_CMDLINE_BYTES)
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    # An interpreter comes first for a script (python [-I] .../bin/credhelper login ...).
    for index, name in enumerate(_first_word(a) for a in args[:3]):
        if name in PROGRAMS:
            following = args[index + 1] if index + 1 < len(args) else ""
            return f"{name} {following}" if following in SUBCOMMANDS else name
    return _executable_name(pid)


def describe_holder(fd: int) -> str:
    """`pid 1234: credhelper login`, or what is known of it."""
    from credhelper.store.model import shown

    pid = holder_pid(fd)
    if pid is None:
        return "another process"
    name = command_name(pid)
    return shown(f"pid {pid}: {name}" if name else f"pid {pid}")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        return False


# One command may wait for several locks (the store's, then Docker's config lock):
# it says so at most once, and all its waits together stay within one timeout.
_told = False  # the waiting line was printed by this process
_waited: dict[int, float] = {}  # seconds each thread has spent waiting for locks so far
LABELS = {"config.json.lock": "store lock", ".config.json.credhelper-lock": "Docker config lock"}


def label_for(lock_path: str) -> str:
    """What the lock guards, by its file's name (`store lock`, `Docker config lock`)."""
    return LABELS.get(os.path.basename(lock_path), "lock")


def wait(
    fd: int,
    lock_path: str,
    timeout: float,
    take: Callable[[int, float], bool],
    label: str | None = None,
) -> bool:
    """Take the lock with `take(fd, seconds)` within `timeout`; a line on a terminal at 1 s.

    `timeout` bounds the time this process waits for all its locks together, and
    the line is printed once per process. False if the time passed without the lock.
    """
    thread = _thread.get_ident()  # threads of one process each have their own command
    budget = max(timeout - _waited.get(thread, 0.0), 0.0)
    start = time.monotonic()
    try:
        return _wait(fd, lock_path, budget, take, label or label_for(lock_path))
    finally:
        _waited[thread] = _waited.get(thread, 0.0) + time.monotonic() - start


def _wait(
    fd: int, lock_path: str, timeout: float, take: Callable[[int, float], bool], label: str
) -> bool:
    global _told
    deadline = time.monotonic() + timeout
    if _told or timeout <= NOTICE_AFTER or not _stderr_is_terminal():
        return take(fd, timeout)
    if take(fd, NOTICE_AFTER):
        return True
    remaining = deadline - time.monotonic()
    from credhelper.store.model import shown

    line = (
        f"credhelper: waiting for the {label} {lock_path}, held by {describe_holder(fd)} "
        f"(giving up in {max(remaining, 0):.0f}s; CREDHELPER_LOCK_TIMEOUT sets the wait)"
    )
    _told = True
    with contextlib.suppress(OSError, ValueError):  # a lost notice never fails the write
        print(shown(line), file=sys.stderr, flush=True)
    return remaining > 0 and take(fd, remaining)
