"""Run a short command and collect its output: subprocess.run, safe against our signals.

subprocess.run waits through Popen, whose lock a signal can leave taken (see
cleanup.Child.poll): the command could then not be stopped. `run` starts a
cleanup.Child (its own process group, stopped on every exit), feeds its stdin
and reads its output with select under one deadline, and waits in signal-safe
slices. Used for the helper and schedule probes of doctor, crontab and systemctl.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from typing import Any

from credhelper.cleanup import Child


def _feed(key: Any, sel: Any, pending: memoryview) -> memoryview:
    """Write what the child's stdin takes now; close it when all is written."""
    try:
        pending = pending[os.write(key.fd, pending[:65536]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        pending = pending[:0]  # it stopped reading: what it wrote is still read
    if not pending:
        sel.unregister(key.fileobj)
        key.fileobj.close()
    return pending


def _expired(child: Child, deadline: float, argv: list[str], timeout: float) -> None:
    if time.monotonic() >= deadline:
        child.grace = 0.0  # as subprocess.run: killed at the timeout
        raise subprocess.TimeoutExpired(argv, timeout)


def _pump(
    child: Child, data: bytes, deadline: float, argv: list[str], timeout: float
) -> tuple[bytes, bytes]:
    """Feed `data` to the child's stdin and read its stdout and stderr to their end."""
    import selectors

    proc = child.proc
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    pending = memoryview(data)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        if proc.stdin is not None and pending:
            # Written as the child reads, under the deadline (a blocking write of
            # more than a pipe's worth would wait on the child).
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE, None)
        elif proc.stdin is not None:
            proc.stdin.close()
        while sel.get_map():
            _expired(child, deadline, argv, timeout)
            for key, _ in sel.select(min(max(deadline - time.monotonic(), 0.0), 0.1)):
                if key.data is None:
                    pending = _feed(key, sel, pending)
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.extend(chunk)
                else:
                    sel.unregister(key.fileobj)
    return bytes(out), bytes(err)


def run(
    argv: list[str],
    *,
    timeout: float,
    input: str | bytes | None = None,
    text: bool = False,
    **popen_kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run(argv, capture_output=True, timeout=...) that a signal cannot wedge.

    The timeout raises subprocess.TimeoutExpired once the child's group is killed;
    `text` decodes (and encodes `input`) as subprocess's text mode does.
    """
    import io
    import locale

    encoding = locale.getpreferredencoding(False)
    data = input.encode(encoding) if isinstance(input, str) else (input or b"")
    stdin = subprocess.PIPE if input is not None else popen_kwargs.pop("stdin", None)
    popen_kwargs.pop("start_new_session", None)  # a Child has its own session
    deadline = time.monotonic() + timeout
    with Child(
        argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs
    ) as child:
        try:
            out, err = _pump(child, data, deadline, argv, timeout)
            while (code := child.wait_up_to(0.1)) is None:
                _expired(child, deadline, argv, timeout)
        finally:
            for pipe in (child.proc.stdin, child.proc.stdout, child.proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
    if text:

        def decode(raw: bytes) -> str:
            return io.TextIOWrapper(io.BytesIO(raw), encoding=encoding).read()

        return subprocess.CompletedProcess(argv, code, decode(out), decode(err))
    return subprocess.CompletedProcess(argv, code, out, err)
