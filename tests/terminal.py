"""Run a command on a real pseudo-terminal and answer its prompts (login, push, rotate)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time


def run_on_tty(
    argv: list[str],
    env: dict[str, str],
    answers: list[tuple[bytes, bytes]],
    timeout: float = 150.0,
    size: tuple[int, int] | None = None,
) -> tuple[int, bytes]:
    """Run `argv` on a pseudo-terminal, answering each prompt in turn; (status, output).

    `answers` pairs a prompt to wait for with the bytes to type; each prompt is
    looked for after the previous one. The whole exchange is bounded by `timeout`.
    `size` (rows, columns) is the window size, as a terminal emulator sets it.
    """
    master, slave = pty.openpty()
    if size is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen, pending, mark = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if pending and pending[0][0] in seen[mark:]:
                mark = seen.index(pending[0][0], mark) + len(pending[0][0])
                os.write(master, pending.pop(0)[1])
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, seen
