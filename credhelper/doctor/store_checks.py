"""Checks of credhelper's own files: the store directory, the store file, the lock
and leftover temp files (`check_store`), each path's type, owner and mode
(`check_node`). The key is in key_checks, the stored entries in entry_checks.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass

from credhelper import fsutil, paths
from credhelper.doctor.model import (
    ERROR,
    FIX_COMMAND,
    INFO,
    Context,
    Finding,
    file_mode,
    lstat_or_none,
)
from credhelper.doctor.remedies import (
    Chmod,
    Chown,
    Step,
    UnlinkSymlink,
)
from credhelper.errors import StoreError
from credhelper.store import Snapshot


@dataclass(frozen=True)
class StoreState:
    """What check_store found: whether the store can be used and its snapshot."""

    usable: bool
    snapshot: Snapshot | None


def is_dedicated(directory: str) -> bool:
    """Whether `directory` holds only credhelper's own files (so doctor may chmod it)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return all(name.lstrip(".").startswith((paths.STORE_NAME, paths.KEY_NAME)) for name in names)


def _is_root() -> bool:
    return os.geteuid() == 0


def check_store(ctx: Context) -> tuple[list[Finding], StoreState]:
    """The store's directory and files, and the store read once (its snapshot)."""
    store = ctx.store
    directory = store.directory
    st = lstat_or_none(directory)
    if st is None:
        message = "the credhelper store does not exist yet (no logins stored)"
        fix = "credhelper install, or credhelper login SERVER"
        return [Finding("store.missing", INFO, message, directory, fix)], StoreState(True, None)
    dedicated = is_dedicated(directory)
    dir_findings, usable = check_node(
        directory, st, "store.dir", "store directory", 0o700, dir_=True, fix_mode=dedicated
    )
    if not usable:
        return dir_findings, StoreState(False, None)
    out = dir_findings
    file_st = lstat_or_none(store.path)
    if file_st is not None:
        out.extend(check_node(store.path, file_st, "store.file", "store file", 0o600)[0])
    out.extend(_check_lock(store.lock_path, st))
    out.extend(_check_temps(directory))
    try:
        snapshot = store.snapshot()
    except StoreError as err:
        out.append(_unreadable(err, store.path))
        return out, StoreState(True, None)
    return out, StoreState(True, snapshot)


def _check_lock(lock: str, dir_st: os.stat_result) -> list[Finding]:
    lst = lstat_or_none(lock)
    if lst is None:
        return []
    if not stat.S_ISLNK(lst.st_mode):
        return check_node(lock, lst, "store.lock", "lock file", 0o600)[0]
    message = "the lock file is a symbolic link; every write is refused"
    fix = f"{FIX_COMMAND} (removes the link; it holds no data)"
    return [
        Finding(
            "store.lock-symlink",
            ERROR,
            message,
            lock,
            fix,
            True,
            remedy=UnlinkSymlink(lock, (dir_st.st_dev, dir_st.st_ino)),
        )
    ]


def _check_temps(directory: str) -> list[Finding]:
    with contextlib.suppress(OSError):
        if any(n.startswith(".") and fsutil.TEMP_MARK in n for n in os.listdir(directory)):
            message = "temporary files left by an interrupted write"
            fix = f"{FIX_COMMAND} (removes them under the lock; the store itself is intact)"
            remedy = Step.REMOVE_STORE_TEMPS
            return [Finding("store.stale-temp", INFO, message, directory, fix, True, remedy=remedy)]
    return []


def _unreadable(err: StoreError, path: str) -> Finding:
    # A store written by a newer credhelper is not moved aside: that one reads it.
    version_problem = "version" in err.message
    fix = (
        "install the newer credhelper that wrote it"
        if version_problem
        else f"{FIX_COMMAND} (moves the file aside to a backup; then log in again)"
    )
    remedy = None if version_problem else Step.MOVE_STORE_ASIDE
    fixable = not version_problem
    return Finding("store.unreadable", ERROR, err.message, path, fix, fixable, remedy=remedy)


def check_node(
    path: str,
    st: os.stat_result,
    id_: str,
    what: str,
    mode: int,
    dir_: bool = False,
    fix_mode: bool = True,
) -> tuple[list[Finding], bool]:
    """Symlink, type, owner and mode of one store path; False if it is unusable."""
    if stat.S_ISLNK(st.st_mode):
        message = f"the {what} is a symbolic link; credhelper refuses it"
        fix = f"replace the link with the real {what} (mv its target over it)"
        return [Finding(f"{id_}-symlink", ERROR, message, path, fix)], False
    if (dir_ and not stat.S_ISDIR(st.st_mode)) or (not dir_ and not stat.S_ISREG(st.st_mode)):
        kind = "a directory" if dir_ else "a regular file"
        message = f"the {what} is not {kind}; credhelper cannot use it"
        fix = f"move it out of the way (mv {path} {path}.old) and run this again"
        return [Finding(f"{id_}-type", ERROR, message, path, fix)], False
    out: list[Finding] = []
    owned = st.st_uid == os.geteuid()
    if not owned:
        out.append(_owner(path, st, id_, what))
    if st.st_mode & 0o077:
        out.append(_mode(path, st, id_, what, mode, fix_mode, dir_))
    return out, owned


def _owner(path: str, st: os.stat_result, id_: str, what: str) -> Finding:
    message = f"the {what} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
    root = _is_root()
    fix = FIX_COMMAND if root else f"sudo chown {os.geteuid()} {path}"
    remedy = Chown(path) if root else None
    return Finding(f"{id_}-owner", ERROR, message, path, fix, root, remedy=remedy)


def _mode(
    path: str, st: os.stat_result, id_: str, what: str, mode: int, fix_mode: bool, dir_: bool
) -> Finding:
    if not fix_mode:
        # Never chmod a directory that holds other things (CREDHELPER_HOME=$HOME).
        message = (
            f"the {what} has mode {file_mode(st)} and holds files that are not "
            "credhelper's: it is not a dedicated store directory"
        )
        fix = "point CREDHELPER_HOME at a directory of its own (or unset it)"
        return Finding(f"{id_}-mode", ERROR, message, path, fix)
    message = (
        f"the {what} has mode {file_mode(st)}: group/others can get in "
        f"(credhelper refuses it; it must be {mode:04o})"
    )
    fix = f"{FIX_COMMAND} (or chmod {mode:o} {path})"
    return Finding(f"{id_}-mode", ERROR, message, path, fix, True, remedy=Chmod(path, mode, dir_))
