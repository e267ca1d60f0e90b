"""One credential-helper protocol call to another program (`docker-credential-NAME
ACTION`), bounded: an allow-listed environment, stdin written and stdout/stderr
read within CALL_TIMEOUT, at most MAX_OUTPUT bytes of answer, and the child
stopped on every exit (signals included, see cleanup.Child). Without a terminal the
child runs in a session of its own and everything left in it is stopped with it;
on one (a pinentry may ask there) it shares ours, and output still held open by a
process it left behind is no longer waited for DRAIN s after it exited.

The answer (which may hold a secret) is returned only to the caller: it is never
logged, and a failing call's reason never echoes output that looks like one.
"""

from __future__ import annotations

import os
import selectors
import time

from credhelper import cleanup

MAX_OUTPUT = 1 << 20  # per call, as the protocol's own input limit
MAX_STDERR = 4096  # only the first line is ever shown
MAX_SERVER = 4096  # bytes; longer names are reported, not sent
MAX_SERVERS = 10000  # a list naming more is refused whole (each get is a process)
CALL_TIMEOUT = 120.0  # per call: a gpg pinentry may be waiting for the user
# After the helper itself exited, how long output still open in a process it left
# behind (a daemon holding its stdout) is read before the call ends without it.
DRAIN = 0.5
# What pass (gpg, gpg-agent, pinentry) and a Secret Service client need, beside
# childenv's PATH, HOME and locale. Never CREDHELPER_*, DOCKER_*, vault tokens.
KEEP_ENV = (
    "GNUPGHOME",
    "GPG_TTY",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_DIRS",
    "XDG_CONFIG_DIRS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "TERM",
    "TMPDIR",
)
KEEP_PREFIX = "PASSWORD_STORE_"  # pass's own settings (directory, key, gpg options)


class CallFailed(Exception):
    """One call went wrong; the message is one line, safe to show."""


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    from credhelper import childenv

    source = dict(os.environ) if base is None else base
    env = childenv.minimal(KEEP_ENV, source)
    env.update({k: v for k, v in source.items() if k.startswith(KEEP_PREFIX)})
    return env


def first_line(data: bytes) -> str:
    """The first non-empty line of a helper's message, printable and short."""
    for line in data.decode("utf-8", "replace").splitlines():
        text = "".join(ch if ch.isprintable() else "?" for ch in line.strip())
        if text:
            return text[:200]
    return ""


def _pump(child: cleanup.Child, stdin: bytes, deadline: float) -> tuple[bytes, bytes]:
    """Feed stdin, read stdout/stderr with caps, all within CALL_TIMEOUT."""
    proc = child.proc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)  # select says room, not how much
            sel.register(proc.stdin, selectors.EVENT_WRITE, None)
        else:
            proc.stdin.close()
        drained: float | None = None
        while sel.get_map():
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                raise CallFailed(f"no answer within {CALL_TIMEOUT:.0f} s")
            if drained is None and child.poll() is not None:
                drained = now + DRAIN  # what it wrote before exiting is in the pipe
            if drained is not None and now >= drained:
                break  # only something it left behind holds the pipe open
            for key, _ in sel.select(min(left, 0.2)):
                if key.data is None:
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fileobj)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                if buf is out:
                    out += chunk
                    if len(out) > MAX_OUTPUT:
                        raise CallFailed("its answer is larger than 1 MiB")
                elif len(err) < MAX_STDERR:
                    err += chunk[: MAX_STDERR - len(err)]  # the rest is read and dropped
    return bytes(out), bytes(err)


def _wait(child: cleanup.Child, deadline: float) -> int:
    """Its exit status; one that closed its pipes but runs on is stopped at the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CallFailed(f"no answer within {CALL_TIMEOUT:.0f} s")
        code = child.wait_up_to(min(left, 0.1))  # signal-safe (cleanup.Child.poll)
        if code is not None:
            return code


def _on_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def call(path: str, action: str, stdin: bytes = b"") -> bytes:
    """Run `path action` with `stdin`; its stdout, or CallFailed with its one-line reason."""
    import subprocess

    pipe = subprocess.PIPE
    try:
        # On a terminal the helper stays in our process group: a pinentry or gpg that
        # asks there must keep it (a new session has no terminal). Otherwise it gets a
        # session of its own, so that what it leaves running is stopped with it.
        child = cleanup.Child(
            [path, action],
            new_group=not _on_terminal(),
            env=child_env(),
            close_fds=True,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
        )
    except OSError as err:
        raise CallFailed(f"cannot run it: {err.strerror or err}") from None
    try:
        with child:
            deadline = time.monotonic() + CALL_TIMEOUT
            out, err_text = _pump(child, stdin, deadline)
            code = _wait(child, deadline)
    finally:
        for stream in (child.proc.stdin, child.proc.stdout, child.proc.stderr):
            if stream is not None:
                stream.close()
    if code != 0:
        raise CallFailed(failure_reason(out, err_text, code))
    return out


UNUSABLE = "its answer was not usable (not shown: it may hold a secret)"


def may_hold_answer(data: bytes) -> bool:
    """Whether a helper's text could carry an answer anywhere in it: JSON punctuation,
    or the field name (`Secret`, `SECRET`: a debug line), after any BOM, prefix or
    line (the secret itself is not known here). gpg's "No secret key" is still shown."""
    return any(mark in data for mark in (b"{", b"[", b'"', b"Secret", b"SECRET"))


def failure_reason(out: bytes, err: bytes, code: int) -> str:
    """A failing call's one line. Protocol helpers print their error on stdout, other
    tools on stderr; a stream that may hold the answer is never echoed, whole."""
    for stream in (out, err):
        if may_hold_answer(stream):
            return UNUSABLE
    return first_line(out) or first_line(err) or f"exit status {code}"
