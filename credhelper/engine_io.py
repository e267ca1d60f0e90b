"""How a push engine's output reaches the user: a pseudo-terminal on a terminal, pipes elsewhere.

On a terminal the user must see skopeo/podman/docker exactly as if run directly
(progress bars, `\\r` redraws, colours), so each of our stdout/stderr that is a
terminal is replaced for the engine by a pseudo-terminal whose output is copied
byte for byte to that terminal (one pty per terminal: stdout and stderr on two
terminals stay apart); the window size follows ours (SIGWINCH). A stream that is
not a terminal gets a pipe, copied the same way. Either way a bounded tail of
everything the engine wrote is kept for the diagnosis (auth or daemon failure):
credhelper reads it, never prints it.

The engine is a cleanup.Child in its own session, without a controlling terminal
(its stdin is /dev/null: nothing it could prompt for is credhelper's to answer);
a signal to credhelper stops it, then the pty and pipes are closed here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from credhelper import cleanup
from credhelper.errors import CredhelperError, ExitCode

TAIL_BYTES = 64 * 1024
CHUNK = 64 * 1024
POLL = 0.1  # seconds between checks that the engine is still running
DRAIN = 2.0  # seconds of output still read after the engine exited


class EngineStartFailed(CredhelperError):
    """The engine could not be started at all."""

    exit_code = ExitCode.ENGINE


@dataclass
class Outcome:
    returncode: int
    output: str  # the tail of stdout+stderr, for diagnosis only
    # What to write to our stderr before credhelper's own next line there: a newline
    # if the engine left that line open, and on a terminal an SGR reset first (the
    # engine may have left it concealed, \e[8m, or coloured). See start_own_line.
    before_own_line: bytes = b""


class Tail:
    """The last TAIL_BYTES bytes written, across all streams, and how each stream ended."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self.data = bytearray()
        self.last: dict[int, tuple[int, int]] = {}  # our fd -> (order, last byte) written
        self.count = 0

    def add(self, chunk: bytes, dest: int | None = None) -> None:
        self.data.extend(chunk)
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
        if dest is not None and chunk:
            self.count += 1
            self.last[dest] = (self.count, chunk[-1])

    def before_own_line(self) -> bytes:
        """The bytes that put credhelper's next stderr line on a line of its own, visible."""
        shared = [fd for fd in self.last if fd == 2 or _same_file(fd, 2)]
        if not shared:
            return b""
        _order, byte = max(self.last[fd] for fd in shared)
        reset = b"\x1b[0m" if _is_tty(2) else b""
        return reset + (b"" if byte == ord("\n") else b"\n")

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _is_tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _same_file(a: int, b: int) -> bool:
    """Whether our fds `a` and `b` are one file (one terminal, one pipe)."""
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino, sa.st_rdev) == (sb.st_dev, sb.st_ino, sb.st_rdev)


def start_own_line(outcome: Outcome) -> None:
    """Before credhelper's own line after the engine's output: end its line, reset SGR."""
    data, outcome.before_own_line = outcome.before_own_line, b""
    if data:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        _forward(2, data)


def _copy_size(src: int, dst: int) -> None:
    """Give the pty `dst` the window size of terminal `src` (the kernel then SIGWINCHes)."""
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def _raw_output(fd: int) -> None:
    """No \\n -> \\r\\n on the pty: what we copy is exactly what the engine wrote."""
    with contextlib.suppress(termios.error, OSError):
        attrs = termios.tcgetattr(fd)
        attrs[1] &= ~termios.ONLCR
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


@dataclass
class _Plumbing:
    stdout: int  # the fd the engine writes its stdout to
    stderr: int
    sources: dict[int, int]  # our read end -> our own fd (1 or 2) it is copied to
    child_ends: list[int]  # closed here once the engine has them
    ptys: list[tuple[int, int]]  # (pty master, our terminal fd whose size it follows)


def _plumb() -> _Plumbing:
    """A pty per terminal among our streams, pipes for the others.

    stdout and stderr on one terminal share one pty (the engine's writes keep their
    order); on two terminals each gets its own, so the engine's errors appear on
    stderr's terminal and its output on stdout's.
    """
    ends: dict[int, int] = {}
    sources: dict[int, int] = {}
    child_ends: list[int] = []
    ptys: list[tuple[int, int]] = []
    for fd in (1, 2):
        if not _is_tty(fd):
            continue
        if fd == 2 and 1 in ends and _same_file(1, 2):
            ends[2] = ends[1]
            continue
        master, slave = os.openpty()
        _copy_size(fd, master)
        _raw_output(slave)
        sources[master] = fd
        child_ends.append(slave)
        ptys.append((master, fd))
        ends[fd] = slave
    for fd in (1, 2):
        if fd not in ends:
            read_end, write_end = os.pipe()
            sources[read_end] = fd
            child_ends.append(write_end)
            ends[fd] = write_end
    return _Plumbing(ends[1], ends[2], sources, child_ends, ptys)


@contextlib.contextmanager
def _window_follows(plumbing: _Plumbing, child: cleanup.Child) -> Iterator[None]:
    """While the engine runs, a SIGWINCH to us resizes its pty and is passed on to it.

    The pty is not the engine's controlling terminal (so an engine that opens
    /dev/tty to prompt fails at once, as it did with pipes, instead of waiting for
    input nobody can give), so the kernel does not signal it: we do, to its group.
    Signal handlers run in the main thread only; elsewhere the size stays as it began.
    """
    ptys = plumbing.ptys
    if not ptys or not hasattr(signal, "SIGWINCH"):
        yield
        return
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def resize(_signum: int, _frame: FrameType | None) -> None:
        for master, terminal in ptys:
            _copy_size(terminal, master)
        if child.proc.returncode is None:  # never to a reaped engine's (reusable) group id
            with contextlib.suppress(OSError):
                os.killpg(child.proc.pid, signal.SIGWINCH)

    previous = signal.signal(signal.SIGWINCH, resize)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _forward(fd: int, chunk: bytes) -> None:
    """Write all of `chunk` to our fd; if our output went away, drop it and keep draining."""
    view = memoryview(chunk)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[written:]


def _read(fd: int) -> bytes:
    """One chunk; b"" at the end (EOF of a pipe, EIO of a pty master whose slave closed)."""
    try:
        return os.read(fd, CHUNK)
    except OSError as err:
        if err.errno == errno.EIO:
            return b""
        raise


def _copy_until_exit(child: cleanup.Child, sources: dict[int, int], tail: Tail) -> int:
    """Copy every source to its destination until the engine exits and its output is drained.

    A grandchild that keeps a stream open past the engine's exit does not keep us
    here: once the engine is gone, a poll interval without output ends it, and so
    does DRAIN seconds of a grandchild that goes on writing (it is then stopped
    with the engine's group).
    """
    open_fds = dict(sources)
    drain_until: float | None = None
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], POLL)
        for fd in ready:
            chunk = _read(fd)
            if not chunk:
                del open_fds[fd]
                continue
            _forward(open_fds[fd], chunk)
            tail.add(chunk, open_fds[fd])
        if drain_until is None and child.poll() is not None:
            drain_until = time.monotonic() + DRAIN
        if drain_until is not None and (not ready or time.monotonic() > drain_until):
            break
    return child.wait()


def run(argv: list[str], env: dict[str, str]) -> Outcome:
    """Run the engine with its output shown to the user unchanged; its status and tail."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    tail = Tail()
    plumbing: _Plumbing | None = None
    try:
        with cleanup.critical():  # a signal now is raised once the fds are ours to close
            plumbing = _plumb()
        try:
            child = cleanup.Child(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=plumbing.stdout,
                stderr=plumbing.stderr,
                env=env,
            )
        except FileNotFoundError:
            raise EngineStartFailed(f"credhelper: cannot run {argv[0]}: not found") from None
        except (OSError, subprocess.SubprocessError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise EngineStartFailed(f"credhelper: cannot run {argv[0]}: {reason}") from None
        for fd in plumbing.child_ends:
            os.close(fd)
        plumbing.child_ends.clear()
        with child, _window_follows(plumbing, child):
            returncode = _copy_until_exit(child, plumbing.sources, tail)
    finally:
        if plumbing is not None:
            for fd in [*plumbing.child_ends, *plumbing.sources]:
                with contextlib.suppress(OSError):
                    os.close(fd)
    return Outcome(returncode, tail.text(), tail.before_own_line())
