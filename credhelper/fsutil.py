"""Safe file primitives: private directories, no-follow opens, atomic writes, locks.

Every write credhelper makes goes through here: a temp file created 0600 with
O_EXCL|O_NOFOLLOW in the target's directory, flushed and fsynced, atomically
renamed over the target, then the directory fsynced. A reader therefore sees the
old file or the new one, never a torn one, and needs no lock. Writers serialise
on a flock(2) taken by `locked()`, which lives in `credhelper.fslock` so that its
code and imports stay off the `get`/`list` hot path.
"""

from __future__ import annotations

import errno
import os
import stat

from credhelper.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time contextlib is imported on first use (hot path)
    import contextlib
else:
    from credhelper import lazycontext as contextlib

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
TEMP_MARK = ".tmp-"


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


def ensure_private_dir(path: str) -> None:
    """Create `path` (and missing parents) as 0700 whatever the umask; check an existing one.

    An existing directory must be a real directory owned by us, with no access for
    group or others: anyone else who can write there could plant a symlink or a
    key of their own.
    """
    missing: list[str] = []
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:
            pass  # a concurrent first run made it; it is checked below
        except OSError as err:
            raise StoreError(
                f"credhelper: cannot create directory {directory}: {_describe(err)}"
            ) from None
        else:
            # mkdir's mode is filtered through the umask; set it explicitly.
            os.chmod(directory, PRIVATE_DIR)
    check_private_dir(path)


def check_private_dir(path: str) -> None:
    try:
        st = os.lstat(path)
    except OSError as err:
        raise StoreError(f"credhelper: cannot use directory {path}: {_describe(err)}") from None
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(
            f"credhelper: refusing store directory {path}: it is a symbolic link; "
            "point CREDHELPER_HOME at the real directory"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"credhelper: refusing store directory {path}: not a directory")
    if st.st_uid != os.geteuid():
        raise StoreError(
            f"credhelper: refusing store directory {path}: owned by uid {st.st_uid}, "
            f"not by you (uid {os.geteuid()}); fix: chown {os.geteuid()} {path}"
        )
    if st.st_mode & 0o077:
        raise StoreError(
            f"credhelper: refusing store directory {path}: mode "
            f"{stat.S_IMODE(st.st_mode):04o} lets others in; fix: chmod 700 {path} "
            "(or run: credhelper doctor --fix)"
        )


def read_file_nofollow(
    path: str, what: str, *, private: bool = False, limit: int | None = None
) -> bytes | None:
    """Read a regular file we own without following a symlink; None if it is absent.

    `private` also refuses a file that group or others may read or write (a key,
    as ssh refuses a private key); `limit` caps how much is read.
    """
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the open; the
        # S_ISREG check below then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StoreError(
                f"credhelper: refusing {what} {path}: it is a symbolic link; replace it "
                "with the real file (mv the target over it) or run: credhelper doctor --fix"
            ) from None
        raise StoreError(f"credhelper: cannot read {what} {path}: {_describe(err)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"credhelper: refusing {what} {path}: not a regular file")
        if st.st_uid != os.geteuid():
            also = f" && chmod 600 {path}" if private else ""
            raise StoreError(
                f"credhelper: refusing {what} {path}: owned by uid {st.st_uid}, not by you "
                f"(uid {os.geteuid()}); fix: chown {os.geteuid()} {path}{also}"
            )
        if private and st.st_mode & 0o077:
            raise StoreError(
                f"credhelper: refusing {what} {path}: mode {stat.S_IMODE(st.st_mode):04o} "
                f"lets others read or change it; fix: chmod 600 {path} "
                "(or run: credhelper doctor --fix)"
            )
        if limit is not None:
            return os.read(fd, limit)
        chunks = []
        # The whole file in one read, usually: one buffer, and join returns it as it
        # is (a 2.4 MB store read in 1 MiB chunks cost a second buffer and its copy).
        want = min(st.st_size, 1 << 26) + 1
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            want = 1 << 20
        return b"".join(chunks)
    except OSError as err:
        raise StoreError(f"credhelper: cannot read {what} {path}: {_describe(err)}") from None
    finally:
        os.close(fd)


def _temp_path(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")


def _write_temp(path: str, data: bytes) -> str:
    tmp = _temp_path(path)
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE
    )
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have removed owner bits
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, what: str = "file") -> None:
    """Replace `path` with `data` atomically and durably, mode 0600.

    On any failure (disk full, read-only directory, quota) the old file is left as
    it was and a one-line StoreError says why.
    """
    tmp: str | None = None
    try:
        tmp = _write_temp(path, data)
        os.replace(tmp, path)
        tmp = None
        fsync_dir(os.path.dirname(path) or ".")
    except BaseException as err:  # a signal (cleanup.Terminated) between the two steps too
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if not isinstance(err, OSError):
            raise
        raise StoreError(
            f"credhelper: cannot write {what} {path}: {_describe(err)}; "
            "the previous version is unchanged"
        ) from None


def create_exclusive(path: str, data: bytes, what: str = "file") -> bool:
    """Create `path` holding `data` only if it does not exist; True if we created it.

    The content is written to a private temp file first and then hard-linked into
    place: link() fails if the name exists (the O_EXCL guarantee, so two first runs
    end with one file) and, unlike O_CREAT|O_EXCL on the final name, nobody can
    ever observe the file empty or half written.
    """
    tmp: str | None = None
    try:
        tmp = _write_temp(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(os.path.dirname(path) or ".")
        return True
    except OSError as err:
        raise StoreError(f"credhelper: cannot create {what} {path}: {_describe(err)}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def remove_stale_temps(directory: str) -> None:
    """Remove temp files left by a writer that was killed mid-write.

    Only called while holding the store lock: every writer creates its temp files
    under that lock, so any temp file seen then belongs to a dead process.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(".") and TEMP_MARK in name:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def locked(lock_path: str, timeout: float | None = None) -> contextlib.AbstractContextManager[None]:
    """Hold the writers' lock on `lock_path`; see `credhelper.fslock.locked`.

    Kept here so callers keep one import for file safety; the lock module is
    imported only by a writer, never by a `get`.
    """
    from credhelper import fslock

    return fslock.locked(lock_path, timeout)
