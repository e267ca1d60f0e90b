"""Closed and failing standard streams, for both executables (stdlib only: on the hot path).

- A closed fd 0, 1 or 2 (`<&-`, `>&-`, `2>&-`) is reopened on /dev/null before
  anything else runs. Besides giving Python usable sys.std* objects, this keeps
  the next open() from landing on fd 1 or 2, where an error message or a child's
  output would be written into the store or a key file. A closed stdin then reads
  as empty input, a closed stdout or stderr discards what is written, as the
  reference Go helpers do.
- A stdout that fails (full disk, `>/dev/full`, a broken pipe, an I/O error)
  gives one line on stderr and exit 1: `neutralise_stdout()` points fd 1 at
  /dev/null first, so the interpreter's final flush cannot print a traceback.
  The CLI's sys.stdout raises StdoutError (`guard_stdout()`), so that failure is
  told apart from every other OSError.
- A stderr that fails (`2>/dev/full`, a full CI log disk) loses the message but
  never the exit code: `quiet_stderr()` makes sys.stderr drop what it cannot
  write, so a usage error still exits 2, a rejected login 5, and so on.
"""

from __future__ import annotations

import io
import os
import sys


def reserve_std_fds() -> None:
    """Reopen any closed fd among 0, 1, 2 on /dev/null and give Python streams for them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


class StdoutError(OSError):
    """A write to (or flush of) the CLI's stdout failed."""


class _GuardedText(io.TextIOWrapper):
    """sys.stdout for the CLI: its own failures raise StdoutError, told apart from others."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError as err:
            raise StdoutError(err.errno, err.strerror) from None

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as err:
            raise StdoutError(err.errno, err.strerror) from None


def guard_stdout() -> None:
    """Make sys.stdout raise StdoutError on failure (the CLI; the helper has its own _write)."""
    out = sys.stdout
    if isinstance(out, _GuardedText) or not isinstance(out, io.TextIOWrapper):
        return
    try:
        out.flush()
        binary = open(1, "wb", closefd=False)  # noqa: SIM115 - lives as long as the process
    except OSError:
        return
    sys.stdout = _GuardedText(
        binary, encoding=out.encoding, errors=out.errors, line_buffering=out.line_buffering
    )


def _write_fd2(data: bytes) -> None:
    try:
        while data:  # os.write may write part of it (a pipe)
            data = data[os.write(2, data) :]
    except OSError:
        pass  # the message is lost; the exit code the caller returns is not


class _QuietBinary(io.RawIOBase):
    """sys.stderr.buffer of _QuietStderr (a child's stderr is pumped through it)."""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2

    def write(self, data: object) -> int:
        raw = bytes(data)  # type: ignore[call-overload]  # any bytes-like object
        _write_fd2(raw)
        return len(raw)


class _QuietStderr(io.TextIOBase):
    """sys.stderr writing straight to fd 2 and dropping what fd 2 refuses (no buffer kept)."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self._encoding = encoding
        self.buffer = _QuietBinary()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # read-only, as on any stream
        return self._encoding

    @property
    def errors(self) -> str:  # type: ignore[override]  # read-only, as on any stream
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2

    def isatty(self) -> bool:
        try:
            return os.isatty(2)
        except OSError:
            return False

    def write(self, text: str) -> int:
        _write_fd2(text.encode(self._encoding, "backslashreplace"))
        return len(text)

    def flush(self) -> None:
        pass


def quiet_stderr() -> None:
    """Make a real sys.stderr drop what it cannot write instead of raising OSError."""
    err = sys.stderr
    if err is None or (err is not sys.__stderr__ and sys.__stderr__ is not None):
        return  # already replaced (a test harness capturing it): left alone
    # Nothing is pending: the interpreter's stderr writes through, and this runs first.
    sys.stderr = _QuietStderr(getattr(err, "encoding", None) or "utf-8")


def neutralise_stdout() -> None:
    """Send anything still buffered for stdout to /dev/null, so exit cannot fail on it."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def start_process(guard: bool = False) -> None:
    """What both executables do before anything else: no core dumps (a dump could
    hold a key or a secret), closed fds 0-2 reopened, a failing stderr made quiet
    and, for the CLI (`guard`), a stdout whose failure is told apart."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    # Closed fds 0-2 become /dev/null before any file is opened.
    reserve_std_fds()
    if guard:
        guard_stdout()
    # A failing stderr loses the one-line message, never the documented exit code.
    quiet_stderr()


def internal_error(err: BaseException, stderr: object = None) -> str:
    """The one line for an unexpected exception: only its type, since its text could
    quote input (a secret). With CREDHELPER_DEBUG=1 the traceback goes to `stderr`
    (default sys.stderr)."""
    if os.environ.get("CREDHELPER_DEBUG") == "1":
        import traceback

        traceback.print_exception(err, file=stderr or sys.stderr)  # type: ignore[arg-type]
    return (
        f"credhelper: internal error ({type(err).__name__}); "
        "set CREDHELPER_DEBUG=1 to see the traceback"
    )


def report_stdout_failure(err: OSError) -> int:
    """One line on stderr for a failed stdout; returns the exit code (1)."""
    neutralise_stdout()
    reason = err.strerror or type(err).__name__
    try:
        sys.stderr.write(f"credhelper: cannot write to standard output: {reason}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return 1
