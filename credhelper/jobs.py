"""Job-scoped credentials for `credhelper exec`: a private store and Docker config per job.

A job lives in its own 0700 directory under the jobs root,
`$TMPDIR/credhelper-jobs-<uid>` (0700, owned by the user; anything else there is
refused). The directory's name carries the identity of the credhelper process
that owns it: `job-<pid>-<start>-<pidns>-<boot>-<random>`, where <start> is the
process start time from /proc/<pid>/stat (clock ticks since boot), <pidns> the
inode of its pid namespace and <boot> the kernel's boot id. A pid means nothing
outside its namespace and boot, so a job is only ever judged by a credhelper of
the same namespace and boot (a container sharing /tmp, a reboot that kept /tmp,
another host on a shared TMPDIR never touch it). mkdir makes the name and the
directory at once, so no job exists without its owner on record. Inside:

    store/          CREDHELPER_HOME of the job: the sealed logins (config.json)
    docker/         DOCKER_CONFIG of the job: config.json naming credhelper
    home/, config/  HOME and XDG_CONFIG_HOME of COMMAND (credhelper/jobenv.py)
    child           "<pid> <start> <pgid> <sid>" of COMMAND, written by COMMAND's
                    own process before it execs, so it exists before COMMAND runs

The key is 32 fresh random bytes that exist only in memory and in the
environment (CREDHELPER_AESKEY) of the job's process tree; it is never written
to disk, so a store left behind by a SIGKILL is ciphertext under a key that died
with the job.

`sweep_stale()` (run by every credhelper CLI command) removes a job directory
only when it can prove the whole job dead: the owner is gone (no such pid, a
zombie, or the pid now has another start time), and so is every process of
COMMAND's process group and session. PR_SET_PDEATHSIG takes COMMAND down with a
SIGKILLed owner, but what COMMAND started lives on in its group with the key:
while any non-zombie process in /proc has that process group or session id, the
job is alive. (A process that leaves the session with setsid() is outside the
job's accounting; see the README.) Anything it cannot prove (no /proc, a /proc
of another namespace, an unreadable or odd entry, a name that is not ours,
someone else's directory) is left alone.
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
from collections.abc import Callable, Iterator, Mapping

from credhelper import cleanup, jobenv
from credhelper.errors import StoreError

_NAME = re.compile(r"job-([0-9]{1,10})-([0-9]{1,20})-([0-9]{1,20})-([0-9a-f]{32})-[0-9a-f]{8}")
CHILD_FILE = "child"
_UNKNOWN = ("0", "0" * 32)  # a job whose namespace/boot are unknown is never swept


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


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    # The command name is in parentheses and may contain anything, ")" included.
    return data[data.rindex(b")") + 2 :].split()


def process_start(pid: int) -> tuple[str, str] | None:
    """(state, start time) of process `pid` from /proc, or None if there is no such process.

    Raises OSError if /proc cannot tell (not mounted, permission): the caller
    must then assume the process may be alive.
    """
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return fields[0].decode("ascii"), fields[19].decode("ascii")


def identity() -> tuple[str, str]:
    """(pid-namespace inode, boot id without dashes) of this process, or _UNKNOWN."""
    try:
        # A /proc mounted for another pid namespace names other processes by our pids.
        if os.readlink("/proc/self") != str(os.getpid()):
            return _UNKNOWN
        ns = re.fullmatch(r"pid:\[([0-9]{1,20})\]", os.readlink("/proc/self/ns/pid"))
        with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
            boot = handle.read(64).decode("ascii").strip().replace("-", "")
    except (OSError, UnicodeDecodeError):
        return _UNKNOWN
    if ns is None or not re.fullmatch(r"[0-9a-f]{32}", boot) or boot == _UNKNOWN[1]:
        return _UNKNOWN
    return ns.group(1), boot


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
        self.views: dict[str, str] = {}  # HOME / XDG_CONFIG_HOME of COMMAND (jobenv)

    def _own(self) -> dict[str, str]:
        return {
            "CREDHELPER_HOME": self.store_dir,
            "DOCKER_CONFIG": self.docker_dir,
            "REGISTRY_AUTH_FILE": self.docker_config,
            "HELM_REGISTRY_CONFIG": self.docker_config,
            "CREDHELPER_KEY_PROVIDER": "env",
            "CREDHELPER_AESKEY": self.key_b64,
        }

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` pointed at this job: its store, Docker config, key and credential views."""
        env = jobenv.scrubbed(base)
        env.update(self.views)
        env.update(self._own())
        return env

    def activate(self) -> None:
        """Point this process at the job, so in-process logins land in the job's store."""
        for name in jobenv.DROPPED:
            os.environ.pop(name, None)
        os.environ.update(self._own())  # not the HOME views: those are for COMMAND

    def child_recorder(self) -> Callable[[], None]:
        """A preexec function: COMMAND's process writes its identity before it execs.

        Written from the child, the record exists before COMMAND can start anything,
        so a SIGKILL of credhelper at any moment never leaves a running COMMAND
        (or what it started) unrecorded.
        """
        target = os.path.join(self.path, CHILD_FILE)

        def record() -> None:
            fields = _stat_fields("self") or []
            start = fields[19].decode("ascii") if len(fields) > 19 else "0"
            text = f"{os.getpid()} {start} {os.getpgid(0)} {os.getsid(0)}\n"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o600)
            try:
                os.write(fd, text.encode("ascii"))
            finally:
                os.close(fd)

        return record

    def remove(self) -> None:
        """Remove the job; a signal arriving meanwhile is held until it is gone."""
        with cleanup.critical():
            shutil.rmtree(self.path, ignore_errors=True)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _job_name() -> str:
    ns, boot = identity()
    try:
        start = _self_start()
    except (OSError, ValueError, IndexError):
        start = "0"  # no /proc: such a job can never be proven dead, so never swept
    if (ns, boot) == _UNKNOWN:
        start = "0"
    return f"job-{os.getpid()}-{start}-{ns}-{boot}-{secrets.token_hex(4)}"


@contextlib.contextmanager
def job(base: Mapping[str, str] | None = None) -> Iterator[Job]:
    """A new job directory, removed with everything in it on every exit (signals included).

    `base` is the caller's environment, from which COMMAND's HOME and
    XDG_CONFIG_HOME views are made (see credhelper/jobenv.py).
    """
    root = _ensure_root()
    path = os.path.join(root, _job_name())
    current: Job | None = None
    # The try starts before mkdir: a signal held during mkdir is raised at the
    # end of the critical block, and the finally must already be in place.
    try:
        with cleanup.critical():
            os.mkdir(path, 0o700)
            current = Job(path)
        os.chmod(path, 0o700)
        for directory in (current.store_dir, current.docker_dir):
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
        # credsStore: `docker login` inside the job stores through credhelper too.
        _write_private(current.docker_config, b'{\n\t"credsStore": "credhelper"\n}')
        current.views = jobenv.make_views(path, os.environ if base is None else base)
        yield current
    finally:
        if current is not None:  # only a directory this call made is ever removed
            current.remove()


def _child_record(path: str) -> list[int] | None:
    """COMMAND's "<pid> <start> <pgid> <sid>", [] if there is none, None if odd."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not hang us
    try:
        fd = os.open(os.path.join(path, CHILD_FILE), flags)
    except FileNotFoundError:
        return []  # COMMAND never reached exec: the record is written before it
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        text = handle.read(128).decode("ascii", "replace").split()
    if len(text) != 4 or not all(part.isdigit() and len(part) <= 20 for part in text):
        return None
    values = [int(part) for part in text]
    return values if values[1] > 0 and values[2] > 0 and values[3] > 0 else None


def _group_empty(pgid: int, sid: int) -> bool:
    """No live (non-zombie) process in /proc has process group `pgid` or session `sid`."""
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return False
    for name in names:
        try:
            fields = _stat_fields(name)
        except OSError:
            return False  # a process we cannot see may be one of the job's
        except (ValueError, IndexError):
            return False
        if fields is None or fields[0] == b"Z":
            continue
        if int(fields[2]) == pgid or int(fields[3]) == sid:
            return False
    return True


def _job_dead(path: str) -> bool:
    record = _child_record(path)
    if record is None:
        return False
    if not record:
        return True
    pid, start, pgid, sid = record
    return _provably_dead(pid, str(start)) and _group_empty(pgid, sid)


def sweep_stale() -> list[str]:
    """Remove the job directories of jobs proven dead; returns what was removed."""
    path = jobs_root()
    mine = identity()
    if mine == _UNKNOWN:
        return []
    try:
        _check_root(path)
        names = os.listdir(path)
    except (OSError, StoreError):
        return []
    removed: list[str] = []
    for name in sorted(names):
        match = _NAME.fullmatch(name)
        if match is None or (match.group(3), match.group(4)) != mine:
            continue  # not ours, or another pid namespace / boot: its pids mean nothing here
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
        if _provably_dead(pid, start) and _job_dead(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            if not os.path.lexists(candidate):
                removed.append(candidate)
    return removed
