"""The crontab backend: one line of the user's crontab, read and written with the real
`crontab -l` / `crontab -` (Debian's cron), marked so that no other line is touched.

Our line ends with MARKER (a shell comment). Every other line of the crontab is
kept byte for byte; a crontab that `crontab -l` cannot list is never rewritten.

Quoting: cron hands the command to /bin/sh after turning every unescaped `%` into
a newline (and `\\%` into `%`); see `render` for how any path survives both.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess

from credhelper import childenv, childrun
from credhelper.errors import CredhelperError, UsageError
from credhelper.schedule.job import Job, check_text, valid_period

MARKER = "# credhelper-schedule v1: remove with credhelper rotate --unschedule"
# Beside config.json and named after it: doctor treats the store directory as
# credhelper's own only while every name in it starts with config.json or aeskey.
LOG_NAME = "config.json.rotate.log"
UMASK = "umask 077; "
ENV_EXE = "/usr/bin/env"
BASE_PATH = "/usr/bin:/bin"
TIMES = {"daily": "17 3 * * *", "hourly": "17 * * * *", "5min": "*/5 * * * *"}
_TIMEOUT = 30
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


class CronError(CredhelperError):
    """crontab is missing or refused to list or install the crontab."""


def crontab_path() -> str | None:
    return shutil.which("crontab")


def _run(args: list[str], data: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = crontab_path()
    if exe is None:
        raise CronError("credhelper: crontab is not installed (apt-get install cron)")
    try:
        # crontab needs nothing of ours: no key or login variable reaches it.
        return childrun.run(
            [exe, *args],
            input=data,
            env=childenv.minimal(),
            text=True,
            timeout=_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CronError(f"credhelper: crontab {' '.join(args)} failed: {err}") from None


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    """crontab's complaint on one line (it may print several)."""
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    return "; ".join(lines) or f"exit status {proc.returncode}"


def read() -> str | None:
    """The current user's crontab as `crontab -l` prints it; None when there is none."""
    proc = _run(["-l"])
    if proc.returncode == 0:
        return proc.stdout
    if proc.stderr.strip().startswith("no crontab for"):
        return None
    raise CronError(f"credhelper: crontab -l failed, so the crontab was left alone: {_said(proc)}")


def write(text: str) -> None:
    """Install `text` as the crontab (`crontab -`), or remove the crontab when empty."""
    proc = _run(["-"], text) if text else _run(["-r"])
    if proc.returncode != 0:
        raise CronError(
            f"credhelper: crontab refused the change, so nothing changed: {_said(proc)}"
        )


def _sh_word(text: str) -> str:
    # Single quotes make every byte literal to sh; a quote is closed, escaped and
    # reopened. A backslash right before `%` would pair with the backslash that
    # escapes the `%` for cron, so the word is split there (`\''%`).
    if _PLAIN.fullmatch(text):
        return text
    quoted = "'" + text.replace("'", "'\"'\"'") + "'"
    return quoted.replace("\\%", "\\''%")


def _base_env() -> list[tuple[str, str]]:
    """What the job gets besides its own variables: cron's basics, written out."""
    try:
        entry = pwd.getpwuid(os.geteuid())
        home, name = entry.pw_dir, entry.pw_name
    except KeyError:
        home, name = os.path.expanduser("~"), str(os.geteuid())
    return [("HOME", home), ("LOGNAME", name), ("PATH", BASE_PATH)]


def render(job: Job, store_dir: str) -> str:
    """The crontab line (with its newline) that runs `job`, logging to the store directory.

    cron gives a job every `NAME=value` line above it in the crontab (a user's
    `CREDHELPER_HOME=` or `LD_PRELOAD=` for their other jobs). So the job runs
    under `env -i` with its whole environment written in the line: HOME, LOGNAME
    and PATH as cron would set them, then the job's own variables.
    """
    log = os.path.join(store_dir, LOG_NAME)
    if "=" in job.argv()[0]:
        # env(1) reads any word with "=" before the command as a variable (an
        # absolute path too) and has no way to quote it: the job would never run.
        raise UsageError(
            f"credhelper: cannot schedule with cron: the path {job.argv()[0]!r} contains "
            "'=', which env would read as a variable; install credhelper under a path "
            "without '='"
        )
    words = [ENV_EXE, "-i"]
    words += [f"{n}={_sh_word(check_text(n, v))}" for n, v in (*_base_env(), *job.env)]
    words += [_sh_word(check_text("path", word)) for word in job.argv()]
    command = UMASK + " ".join(words) + f" >>{_sh_word(check_text('log', log))} 2>&1"
    # After the split above no `\` precedes a `%`, so `\%` always reads as `%` to cron.
    return f"{TIMES[job.interval]} {command.replace('%', chr(92) + '%')} {MARKER}\n"


def cron_command(line: str) -> str | None:
    """The shell command cron runs for `line` (time fields removed, `%` decoded).

    None if the line has an unescaped `%` (cron would feed the rest to stdin) or
    fewer than six fields.
    """
    fields = line.rstrip("\n").split(None, 5)
    if len(fields) < 6 or fields[0].startswith("#") or fields[0].startswith("@"):
        return None
    out: list[str] = []
    escaped = False
    for ch in fields[5]:
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "%":
            return None
        escaped = ch == "\\"
        out.append(ch)
    return "".join(out)


def is_ours(line: str) -> bool:
    return line.rstrip("\n").endswith(" " + MARKER)


def parse(line: str) -> Job | None:
    """The Job of one of our lines, or None if it was edited out of our form."""
    command = cron_command(line)
    if command is None or not command.startswith(UMASK):
        return None
    try:
        words = shlex.split(command[len(UMASK) :], comments=True)
    except ValueError:
        return None
    sealed = words[:2] == [ENV_EXE, "-i"]
    del words[: 2 if sealed else 0]
    env: list[tuple[str, str]] = []
    base = _base_env() if sealed else []
    while words and "=" in words[0] and not words[0].startswith("/"):
        name, _, value = words.pop(0).partition("=")
        # The basics exactly as render writes them are not the job's own; an edited
        # HOME= or PATH= is kept, so that doctor names it (schedule.foreign-env).
        if (name, value) not in base:
            env.append((name, value))
    if len(words) < 7 or words[-1] != "2>&1" or not words[-2].startswith(">>"):
        return None
    argv = words[:-2]
    if argv[1:6] != ["rotate", "--if-older-than", argv[3], "--yes", "--json"]:
        return None
    if argv[6:] not in ([], ["--reencrypt"]) or not valid_period(argv[3]):
        return None
    return Job(argv[0], argv[3], bool(argv[6:]), tuple(env), sealed)


_ASSIGN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
# What a crontab environment line can change for a job of the older, unsealed
# form; SHELL changes any job (cron runs the command with $SHELL -c).
_AFFECTING_NAMES = ("HOME", "PATH")
_AFFECTING_PREFIXES = ("CREDHELPER_", "DOCKER_", "VAULT_", "BAO_", "DBUS_", "XDG_", "LD_", "PYTHON")
_SHELLS = ("sh", "bash", "dash", "ksh", "mksh", "zsh")


def env_lines_before_ours(text: str) -> list[tuple[str, str]]:
    """(name, value) of the `NAME=value` lines above our first line: what cron
    adds to our job's environment (crontab(5))."""
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        if is_ours(line):
            break
        match = _ASSIGN.match(line)
        if match is not None and not line.lstrip().startswith("#"):
            found.append((match.group(1), line[match.end() :].strip().strip("'\"")))
    return found


def affecting(env_lines: list[tuple[str, str]], sealed: bool) -> list[str]:
    """The names among crontab environment lines that change what our job does."""
    names = []
    for name, value in env_lines:
        if name == "SHELL":
            if os.path.basename(value) not in _SHELLS:
                names.append(name)
        elif not sealed and (name in _AFFECTING_NAMES or name.startswith(_AFFECTING_PREFIXES)):
            names.append(name)
    return sorted(set(names))


def without_ours(text: str) -> tuple[str, list[str]]:
    """(`text` minus our lines, our lines). Every other line is kept byte for byte."""
    kept: list[str] = []
    ours: list[str] = []
    for line in text.splitlines(keepends=True):
        (ours if is_ours(line) else kept).append(line)
    return "".join(kept), ours


def find() -> list[str]:
    """Our lines in the current crontab (normally one); [] without crontab or a crontab."""
    if crontab_path() is None:
        return []
    text = read()
    return without_ours(text)[1] if text is not None else []


def install(job: Job, store_dir: str) -> bool:
    """Put our line in the crontab, replacing an earlier one; True if one was replaced."""
    text = read() or ""
    kept, ours = without_ours(text)
    if kept and not kept.endswith("\n"):
        kept += "\n"  # crontab refuses a last line without its newline
    write(kept + render(job, store_dir))
    return bool(ours)


def uninstall() -> bool:
    """Remove our line(s); True if there was one. Other lines stay byte for byte."""
    if crontab_path() is None:
        return False
    text = read()
    if text is None:
        return False
    kept, ours = without_ours(text)
    if ours:
        write(kept)
    return bool(ours)
