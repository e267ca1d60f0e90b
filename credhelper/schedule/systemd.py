"""The systemd backend: `credhelper-rotate.service` + `credhelper-rotate.timer`, as user
units (~/.config/systemd/user) for a user and system units (/etc/systemd/system) for root.

Both files start with MARKER; a unit of that name without it is someone else's and
is never overwritten or removed. The units are written (0600, atomically) even where
systemd is not running; `systemctl` is called only where it manages this session and
the unit directory is the real one.

Hooks for tests and packaging: CREDHELPER_SYSTEMD_SCOPE=user|system picks the kind of
unit (default: system for root), CREDHELPER_SYSTEMD_UNIT_DIR=DIR writes the units
there and never calls systemctl (a package build root, a test directory).
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess

from credhelper import childenv, childrun, fsutil
from credhelper.errors import CredhelperError, UsageError
from credhelper.schedule.job import Job, check_text, valid_period

MARKER = "# credhelper-schedule v1: remove with credhelper rotate --unschedule"
UNIT = "credhelper-rotate"
SCOPE_ENV = "CREDHELPER_SYSTEMD_SCOPE"
DIR_ENV = "CREDHELPER_SYSTEMD_UNIT_DIR"
SYSTEM_DIR = "/etc/systemd/system"
CALENDAR = {"daily": ("daily", "1h"), "hourly": ("hourly", "5m"), "5min": ("*:0/5", "0")}
_TIMEOUT = 60
_WORD = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORDS = re.compile(r'"(?:[^"\\]|\\.)*"(?: "(?:[^"\\]|\\.)*")*')


class UnitError(CredhelperError):
    """A unit file in the way is not ours, or systemctl failed."""


def scope() -> str:
    forced = os.environ.get(SCOPE_ENV)
    if forced:
        if forced not in ("user", "system"):
            raise UsageError(f"credhelper: {SCOPE_ENV} must be user or system, not {forced!r}")
        return forced
    return "system" if os.geteuid() == 0 else "user"


def unit_dir() -> str:
    override = os.environ.get(DIR_ENV)
    if override:
        return os.path.abspath(override)
    if scope() == "system":
        return SYSTEM_DIR
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "systemd", "user")


def unit_paths() -> tuple[str, str]:
    """(service, timer) paths."""
    base = os.path.join(unit_dir(), UNIT)
    return base + ".service", base + ".timer"


def _quote(text: str, *, exec_word: bool) -> str:
    # Inside double quotes systemd undoes C escapes; `%` starts a specifier
    # everywhere and `$` a variable in ExecStart=, so both are doubled.
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return '"' + (text.replace("$", "$$") if exec_word else text) + '"'


def _unquote(text: str, *, exec_word: bool) -> str:
    text = re.sub(r"\\(.)", r"\1", text).replace("%%", "%")
    return text.replace("$$", "$") if exec_word else text


def _check_executable(path: str) -> str:
    # systemd refuses an executable whose path has a quote or a backslash ("special
    # characters"), however it is escaped: say so instead of writing a dead unit.
    if any(c in path for c in "'\"\\"):
        raise UsageError(
            f"credhelper: cannot schedule with systemd: the executable path {path!r} contains "
            "a quote or a backslash, which systemd refuses; install credhelper under a plainer "
            "path, or use cron (CREDHELPER_SCHEDULER=cron)"
        )
    return check_text("the credhelper executable", path)


def render_service(job: Job) -> str:
    lines = [
        MARKER,
        "[Unit]",
        f"Description=Rotate the credhelper key when it is older than {job.period}",
        "",
        "[Service]",
        "Type=oneshot",
        "UMask=0077",
    ]
    for name, value in job.env:
        lines.append("Environment=" + _quote(f"{name}={check_text(name, value)}", exec_word=False))
    # systemd expands $VAR in the arguments but not in the executable's path.
    argv = job.argv()
    words = [_quote(_check_executable(argv[0]), exec_word=False)]
    words += [_quote(check_text("argument", w), exec_word=True) for w in argv[1:]]
    lines.append("ExecStart=" + " ".join(words))
    return "\n".join(lines) + "\n"


def render_timer(job: Job) -> str:
    calendar, delay = CALENDAR[job.interval]
    return "\n".join(
        [
            MARKER,
            "[Unit]",
            f"Description=Check the credhelper key's age {job.interval_text} "
            f"(rotate at {job.period})",
            "",
            "[Timer]",
            f"OnCalendar={calendar}",
            f"RandomizedDelaySec={delay}",
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def parse_service(text: str) -> Job | None:
    """The Job of our service file, or None if it is not in the form we write."""
    if not text.startswith(MARKER + "\n"):
        return None
    env: list[tuple[str, str]] = []
    argv: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("Environment="):
            match = _WORD.fullmatch(line[len("Environment=") :])
            if match is None:
                return None
            name, _, value = _unquote(match.group(1), exec_word=False).partition("=")
            env.append((name, value))
        elif line.startswith("ExecStart="):
            rest = line[len("ExecStart=") :]
            if argv is not None or _WORDS.fullmatch(rest) is None:
                return None
            found = [m.group(1) for m in _WORD.finditer(rest)]
            argv = [_unquote(w, exec_word=i > 0) for i, w in enumerate(found)]
    if argv is None or len(argv) < 6:
        return None
    if argv[1:6] != ["rotate", "--if-older-than", argv[3], "--yes", "--json"]:
        return None
    if argv[6:] not in ([], ["--reencrypt"]) or not valid_period(argv[3]):
        return None
    return Job(argv[0], argv[3], bool(argv[6:]), tuple(env))


def _read(path: str) -> str | None:
    raw = fsutil.read_file_nofollow(path, "unit file", limit=1 << 20)
    return raw.decode("utf-8", "replace") if raw is not None else None


def _ours_or_absent(path: str) -> bool:
    """True if `path` is ours, False if absent; UnitError if someone else's."""
    try:
        text = _read(path)
    except CredhelperError as err:
        raise UnitError(f"{err.message}; it is not credhelper's, so it was left alone") from None
    if text is None:
        return False
    if not text.startswith(MARKER + "\n"):
        raise UnitError(
            f"credhelper: refusing to touch {path}: it was not written by credhelper "
            "(remove or rename it yourself first)"
        )
    return True


def find() -> tuple[str, Job | None] | None:
    """(path, its Job) when our units exist, else None. The Job is None when the
    service was edited, or when our timer is missing or not ours (a --schedule
    killed between the two writes): either way the job would not run as written."""
    service, timer = unit_paths()
    try:
        text = _read(service)
        timer_text = _read(timer)
    except CredhelperError:
        text = timer_text = None
    if text is None or not text.startswith(MARKER + "\n"):
        if timer_text is not None and timer_text.startswith(MARKER + "\n"):
            return timer, None
        return None
    if timer_text is None or not timer_text.startswith(MARKER + "\n"):
        return service, None
    return service, parse_service(text)


def systemctl_env() -> dict[str, str]:
    """systemctl's environment: the basics, and how it reaches the user manager
    (never the key or login variables credhelper itself may have)."""
    return childenv.minimal(("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"))


def _systemctl(*args: str) -> None:
    cmd = ["systemctl", *(["--user"] if scope() == "user" else []), *args]
    try:
        proc = childrun.run(cmd, env=systemctl_env(), text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UnitError(f"credhelper: {' '.join(cmd)} failed: {err}") from None
    if proc.returncode != 0:
        raise UnitError(
            f"credhelper: {' '.join(cmd)} failed: "
            + ("; ".join(x.strip() for x in proc.stderr.splitlines() if x.strip()) or "no output")
        )


def enable_command() -> str:
    user = " --user" if scope() == "user" else ""
    return f"systemctl{user} daemon-reload && systemctl{user} enable --now {UNIT}.timer"


def install(job: Job, manage: bool) -> bool:
    """Write both units (refusing foreign ones) and, if `manage`, enable the timer.

    True if our units were there before (replaced).
    """
    service, timer = unit_paths()
    existed = _ours_or_absent(service) | _ours_or_absent(timer)
    os.makedirs(unit_dir(), mode=0o755 if scope() == "system" else 0o700, exist_ok=True)
    fsutil.atomic_write(service, render_service(job).encode(), what="unit file")
    fsutil.atomic_write(timer, render_timer(job).encode(), what="unit file")
    if manage:
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", f"{UNIT}.timer")
    return existed


def uninstall(manage: bool) -> list[str]:
    """Disable (if `manage`) and delete our units; the paths removed."""
    paths = [p for p in unit_paths() if _ours_or_absent(p)]
    if not paths:
        return []
    if manage:
        _systemctl("disable", "--now", f"{UNIT}.timer")
    for path in paths:
        os.unlink(path)
    fsutil.fsync_dir(unit_dir())
    if manage:
        _systemctl("daemon-reload")
    return paths


def lingering() -> bool | None:
    """For user units: does the user's manager run while they are logged out?"""
    if scope() != "user":
        return None
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None
    return os.path.exists(os.path.join("/var/lib/systemd/linger", name))
