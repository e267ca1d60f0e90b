"""Doctor's view of scheduled rotation: which schedule
(crontab line or systemd timer) rotates the key, whether that schedule can run (its
executable exists and is this credhelper), and whether it is overdue for the key's
age (reported as key.age by key_checks). A schedule whose executable is gone carries
a `RepointSchedule` remedy: `doctor --fix` re-points it at this credhelper.

Only a schedule that rotates the store being diagnosed is judged; one for another
store (another CREDHELPER_HOME) is mentioned, not faulted.
"""

from __future__ import annotations

import os
import pwd
import subprocess

from credhelper import __version__, childenv, childrun, durations, paths, schedule
from credhelper.doctor.model import ERROR, FIX_COMMAND, INFO, WARNING, Context, Finding
from credhelper.doctor.remedies import RepointSchedule
from credhelper.errors import CredhelperError
from credhelper.schedule import Installed, cron, providers, systemd
from credhelper.schedule.job import INTERVAL_SECONDS, Job, this_executable
from credhelper.store import Store

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
        proc = childrun.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            text=True,
            env=childenv.minimal(),
            start_new_session=True,
            timeout=30,
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


def _key_age(store: Store) -> float | None:
    """Seconds since the key was made (authenticated; key_checks reports it)."""
    if not store.exists():
        return None
    try:
        created = store.snapshot().key_created()
    except CredhelperError:
        return None  # the store checks already say why it cannot be read
    return durations.age_seconds(created) if created is not None else None


def check_schedule(ctx: Context) -> list[Finding]:
    """Every installed schedule: present, for this store, runnable, not overdue."""
    age = _key_age(ctx.store)
    try:
        found = schedule.find_all()
    except CredhelperError as err:
        return [Finding("schedule.unreadable", WARNING, err.message, "crontab", "")]
    if not found:
        message = "no scheduled key rotation is installed"
        return [Finding("schedule.none", INFO, message, paths.store_dir(), SCHEDULE_HINT)]
    out: list[Finding] = []
    if len(found) > 1:
        message = "both a crontab line and a systemd timer rotate the key"
        fix = "credhelper rotate --schedule PERIOD (keeps one)"
        out.append(Finding("schedule.duplicate", WARNING, message, found[1].location, fix))
    for inst in found:
        out.extend(check_one_schedule(ctx.store, inst, age))
    return out


def check_one_schedule(store: Store, inst: Installed, age: float | None) -> list[Finding]:
    """One installed schedule, judged only if it rotates `store`."""
    job = inst.job
    if job is None:
        message = (
            f"the {inst.scheduler} schedule credhelper installed is incomplete or was "
            "edited: it is no longer in the form credhelper writes, so it may not run"
        )
        fix = (
            "credhelper rotate --schedule PERIOD (rewrites it), or: credhelper rotate --unschedule"
        )
        return [Finding("schedule.edited", WARNING, message, inst.location, fix)]
    store_dir = _job_store_dir(job)
    runs = " ".join(job.argv())
    if not _same_dir(store_dir, store.directory):
        message = f"{inst.scheduler} rotates the store in {store_dir}, not this one: {runs}"
        return [Finding("schedule.other-store", INFO, message, inst.location, "")]
    message = f"{inst.scheduler} runs {job.interval_text}: {runs}"
    out = [Finding("schedule.present", INFO, message, inst.location, "")]
    out.extend(_check_environment(inst, job))
    out.extend(_check_executable(inst, job))
    out.extend(_check_overdue(inst, job, age, store_dir))
    return out


def _check_environment(inst: Installed, job: Job) -> list[Finding]:
    """Variables in our entry that credhelper never writes, and crontab lines that
    reach our job: either can change what the scheduled rotation runs."""
    rewrite = f"credhelper rotate --schedule {job.period}" + (
        " --reencrypt" if job.reencrypt else ""
    )
    out: list[Finding] = []
    foreign = providers.foreign_names(job.env)
    if foreign:
        message = (
            f"the {inst.scheduler} schedule sets {', '.join(foreign)}, which credhelper "
            "never writes: someone edited it, and the scheduled job runs under them"
        )
        fix = f"{rewrite} (rewrites it without them)"
        out.append(Finding("schedule.foreign-env", WARNING, message, inst.location, fix))
    if inst.scheduler != "cron":
        out.extend(_check_dropins(inst, rewrite))
        return out
    try:
        text = cron.read() or ""
    except CredhelperError:
        return out  # check_schedule already read it once; nothing new to say
    names = cron.affecting(cron.env_lines_before_ours(text), job.sealed)
    if names:
        form = "" if job.sealed else " (its line is of an older form that inherits them)"
        message = (
            f"the crontab sets {', '.join(names)} above credhelper's line, and cron "
            f"applies them to the scheduled rotation too{form}"
        )
        fix = (
            "crontab -e: move the SHELL= line below credhelper's line, or make it SHELL=/bin/sh"
            if job.sealed
            else f"{rewrite} (writes the job's whole environment into its line)"
        )
        out.append(Finding("schedule.cron-env", WARNING, message, inst.location, fix))
    return out


def _check_dropins(inst: Installed, rewrite: str) -> list[Finding]:
    # systemd merges NAME.service.d/*.conf into our unit (Environment=, ExecStart=):
    # credhelper never writes one, so any is someone else's change to the job.
    dropins = inst.location + ".d"
    try:
        confs = sorted(n for n in os.listdir(dropins) if n.endswith(".conf"))
    except OSError:
        return []
    if not confs:
        return []
    message = (
        f"systemd adds the drop-in(s) {', '.join(confs)} to the scheduled rotation; "
        "credhelper never writes one, and they can change what the job runs"
    )
    fix = f"remove {dropins} if you did not mean it, then: {rewrite}"
    return [Finding("schedule.foreign-env", WARNING, message, dropins, fix)]


def _check_executable(inst: Installed, job: Job) -> list[Finding]:
    exe = job.executable
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        message = (
            f"the scheduled rotation runs {exe}, which does not exist or is not "
            "executable: the key is never rotated"
        )
        fix = f"{FIX_COMMAND} (points the schedule at this credhelper)"
        remedy = RepointSchedule(inst)
        id_ = "schedule.executable-missing"
        return [Finding(id_, ERROR, message, inst.location, fix, True, remedy=remedy)]
    version = executable_version(exe)
    if version == f"credhelper {__version__}":
        return []
    said = f"it says {version!r}" if version else "it does not run as credhelper"
    message = (
        f"the scheduled rotation runs {exe}, which is not this credhelper {__version__} ({said})"
    )
    fix = (
        f"credhelper rotate --schedule {job.period}"
        + (" --reencrypt" if job.reencrypt else "")
        + " (run by the credhelper you want)"
    )
    return [Finding("schedule.executable-other", WARNING, message, inst.location, fix)]


def _check_overdue(inst: Installed, job: Job, age: float | None, store: str) -> list[Finding]:
    if age is None:
        return []
    step = INTERVAL_SECONDS[job.interval]
    # One missed start is normal (a machine asleep at 03:17); two are not.
    if age <= job.period_seconds + 2 * step:
        return []
    message = (
        f"the key is {durations.format_duration(age)} old but the schedule rotates it at "
        f"{job.period}: the scheduled job is not running or fails"
    )
    return [
        Finding("schedule.overdue", WARNING, message, inst.location, _where_to_look(inst, store))
    ]


def repoint_schedule(inst: Installed, store: Store) -> str | None:
    """Re-install a schedule whose executable is missing, run by this credhelper; the
    action done (None: nothing to re-install)."""
    old = inst.job
    if old is None:
        return None
    # Only the names a job may have: an entry's other variables (LD_PRELOAD=...)
    # were planted, and the fix must not turn them into a live job.
    env = providers.allowed_only(old.env)
    job = Job(this_executable(), old.period, old.reencrypt, env)
    schedule.install(job, store, scheduler=inst.scheduler)
    return f"pointed the scheduled rotation ({inst.scheduler}) at {job.executable}"
