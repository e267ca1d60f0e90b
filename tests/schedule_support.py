"""Test support for scheduled rotation: the real crontab kept as it was, and a reading
of crontab lines and unit files as cron and systemd read them.

The decoders here are written from crontab(5) and systemd.service(5), not taken from
credhelper.schedule, so a quoting bug in credhelper cannot cancel out in a test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require_tool
from tests.leftovers_plugin import locks_dir

MARKER = "# credhelper-schedule v1"
# Shared by every test run of this user (one crontab per account), outside /tmp itself.
_LOCK = os.path.join(locks_dir(), "credhelper-tests-crontab.lock")


def crontab_list() -> str | None:
    proc = subprocess.run(
        ["crontab", "-l"], capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode != 0:
        assert proc.stderr.startswith("no crontab for"), proc.stderr
        return None
    return proc.stdout


def crontab_set(text: str | None) -> None:
    if text is None:
        subprocess.run(["crontab", "-r"], capture_output=True, timeout=30, check=False)
        return
    subprocess.run(["crontab", "-"], input=text, text=True, timeout=30, check=True)


@contextlib.contextmanager
def crontab_kept() -> Iterator[str | None]:
    """This user's real crontab, restored byte for byte afterwards.

    Tests that change it run one at a time (a lock file), so two of them in
    parallel workers cannot restore each other's state.
    """
    require_tool("crontab")
    fd = os.open(_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = crontab_list()
        try:
            yield before
        finally:
            crontab_set(before)
            assert crontab_list() == before
    finally:
        os.close(fd)


def our_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if MARKER in line]


def cron_command(line: str) -> str:
    """The /bin/sh command cron runs for `line`: time fields dropped; `\\%` is `%`;
    an unescaped `%` ends the command (the rest would be stdin, which we forbid)."""
    fields = line.split(None, 5)
    assert len(fields) == 6, line
    command = fields[5]
    out, i = [], 0
    while i < len(command):
        ch = command[i]
        if ch == "\\" and i + 1 < len(command):
            nxt = command[i + 1]
            out.append(nxt if nxt == "%" else ch + nxt)
            i += 2
            continue
        assert ch != "%", f"unescaped % in crontab command: {line!r}"
        out.append(ch)
        i += 1
    return "".join(out)


def cron_env(home: str | None = None) -> dict[str, str]:
    """The environment cron gives a job: HOME, LOGNAME, SHELL, a minimal PATH."""
    entry = pwd.getpwuid(os.geteuid())
    return {
        "HOME": home or entry.pw_dir,
        "LOGNAME": entry.pw_name,
        "SHELL": "/bin/sh",
        "PATH": "/usr/bin:/bin",
    }


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _unit_words(value: str, *, exec_line: bool) -> list[str]:
    """Words of a unit setting: specifiers (`%%`) first, then C unquoting; in ExecStart=
    `$$` is a `$` in the arguments, while the executable's path is taken literally."""
    words = []
    for index, match in enumerate(_QUOTED.finditer(value)):
        text = match.group(1) if match.group(1) is not None else match.group(2)
        text = text.replace("%%", "\0")
        assert "%" not in text, f"unresolved specifier in {value!r}"
        text = re.sub(r"\\(.)", r"\1", text.replace("\0", "%"))
        if exec_line and index > 0:
            assert "$" not in text.replace("$$", ""), f"variable in {value!r}"
            text = text.replace("$$", "$")
        words.append(text)
    return words


def unit_exec(service: Path) -> tuple[list[str], dict[str, str]]:
    """(argv of ExecStart=, Environment= variables) of a service file."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in service.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = _unit_words(value, exec_line=True)
        elif key == "Environment":
            for word in _unit_words(value, exec_line=False):
                name, _, val = word.partition("=")
                env[name] = val
    return argv, env


def analyze_verify(unit_dir: Path, scope: str, runtime: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze [--user] verify` of our two units (the real checker)."""
    tool = require_tool("systemd-analyze")
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    args = [tool, *(["--user"] if scope == "user" else []), "verify"]
    args += [str(unit_dir / "credhelper-rotate.service"), str(unit_dir / "credhelper-rotate.timer")]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


_LIBFAKETIME = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime")
_OFFSET = re.compile(r"([+-][0-9]+) ?(d|days?)")


def at_offset(command: str, offset: str, extra: dict[str, str] | None = None) -> str:
    """Our cron command with the job's clock moved by `offset` (`+31 days`).

    The job runs under `env -i` with its whole environment in the line, which also
    drops faketime's LD_PRELOAD/FAKETIME set around it. So libfaketime's variables
    (and any `extra` ones, such as a test hook) are added to that written list, right
    after `env -i`: the job gets exactly the line's environment plus these.
    """
    require_tool("faketime")
    lib = next((f"{d}/libfaketime.so.1" for d in _LIBFAKETIME if os.path.isdir(d)), None)
    assert lib is not None, "libfaketime.so.1 not found beside faketime"
    match = _OFFSET.fullmatch(offset.strip())
    assert match is not None, f"offset {offset!r} is not +N days"
    words = {"LD_PRELOAD": lib, "FAKETIME": f"{match.group(1)}d", **(extra or {})}
    prefix = "/usr/bin/env -i "
    assert command.count(prefix) == 1, command
    added = " ".join(f"{name}={shlex.quote(value)}" for name, value in words.items())
    return command.replace(prefix, f"{prefix}{added} ", 1)
