"""Scheduled key rotation: `credhelper rotate --schedule PERIOD` / `--unschedule`.

Chooses the scheduler the machine runs (a systemd timer where systemd manages the
session, else the user's crontab), installs exactly one job for the account,
removes it, and finds it again for doctor. The job itself is `rotate
--if-older-than PERIOD` (see job.py), so the scheduler only has to start it often.

CREDHELPER_SCHEDULER=cron|systemd skips the detection (tests, packaging, or a
machine whose systemd should not be used); the systemd hooks are in systemd.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from credhelper import childrun, fsutil
from credhelper.errors import CredhelperError, UsageError
from credhelper.schedule import cron, providers, systemd
from credhelper.schedule.job import Job, check_text
from credhelper.store import Store

SCHEDULER_ENV = "CREDHELPER_SCHEDULER"
SCHEDULERS = ("cron", "systemd")


class ScheduleError(CredhelperError):
    """No scheduler can run the job, or the key provider cannot be rotated by one."""


@dataclass(frozen=True)
class Installed:
    """Our schedule as found: where, and its job (None if someone edited it)."""

    scheduler: str
    location: str
    job: Job | None

    def as_dict(self) -> dict[str, object]:
        return {
            "scheduler": self.scheduler,
            "location": self.location,
            "job": self.job.as_dict() if self.job is not None else None,
        }


@dataclass
class Result:
    scheduler: str
    location: str
    job: Job
    replaced: bool
    enabled: bool
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "scheduled": True,
            "scheduler": self.scheduler,
            "location": self.location,
            "replaced": self.replaced,
            "enabled": self.enabled,
            "notes": self.notes,
            **self.job.as_dict(),
        }


def systemd_booted() -> bool:
    """systemd is PID 1 (sd_booted's test, plus PID 1's name: a container may
    bind-mount /run/systemd without running systemd)."""
    try:
        with open("/proc/1/comm", encoding="utf-8") as comm:
            pid1 = comm.read().strip()
    except OSError:
        return False
    return os.path.isdir("/run/systemd/system") and pid1 == "systemd"


def _user_manager() -> bool:
    if shutil.which("systemctl") is None:
        return False
    try:
        proc = childrun.run(
            ["systemctl", "--user", "show-environment"],
            env=systemd.systemctl_env(),
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def systemd_manages() -> bool:
    """systemctl can enable our timer for this account, in the real unit directory."""
    if os.environ.get(systemd.DIR_ENV) or not systemd_booted():
        return False
    return systemd.scope() == "system" or _user_manager()


def choose() -> str:
    forced = os.environ.get(SCHEDULER_ENV)
    if forced:
        if forced not in SCHEDULERS:
            raise UsageError(f"credhelper: {SCHEDULER_ENV} must be cron or systemd, not {forced!r}")
        return forced
    if systemd_manages():
        return "systemd"
    if cron.crontab_path() is not None:
        return "cron"
    raise ScheduleError(
        "credhelper: cannot schedule rotation: systemd does not manage this session and "
        "crontab is not installed; install cron (apt-get install cron) or run "
        "credhelper rotate --if-older-than PERIOD --yes from your own scheduler"
    )


def check_provider(store: Store) -> str:
    """The provider's name; refuses one that cannot rotate its own key (a property of
    the provider: for env the key's age is the business of the secret system)."""
    provider = store.snapshot().provider
    if provider.rotation() is not None:
        return provider.name
    raise ScheduleError(
        f"credhelper: cannot schedule rotation: the key comes from {provider.describe()}, "
        "so its age and its rotation are the business of the system that supplies it; "
        "rotate it there (then run: credhelper rotate --key-from-env)"
    )


@contextlib.contextmanager
def _locked(store: Store, create: bool) -> Iterator[None]:
    # Two --schedule runs at once must not both read the old crontab and each
    # append a line: they serialise on the store lock.
    if not create and not os.path.isdir(store.directory):
        yield
        return
    fsutil.ensure_private_dir(store.directory)
    with fsutil.locked(store.lock_path):
        yield


def find_all() -> list[Installed]:
    """Every schedule of ours: the crontab line(s) and the systemd units."""
    found = [
        Installed("cron", "crontab of the current user", cron.parse(line)) for line in cron.find()
    ]
    unit = systemd.find()
    if unit is not None:
        found.append(Installed("systemd", unit[0], unit[1]))
    return found


def install(job: Job, store: Store | None = None, scheduler: str | None = None) -> Result:
    """Install `job`, replacing any schedule of ours (in either scheduler)."""
    store = store if store is not None else Store()
    scheduler = scheduler or choose()
    provider = check_provider(store)
    job = _job_env(job, provider, scheduler, store.directory)
    with _locked(store, create=True):
        if scheduler == "cron":
            replaced = cron.install(job, store.directory)
            replaced |= bool(_remove_units())
            return Result("cron", "crontab of the current user", job, replaced, True)
        manage = systemd_manages()
        replaced = systemd.install(job, manage)
        if cron.crontab_path() is not None:
            replaced |= cron.uninstall()
        notes = _systemd_notes(manage)
        return Result("systemd", systemd.unit_paths()[1], job, replaced, manage, notes)


def _job_env(job: Job, provider: str, scheduler: str, store_dir: str) -> Job:
    """`job` with only allowed names, the provider's settings and the store it is for.

    CREDHELPER_HOME is always written (first, absolute): the scheduler's own
    environment (a `CREDHELPER_HOME=` line of the crontab, the user manager's
    environment) must not point the job at another store than the one scheduled.
    """
    home = check_text("the store directory", os.path.abspath(store_dir))
    env = [(n, v) for n, v in providers.allowed_only(job.env) if n != "CREDHELPER_HOME"]
    have = {name for name, _ in env}
    extra = [(n, v) for n, v in providers.job_environment(provider, scheduler) if n not in have]
    return dataclasses.replace(job, env=(("CREDHELPER_HOME", home), *env, *extra), sealed=True)


def _systemd_notes(manage: bool) -> list[str]:
    notes = []
    if not manage:
        notes.append(
            "systemctl was not run (systemd does not manage this session or the unit "
            f"directory is overridden); to start the timer: {systemd.enable_command()}"
        )
    if manage and systemd.lingering() is False:
        notes.append(
            "this user timer runs only while you are logged in; to run it always: "
            "loginctl enable-linger $USER"
        )
    return notes


def _remove_units() -> list[str]:
    try:
        return systemd.uninstall(systemd_manages())
    except systemd.UnitError as err:
        if systemd.find() is None:
            return []  # a unit of that name that is not ours: left alone
        raise err from None


def uninstall(store: Store | None = None) -> list[str]:
    """Remove every schedule of ours; a description of each thing removed."""
    store = store if store is not None else Store()
    removed: list[str] = []
    with _locked(store, create=False):
        if cron.uninstall():
            removed.append("the crontab line")
        removed += _remove_units()
    return removed
