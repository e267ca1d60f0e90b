"""Job-scoped credentials for `credhelper exec`: a private store and Docker config per job.

A job lives in its own 0700 directory under the jobs root,
`$TMPDIR/credhelper-jobs-<uid>` (0700, owned by the user; anything else there is
refused). The directory's name carries the identity of the credhelper process
that owns it: `job-<pid>-<start>-<random>`, where <start> is the process start
time from /proc/<pid>/stat (clock ticks since boot). mkdir makes the name and the
directory at once, so no job exists without its owner on record. Inside:

    store/          CREDHELPER_HOME of the job: the sealed logins (config.json)
    docker/         DOCKER_CONFIG of the job: config.json naming credhelper
    child           "<pid> <start>" of COMMAND, written once it has started

The key is 32 fresh random bytes that exist only in memory and in the
environment (CREDHELPER_AESKEY) of the job's process tree; it is never written
to disk, so a store left behind by a SIGKILL is ciphertext under a key that died
with the job.

`sweep_stale()` (run by every credhelper CLI command) removes job directories
whose owner AND child it can prove dead: the process is gone, is a zombie, or
its pid now belongs to a process with another start time. Anything it cannot
prove (no /proc, an unreadable or odd entry, a name that is not ours, someone
else's directory) is left alone.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping

from credhelper import cleanup
from credhelper.errors import StoreError

_NAME = re.compile(r"job-([0-9]{1,10})-([0-9]{1,20})-[0-9a-f]{8}")
CHILD_FILE = "child"
# What the job's children must not inherit from the caller: another key source
# would override or confuse the job's own key, and REGISTRY_AUTH_FILE would make
# skopeo/podman read the user's real logins.
_DROPPED_ENV = (
    "CREDHELPER_AESKEY_FILE",
    "CREDHELPER_OLD_AESKEY",
    "CREDHELPER_OLD_AESKEY_FILE",
    "CREDHELPER_KEYRING_BACKEND",
    "REGISTRY_AUTH_FILE",
)


def jobs_root() -> str:
    """Where job directories live: $TMPDIR (or /tmp) / credhelper-jobs-<uid>."""
    return os.path.join(tempfile.gettempdir(), f"credhelper-jobs-{os.getuid()}")


def _check_root(path: str) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StoreError(
            f"credhelper: refusing the jobs directory {path}: it must be a directory "
            "owned by you with mode 0700 (not a symlink); remove it or set TMPDIR elsewhere"
        )


def _ensure_root() -> str:
    path = jobs_root()
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # mkdir's mode went through the umask
    except FileExistsError:
        pass
    except OSError as err:
        raise StoreError(f"credhelper: cannot create {path}: {err.strerror}") from None
    _check_root(path)
    return path


def process_start(pid: int) -> tuple[str, str] | None:
    """(state, start time) of process `pid` from /proc, or None if there is no such process.

    Raises OSError if /proc cannot tell (not mounted, permission): the caller
    must then assume the process may be alive.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    # The command name is in parentheses and may contain anything, ")" included.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode("ascii"), fields[19].decode("ascii")


def _self_start() -> str:
    found = process_start(os.getpid())
    if found is None:
        raise OSError("no /proc entry for this process")
    return found[1]


def _provably_dead(pid: int, start: str) -> bool:
    try:
        found = process_start(pid)
    except (OSError, ValueError, IndexError):
        return False
    return found is None or found[0] == "Z" or found[1] != start


class Job:
    """One job's directory, key and environment."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.store_dir = os.path.join(path, "store")
        self.docker_dir = os.path.join(path, "docker")
        self.docker_config = os.path.join(self.docker_dir, "config.json")
        self.key_b64 = base64.b64encode(secrets.token_bytes(32)).decode("ascii")

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` pointed at this job: its store, its Docker config, its key (env provider)."""
        env = {k: v for k, v in base.items() if k not in _DROPPED_ENV}
        env.update(
            {
                "CREDHELPER_HOME": self.store_dir,
                "DOCKER_CONFIG": self.docker_dir,
                "REGISTRY_AUTH_FILE": self.docker_config,
                "CREDHELPER_KEY_PROVIDER": "env",
                "CREDHELPER_AESKEY": self.key_b64,
            }
        )
        return env

    def activate(self) -> None:
        """Point this process at the job, so in-process logins land in the job's store."""
        for name in _DROPPED_ENV:
            os.environ.pop(name, None)
        os.environ.update(self.environment({}))

    def record_child(self, pid: int) -> None:
        """Note COMMAND's identity, so a sweep waits for it to die too."""
        try:
            found = process_start(pid)
        except (OSError, ValueError, IndexError):
            found = None
        if found is None:
            return
        fd = os.open(
            os.path.join(self.path, CHILD_FILE),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{pid} {found[1]}\n")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def job() -> Iterator[Job]:
    """A new job directory, removed with everything in it on every exit (signals included)."""
    root = _ensure_root()
    try:
        start = _self_start()
    except (OSError, ValueError, IndexError):
        start = "0"  # no /proc: such a job can never be proven dead, so never swept
    with cleanup.critical():
        path = os.path.join(root, f"job-{os.getpid()}-{start}-{secrets.token_hex(4)}")
        os.mkdir(path, 0o700)
    current = Job(path)
    try:
        os.chmod(path, 0o700)
        for directory in (current.store_dir, current.docker_dir):
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
        # credsStore: `docker login` inside the job stores through credhelper too.
        _write_private(current.docker_config, b'{\n\t"credsStore": "credhelper"\n}')
        yield current
    finally:
        current.remove()


def _child_dead(path: str) -> bool:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not hang us
    try:
        fd = os.open(os.path.join(path, CHILD_FILE), flags)
    except FileNotFoundError:
        return True  # never started, or PR_SET_PDEATHSIG killed it with its parent
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        text = handle.read(64).decode("ascii", "replace").split()
    if len(text) != 2 or not all(part.isdigit() for part in text):
        return False
    return _provably_dead(int(text[0]), text[1])


def sweep_stale() -> list[str]:
    """Remove the job directories of jobs proven dead; returns what was removed."""
    path = jobs_root()
    try:
        _check_root(path)
        names = os.listdir(path)
    except (OSError, StoreError):
        return []
    removed: list[str] = []
    for name in sorted(names):
        match = _NAME.fullmatch(name)
        if match is None:
            continue
        candidate = os.path.join(path, name)
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        pid, start = int(match.group(1)), match.group(2)
        if start == "0" or pid == os.getpid():
            continue
        if _provably_dead(pid, start) and _child_dead(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            if not os.path.lexists(candidate):
                removed.append(candidate)
    return removed
