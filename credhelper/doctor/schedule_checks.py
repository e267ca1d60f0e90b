"""Doctor's view of scheduled rotation: which schedule
(crontab line or systemd timer) rotates the key, whether that schedule can run (its
executable exists and is this credhelper), and whether it is overdue for the key's
age (reported as key.age by store_checks); `fix_schedule`
re-points a schedule whose executable is gone at this credhelper.

Only a schedule that rotates the store being diagnosed is judged; one for another
store (another CREDHELPER_HOME) is mentioned, not faulted.
"""

from __future__ import annotations

import os
import pwd
import subprocess

from credhelper import __version__, childenv, durations, paths, schedule
from credhelper.doctor.base import ERROR, FIX_COMMAND, INFO, WARNING, DoctorBase, FixReport
from credhelper.errors import CredhelperError
from credhelper.schedule import Installed, cron, providers, systemd
from credhelper.schedule.job import INTERVAL_SECONDS, Job, this_executable

SCHEDULE_HINT = "credhelper rotate --schedule 90d --reencrypt"


def _job_store_dir(job: Job) -> str:
    """The store the job rotates: its own environment, else its user's home (as cron
    and the systemd user manager set HOME from the password database)."""
    home = job.env_value("CREDHELPER_HOME")
    if home:
        return home
    docker = job.env_value("DOCKER_CONFIG")
    if docker:
        return os.path.join(docker, "credhelper")
    try:
        user_home = pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        user_home = os.path.expanduser("~")
    return os.path.join(user_home, ".docker", "credhelper")


def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _is_this_credhelper(path: str) -> bool:
    try:
        ours = this_executable()
    except CredhelperError:
        return False
    return _same_dir(path, ours)


def executable_version(path: str) -> str | None:
    """What `path --version` prints (one line), or None if it does not run.

    This credhelper (the same file, by any link) is not run: its version is
    known. Any other program, named by a file someone may have edited, runs
    with PATH, HOME and the locale only (childenv), no terminal and no stdin: not
    the key, vault token or registry logins doctor's own environment may hold.
    """
    if _is_this_credhelper(path):
        return f"credhelper {__version__}"
    try:
        proc = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=childenv.minimal(),
            start_new_session=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else None


def _where_to_look(inst: Installed, store_dir: str) -> str:
    if inst.scheduler == "cron":
        log = os.path.join(store_dir, cron.LOG_NAME)
        return f"check that cron runs (service cron status) and read {log}"
    user = " --user" if systemd.scope() == "user" else ""
    return (
        f"systemctl{user} status {systemd.UNIT}.timer; journalctl{user} -u {systemd.UNIT}.service"
    )


class ScheduleChecks(DoctorBase):
    """Key age and the scheduled rotation."""

    _schedule_repairs: list[Installed] | None = None

    def _key_age(self) -> float | None:
        """Seconds since the key was made (authenticated; store_checks reports it)."""
        if not self.store.exists():
            return None
        try:
            created = self.store.snapshot().key_created()
        except CredhelperError:
            return None  # the store checks already say why it cannot be read
        return durations.age_seconds(created) if created is not None else None

    def check_schedule(self) -> None:
        self._schedule_repairs = []
        age = self._key_age()
        try:
            found = schedule.find_all()
        except CredhelperError as err:
            self.add("schedule.unreadable", WARNING, err.message, "crontab", "")
            return
        if not found:
            self.add(
                "schedule.none",
                INFO,
                "no scheduled key rotation is installed",
                paths.store_dir(),
                SCHEDULE_HINT,
            )
            return
        if len(found) > 1:
            self.add(
                "schedule.duplicate",
                WARNING,
                "both a crontab line and a systemd timer rotate the key",
                found[1].location,
                "credhelper rotate --schedule PERIOD (keeps one)",
            )
        for inst in found:
            self._check_one(inst, age)

    def _check_one(self, inst: Installed, age: float | None) -> None:
        job = inst.job
        if job is None:
            self.add(
                "schedule.edited",
                WARNING,
                f"the {inst.scheduler} schedule credhelper installed is incomplete or was "
                "edited: it is no longer in the form credhelper writes, so it may not run",
                inst.location,
                "credhelper rotate --schedule PERIOD (rewrites it), or: credhelper rotate "
                "--unschedule",
            )
            return
        store_dir = _job_store_dir(job)
        runs = " ".join(job.argv())
        if not _same_dir(store_dir, self.store.directory):
            self.add(
                "schedule.other-store",
                INFO,
                f"{inst.scheduler} rotates the store in {store_dir}, not this one: {runs}",
                inst.location,
                "",
            )
            return
        self.add(
            "schedule.present",
            INFO,
            f"{inst.scheduler} runs {job.interval_text}: {runs}",
            inst.location,
            "",
        )
        self._check_environment(inst, job)
        self._check_executable(inst, job)
        self._check_overdue(inst, job, age, store_dir)

    def _check_environment(self, inst: Installed, job: Job) -> None:
        """Variables in our entry that credhelper never writes, and crontab lines that
        reach our job: either can change what the scheduled rotation runs."""
        rewrite = f"credhelper rotate --schedule {job.period}" + (
            " --reencrypt" if job.reencrypt else ""
        )
        foreign = providers.foreign_names(job.env)
        if foreign:
            self.add(
                "schedule.foreign-env",
                WARNING,
                f"the {inst.scheduler} schedule sets {', '.join(foreign)}, which credhelper "
                "never writes: someone edited it, and the scheduled job runs under them",
                inst.location,
                f"{rewrite} (rewrites it without them)",
            )
        if inst.scheduler != "cron":
            self._check_dropins(inst, rewrite)
            return
        try:
            text = cron.read() or ""
        except CredhelperError:
            return  # check_schedule already read it once; nothing new to say
        names = cron.affecting(cron.env_lines_before_ours(text), job.sealed)
        if names:
            form = "" if job.sealed else " (its line is of an older form that inherits them)"
            self.add(
                "schedule.cron-env",
                WARNING,
                f"the crontab sets {', '.join(names)} above credhelper's line, and cron "
                f"applies them to the scheduled rotation too{form}",
                inst.location,
                "crontab -e: move the SHELL= line below credhelper's line, or make it SHELL=/bin/sh"
                if job.sealed
                else f"{rewrite} (writes the job's whole environment into its line)",
            )

    def _check_dropins(self, inst: Installed, rewrite: str) -> None:
        # systemd merges NAME.service.d/*.conf into our unit (Environment=, ExecStart=):
        # credhelper never writes one, so any is someone else's change to the job.
        dropins = inst.location + ".d"
        try:
            confs = sorted(n for n in os.listdir(dropins) if n.endswith(".conf"))
        except OSError:
            return
        if confs:
            self.add(
                "schedule.foreign-env",
                WARNING,
                f"systemd adds the drop-in(s) {', '.join(confs)} to the scheduled rotation; "
                "credhelper never writes one, and they can change what the job runs",
                dropins,
                f"remove {dropins} if you did not mean it, then: {rewrite}",
            )

    def _check_executable(self, inst: Installed, job: Job) -> None:
        exe = job.executable
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            self.add(
                "schedule.executable-missing",
                ERROR,
                f"the scheduled rotation runs {exe}, which does not exist or is not "
                "executable: the key is never rotated",
                inst.location,
                f"{FIX_COMMAND} (points the schedule at this credhelper)",
                fixable=True,
            )
            assert self._schedule_repairs is not None
            self._schedule_repairs.append(inst)
            return
        version = executable_version(exe)
        if version != f"credhelper {__version__}":
            said = f"it says {version!r}" if version else "it does not run as credhelper"
            self.add(
                "schedule.executable-other",
                WARNING,
                f"the scheduled rotation runs {exe}, which is not this credhelper "
                f"{__version__} ({said})",
                inst.location,
                f"credhelper rotate --schedule {job.period}"
                + (" --reencrypt" if job.reencrypt else "")
                + " (run by the credhelper you want)",
            )

    def _check_overdue(self, inst: Installed, job: Job, age: float | None, store: str) -> None:
        if age is None:
            return
        step = INTERVAL_SECONDS[job.interval]
        # One missed start is normal (a machine asleep at 03:17); two are not.
        if age <= job.period_seconds + 2 * step:
            return
        self.add(
            "schedule.overdue",
            WARNING,
            f"the key is {durations.format_duration(age)} old but the schedule rotates it at "
            f"{job.period}: the scheduled job is not running or fails",
            inst.location,
            _where_to_look(inst, store),
        )

    def fix_schedule(self, report: FixReport) -> None:
        """Re-install each schedule whose executable is missing, run by this credhelper."""
        for inst in self._schedule_repairs or []:
            old = inst.job
            if old is None:
                continue
            # Only the names a job may have: an entry's other variables (LD_PRELOAD=...)
            # were planted, and the fix must not turn them into a live job.
            env = providers.allowed_only(old.env)
            job = Job(this_executable(), old.period, old.reencrypt, env)
            schedule.install(job, self.store, scheduler=inst.scheduler)
            report.actions.append(
                f"pointed the scheduled rotation ({inst.scheduler}) at {job.executable}"
            )
