"""The crontab backend: one line of the user's crontab, read and written with the real
`crontab -l` / `crontab -` (Debian's cron), marked so that no other line is touched.

Our line ends with MARKER (a shell comment). Every other line of the crontab is
kept byte for byte; a crontab that `crontab -l` cannot list is never rewritten.

Quoting: cron hands the command to /bin/sh after turning every unescaped `%` into
a newline (and `\\%` into `%`); see `render` for how any path survives both.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

from credhelper.errors import CredhelperError
from credhelper.schedule.job import Job, check_text

MARKER = "# credhelper-schedule v1: remove with credhelper rotate --unschedule"
# Beside config.json and named after it: doctor treats the store directory as
# credhelper's own only while every name in it starts with config.json or aeskey.
LOG_NAME = "config.json.rotate.log"
UMASK = "umask 077; "
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
        return subprocess.run(
            [exe, *args], input=data, capture_output=True, text=True, timeout=_TIMEOUT, check=False
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


def render(job: Job, store_dir: str) -> str:
    """The crontab line (with its newline) that runs `job`, logging to the store directory."""
    log = os.path.join(store_dir, LOG_NAME)
    words = [f"{name}={_sh_word(check_text(name, value))}" for name, value in job.env]
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
    env: list[tuple[str, str]] = []
    while words and "=" in words[0] and not words[0].startswith("/"):
        name, _, value = words.pop(0).partition("=")
        env.append((name, value))
    if len(words) < 7 or words[-1] != "2>&1" or not words[-2].startswith(">>"):
        return None
    argv = words[:-2]
    if argv[1:6] != ["rotate", "--if-older-than", argv[3], "--yes", "--json"]:
        return None
    if argv[6:] not in ([], ["--reencrypt"]):
        return None
    return Job(argv[0], argv[3], bool(argv[6:]), tuple(env))


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
