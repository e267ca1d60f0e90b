"""What a scheduled rotation runs: the `Job` (executable, period, mode, environment),
how often the scheduler should start it, and which executable is "this credhelper".

The job is always `<absolute credhelper> rotate --if-older-than PERIOD --yes --json
[--reencrypt]`: idempotent, so the scheduler may start it far more often than the
period (cron and timers miss runs while a machine sleeps; the next start catches up).
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from dataclasses import dataclass

from credhelper import durations
from credhelper.errors import UsageError
from credhelper.jsonfields import fields_dict

# The variables a job inherits from the shell that scheduled it: they choose the
# store, Docker's config and the key provider. Never a key variable
# (CREDHELPER_AESKEY*): a secret must not be written into a crontab or unit file.
JOB_ENV = (
    "CREDHELPER_HOME",
    "DOCKER_CONFIG",
    "CREDHELPER_KEY_PROVIDER",
    "CREDHELPER_KEYRING_BACKEND",
)
PATH_ENV = ("CREDHELPER_HOME", "DOCKER_CONFIG")
MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class Job:
    """One scheduled rotation, as written into (and read back from) a crontab or unit."""

    executable: str
    period: str  # as given: "30d"
    reencrypt: bool
    env: tuple[tuple[str, str], ...] = ()
    # False for a crontab line of the older form, which inherits every `NAME=value`
    # line above it in the crontab (see cron.render); units and current lines do not.
    sealed: bool = True

    def argv(self) -> list[str]:
        args = [self.executable, "rotate", "--if-older-than", self.period, "--yes", "--json"]
        return [*args, "--reencrypt"] if self.reencrypt else args

    @property
    def period_seconds(self) -> int:
        return durations.parse_duration(self.period)

    @property
    def interval(self) -> str:
        """How often the scheduler starts the job: `daily`, `hourly` or `5min`."""
        return interval_for(self.period_seconds)

    @property
    def interval_text(self) -> str:
        return INTERVAL_TEXT[self.interval]

    def env_value(self, name: str) -> str | None:
        return dict(self.env).get(name)

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def command(self) -> list[str]:
        return self.argv()

    def as_dict(self) -> dict[str, object]:
        return fields_dict(self, "executable period reencrypt interval environment command")


def interval_for(seconds: int) -> str:
    """A check interval well under the period, so a key is at most ~one interval late."""
    if seconds >= 2 * DAY:
        return "daily"
    if seconds >= 2 * HOUR:
        return "hourly"
    return "5min"


INTERVAL_SECONDS = {"daily": DAY, "hourly": HOUR, "5min": 5 * MINUTE}
INTERVAL_TEXT = {"daily": "daily", "hourly": "hourly", "5min": "every 5 minutes"}


def check_text(what: str, value: str) -> str:
    """`value` if it can be written into a crontab line or a unit file, else a UsageError.

    Control characters (a newline would start a second crontab line) and text that
    is not valid UTF-8 are refused rather than escaped: no path credhelper would
    accept for its store has them for a good reason.
    """
    bad = any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        bad = True
    if bad or not value:
        raise UsageError(
            f"credhelper: cannot schedule: {what} {value!r} is empty or contains control "
            "characters or bytes that are not UTF-8; use a plainer path"
        )
    return value


def _account_home() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return os.path.expanduser("~")


def current_environment() -> tuple[tuple[str, str], ...]:
    """The JOB_ENV variables set now, paths made absolute (cron starts in $HOME).

    cron and systemd give the job the HOME of the password database. When this
    shell's HOME is another one (sudo, a test) and DOCKER_CONFIG is unset, the
    job gets DOCKER_CONFIG=$HOME/.docker, so that it rotates the store that
    `credhelper` finds here, not another one.
    """
    found: list[tuple[str, str]] = []
    for name in JOB_ENV:
        value = os.environ.get(name)
        if not value:
            continue
        if name in PATH_ENV:
            value = os.path.abspath(value)
        found.append((name, check_text(name, value)))
    home = os.path.expanduser("~")
    other_home = os.path.realpath(home) != os.path.realpath(_account_home())
    if other_home and not os.environ.get("DOCKER_CONFIG"):
        found.append(("DOCKER_CONFIG", check_text("HOME", os.path.join(home, ".docker"))))
    return tuple(found)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def this_executable() -> str:
    """The absolute path of the `credhelper` executable now running.

    The path it was started by (sys.argv[0], made absolute but not resolved, so
    `~/.local/bin/credhelper` from scripts/install survives a rebuilt virtualenv);
    else the `credhelper` beside the interpreter; else the one on PATH.
    """
    started = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    candidates = [
        started if os.path.basename(started) == "credhelper" else "",
        os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "credhelper"),
        shutil.which("credhelper") or "",
    ]
    for path in candidates:
        if path and _is_executable(path):
            return check_text("the credhelper executable", os.path.abspath(path))
    raise UsageError(
        "credhelper: cannot schedule: no installed credhelper executable found "
        "(install it with scripts/install or pip, then run it by its path)"
    )


def check_period(period: str) -> int:
    """Seconds of a schedule period, by the rules of `--schedule`; else UsageError.

    Also what a period read back from a crontab or unit must pass: an entry
    edited to a period `--schedule` would refuse is not in our form.
    """
    try:
        seconds = durations.parse_duration(period)
    except durations.DurationError as err:
        raise UsageError(str(err)) from None
    if seconds < 5 * MINUTE:
        raise UsageError(
            f"credhelper: invalid schedule period {period!r}: the shortest is 5m "
            "(the job is started at most every 5 minutes)"
        )
    return seconds


def valid_period(period: str) -> bool:
    """`period` is one `--schedule` accepts, written as credhelper writes it."""
    try:
        check_period(period)
    except UsageError:
        return False
    return period == period.strip().lower()


def new_job(period: str, reencrypt: bool) -> Job:
    """The job for `credhelper rotate --schedule PERIOD`; bad input raises UsageError."""
    check_period(period)
    normal = period.strip().lower()
    return Job(this_executable(), normal, reencrypt, current_environment())
