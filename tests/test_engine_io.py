"""credhelper/engine_io.py: the engine on a pseudo-terminal per terminal, its tail, what follows.

README "Pushing": output copied unchanged to yours, the last 64 KiB kept for the
diagnosis, never printed; each of our stdout/stderr that is a terminal gets a pty
of its own terminal; stdin is /dev/null; credhelper's own line after the engine's
output starts on a line of its own, with the terminal's attributes reset.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CLI, make_env
from tests.terminal import run_on_tty

# The runner's own peak memory is VmHWM (its address space since exec): ru_maxrss
# would carry the high-water mark of the pytest worker that spawned it.
RUNNER = """
import json, os, sys
from credhelper import engine_io
out = engine_io.run(sys.argv[2:], dict(os.environ))
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as r:
    json.dump([out.returncode, out.output[-200:], len(out.output), hwm], r)
"""


def run_io(
    tmp_path: Path, script: str, *, two_ttys: bool = False, stdin: int | None = None
) -> tuple[int, int, bytes, bytes, list[object]]:
    """engine_io.run(sh -c SCRIPT) with stdout on terminal A and stderr on A or on B.

    (bytes on A, bytes on B, first bytes of A, first bytes of B, outcome).
    """
    ma, sa = pty.openpty()
    mb, sb = pty.openpty()
    result = tmp_path / "outcome.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(result), "sh", "-c", script],
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=sa, stderr=sb if two_ttys else sa,
    )  # fmt: skip
    os.close(sa)
    os.close(sb)
    count = {ma: 0, mb: 0}
    head = {ma: b"", mb: b""}
    fds = [ma, mb]
    deadline = time.monotonic() + 120
    try:
        while fds and time.monotonic() < deadline:
            ready, _, _ = select.select(fds, [], [], 1)
            if not ready and proc.poll() is not None:
                break
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    fds.remove(fd)
                count[fd] += len(chunk)
                head[fd] = (head[fd] + chunk)[:400]
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(ma)
        os.close(mb)
    return count[ma], count[mb], head[ma], head[mb], json.loads(result.read_text())


def test_stderr_on_another_terminal_gets_the_engines_stderr(tmp_path: Path) -> None:
    """`credhelper push ... 2>/dev/pts/N`: the engine's errors belong on terminal N."""
    _a, _b, head_a, head_b, _out = run_io(
        tmp_path, "[ -t 1 ] && [ -t 2 ] && echo OUT; echo ERR >&2", two_ttys=True
    )
    assert b"OUT" in head_a and b"ERR" not in head_a, (head_a, head_b)
    assert b"ERR" in head_b and b"OUT" not in head_b, (head_a, head_b)


def test_stdout_and_stderr_on_one_terminal_keep_their_order(tmp_path: Path) -> None:
    """One terminal for both: one pty, so the engine's interleaved writes stay in order."""
    script = "for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done"
    _a, count_b, head_a, _hb, _out = run_io(tmp_path, script)
    expected = b"".join(b"out%d\nerr%d\n" % (i, i) for i in range(1, 9))
    assert head_a.replace(b"\r\n", b"\n") == expected and count_b == 0, head_a


def test_100_mb_of_output_is_shown_whole_with_bounded_memory(tmp_path: Path) -> None:
    """all bytes reach the terminal, the tail stays 64 KiB, RSS stays small."""
    from credhelper import engine_io

    script = "head -c 100000000 /dev/zero | tr '\\0' x; printf 'unauthorized: end'"
    count, _b, _ha, _hb, (status, tail, tail_len, maxrss_kb) = run_io(tmp_path, script)
    assert count == 100_000_000 + len("unauthorized: end")
    assert status == 0 and tail_len == engine_io.TAIL_BYTES
    assert str(tail).endswith("unauthorized: end")
    assert int(maxrss_kb) < 100_000  # well under the 100 MB that went through


def test_the_users_stdin_does_not_reach_the_engine(tmp_path: Path) -> None:
    """the engine's stdin is /dev/null, whatever credhelper's stdin is."""
    r, w = os.pipe()
    os.write(w, b"TYPED-BY-USER\n")
    try:
        _a, _b, head, _hb, (status, _t, _l, _m) = run_io(
            tmp_path, 'read x; echo "got:$x:"; [ -t 0 ] && echo stdin-is-tty; exit 0', stdin=r
        )
    finally:
        os.close(r)
        os.close(w)
    assert status == 0
    assert b"got::" in head and b"TYPED-BY-USER" not in head and b"stdin-is-tty" not in head


def test_an_engine_that_closes_its_streams_and_runs_on_gives_its_status(tmp_path: Path) -> None:
    """no hang, no lost status when the engine closes fds 1/2 early."""
    _a, _b, _ha, _hb, (status, _t, _l, _m) = run_io(tmp_path, "exec 1>&- 2>&-; sleep 1; exit 7")
    assert status == 7


FAKE_SKOPEO = """#!/bin/sh
printf '\\033[8mError: denied: requested access to the resource is denied' >&2
exit 1
"""


def test_credhelpers_diagnosis_starts_its_own_visible_line(tmp_path: Path) -> None:
    """An engine whose last output has no newline and leaves SGR 8 (concealed) on.

    skopeo prints the registry's own error text; credhelper's diagnosis after it must
    be one line of its own that the user can read.
    """
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "skopeo").write_text(FAKE_SKOPEO)
    (shims / "skopeo").chmod(0o700)
    ch = make_env(tmp_path / "e")
    ch.store_creds("127.0.0.1:5999", "alice", "pw-glued-atk")
    env = dict(ch.env, PATH=f"{shims}{os.pathsep}{ch.env['PATH']}")
    argv = [CLI, "push", "--engine", "skopeo", "--from", "oci:/x", "127.0.0.1:5999/a/b:1"]
    piped = ch.cli(*argv[1:], env=env)
    code, tty = run_on_tty(argv, env, [], timeout=60)
    assert piped.returncode == 5 and code == 5
    # Not "...is deniedcredhelper: ..." on one line, nor in the engine's concealed mode.
    assert "\ncredhelper: " in piped.stderr, piped.stderr
    assert b"\ncredhelper: " in tty or b"\r\ncredhelper: " in tty, tty
    before = tty.split(b"credhelper: ")[0]
    assert before.rfind(b"\x1b[0m") > before.rfind(b"\x1b[8m") >= 0, tty


def test_an_engine_line_that_ends_gets_no_blank_line_after_it(tmp_path: Path) -> None:
    """The newline is added only where the engine left its line open."""
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "skopeo").write_text("#!/bin/sh\necho 'Error: denied: access denied' >&2\nexit 1\n")
    (shims / "skopeo").chmod(0o700)
    ch = make_env(tmp_path / "e")
    ch.store_creds("127.0.0.1:5999", "alice", "pw-ended-line")
    env = dict(ch.env, PATH=f"{shims}{os.pathsep}{ch.env['PATH']}")
    piped = ch.cli(
        "push", "--engine", "skopeo", "--from", "oci:/x", "127.0.0.1:5999/a/b:1", env=env
    )
    assert piped.returncode == 5, piped.stderr
    assert "access denied\ncredhelper: " in piped.stderr, piped.stderr
