"""`doctor --fix`: act on findings. `fix(ctx, findings)` gathers the remedies the
findings carry (remedies.py) and carries them out by type, in a fixed order: file
owners and modes, the store, Docker's config (docker_fixes.py), the schedule.

Each changed file is backed up first (0600 `<name>.bak-<UTC timestamp>` next to
it), the only copy of anything is never destroyed, and with nothing left to fix
nothing is written. Callers diagnose afresh afterwards to re-check.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Sequence
from typing import TypeVar

from credhelper import backups, fsutil
from credhelper.doctor import remedies as r
from credhelper.doctor.docker_fixes import fix_docker_config
from credhelper.doctor.model import Context, Finding, FixReport
from credhelper.doctor.schedule_checks import repoint_schedule
from credhelper.doctor.store_checks import is_dedicated
from credhelper.errors import CredhelperError

R = TypeVar("R")


def remedies_of(findings: Sequence[Finding], kind: type[R]) -> list[R]:
    """The remedies of type `kind` the findings carry, in the order of the findings."""
    return [f.remedy for f in findings if isinstance(f.remedy, kind)]


def fix(ctx: Context, findings: Sequence[Finding]) -> FixReport:
    """Carry out every remedy the findings carry; what was done, backed up, or failed."""
    report = FixReport()
    fix_nodes(findings, report)
    guard(report, "store", lambda rep: fix_store(ctx, findings, rep))
    guard(report, "Docker config", lambda rep: fix_docker_config(ctx, findings, rep))
    guard(report, "schedule", lambda rep: fix_schedules(ctx, findings, rep))
    return report.in_own_words()


def guard(report: FixReport, what: str, step: Callable[[FixReport], None]) -> None:
    """Run one repair step; a failure is reported and the other steps still run."""
    try:
        step(report)
    except CredhelperError as err:
        report.failures.append(f"could not repair the {what}: {err.message}")


def fix_nodes(findings: Sequence[Finding], report: FixReport) -> None:
    """Owners, then modes, then symbolic links that stand where the lock should be."""
    for chown in remedies_of(findings, r.Chown):
        try:
            os.chown(chown.path, os.geteuid(), os.getegid(), follow_symlinks=False)
            report.actions.append(f"chown {os.geteuid()} {chown.path}")
        except OSError as err:
            report.failures.append(f"chown {chown.path}: {err.strerror}")
    for chmod in remedies_of(findings, r.Chmod):
        if chmod.dedicated_dir and not is_dedicated(chmod.path):
            # Checked again right before: a file of someone else's added since the
            # diagnosis makes it a shared directory, which doctor never locks down.
            report.failures.append(
                f"did not chmod {chmod.path}: it now holds files that are not credhelper's"
            )
            continue
        try:
            os.chmod(chmod.path, chmod.mode, follow_symlinks=False)
            report.actions.append(f"chmod {chmod.mode:o} {chmod.path}")
        except (OSError, NotImplementedError) as err:
            report.failures.append(f"chmod {chmod.path}: {err}")
    for link in remedies_of(findings, r.UnlinkSymlink):
        unlink_symlink(link, report)


def unlink_symlink(link: r.UnlinkSymlink, report: FixReport) -> None:
    """Remove the link, only in the very directory it was diagnosed in (a parent
    swapped for a symlink or another directory since is never followed) and only
    if it is still a link (whatever else is there now is left alone)."""
    parent, name = os.path.split(link.path)
    try:
        fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        report.failures.append(f"did not remove {link.path}: {parent}: {err.strerror}")
        return
    try:
        dir_st = os.fstat(fd)
        if (dir_st.st_dev, dir_st.st_ino) != link.parent:
            report.failures.append(
                f"did not remove {link.path}: {parent} is not the directory it was found in"
            )
            return
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=fd)
                report.actions.append(f"removed the symbolic link {link.path}")
    except OSError as err:
        report.failures.append(f"did not remove {link.path}: {err.strerror}")
    finally:
        os.close(fd)


def fix_store(ctx: Context, findings: Sequence[Finding], report: FixReport) -> None:
    """The store's repairs: its provider record, moving it aside, finishing under the
    lock (temp files, a killed or forged rotation), corrupt entries."""
    store = ctx.store
    steps = {f.remedy for f in findings if isinstance(f.remedy, r.Step)}
    corrupt = remedies_of(findings, r.RemoveCorrupt)
    aside = r.Step.MOVE_STORE_ASIDE in steps
    temps = r.Step.REMOVE_STORE_TEMPS in steps
    unfinished = r.Step.FINISH_ROTATION in steps
    forged = r.Step.DROP_FORGED_MARK in steps
    restore = r.Step.RESTORE_PROVIDER_RECORD in steps
    if not (aside or corrupt or temps or unfinished or forged or restore):
        return
    if restore:
        restored = store.restore_provider_record()
        if restored is not None:
            report.actions.append(
                f"put back the store's keyProvider record {json.dumps(restored[1])} (it "
                f"had been edited to {json.dumps(restored[0])})"
            )
    fsutil.check_private_dir(store.directory)
    if aside:
        backup = store.move_aside_if_unreadable(lambda raw: backups.write_backup(store.path, raw))
        if backup is not None:
            report.backups.append(backup)
            report.actions.append(f"moved the unreadable store aside to {backup}; log in again")
        return
    if temps or unfinished or forged:
        # Taking the lock removes stale temp files and finishes a killed rotation
        # (or drops a forged mark and discards the pending key it names).
        with store.exclusive():
            pass
        if forged:
            report.actions.append("dropped the unverifiable key-rotation mark; key kept")
        if temps:
            report.actions.append(f"removed interrupted-write temp files in {store.directory}")
        if unfinished:
            report.actions.append("finished the interrupted key rotation (new key promoted)")
    if corrupt:
        backup, removed = store.remove_corrupt(
            [c.server for c in corrupt], lambda raw: backups.write_backup(store.path, raw)
        )
        if backup is not None:
            report.backups.append(backup)
        for server in removed:
            report.actions.append(f"moved the corrupt entry for {server} aside to {backup}")
            report.needs_login.append(server)


def fix_schedules(ctx: Context, findings: Sequence[Finding], report: FixReport) -> None:
    """Re-point each schedule whose executable is missing at this credhelper."""
    for repoint in remedies_of(findings, r.RepointSchedule):
        action = repoint_schedule(repoint.installed, ctx.store)
        if action is not None:
            report.actions.append(action)
