"""The store on disk: the lock, one read per write, rotation recovery, backups.

`Store` is what the rest of credhelper uses: snapshot() to read without a lock,
transaction() / exclusive() to change the store under it. Every writer first
finishes a rotation that was killed, by the store's own provider (store/recovery.py).
"""

from __future__ import annotations

import os

from credhelper import fsutil, paths
from credhelper.errors import StoreError
from credhelper.store.document import empty_document, parse_document
from credhelper.store.header import ProviderRecordEdited
from credhelper.store.model import STATE_CORRUPT, Credentials
from credhelper.store.recovery import (
    ROTATION_MARK,
    drop_moved_file_key,
    recover_rotation,
    refuse_overridden,
    store_provider,
)
from credhelper.store.snapshot import Snapshot
from credhelper.store.txn import Transaction

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing`, `collections` and contextlib cost start-up time
    import contextlib
    from collections.abc import Callable, Iterator
    from typing import Any

else:
    from credhelper import lazycontext as contextlib

BACKUP_PREFIX = paths.STORE_NAME + ".bak-"

__all__ = ["ROTATION_MARK", "LockedStore", "Store", "purge_old_copies", "recover_rotation"]


def purge_old_copies(store: Store, old_key_id: str | None, new_key_id: str | None) -> list[str]:
    """After a forced rotation (the old key may have leaked): remove the store's backups and
    every sealed backup of Docker's config that a previous key opens; the removed paths.

    The one purge of both the uninterrupted rotation and a killed one finished here.
    """
    from credhelper import backups

    removed = store.purge_backups()
    removed += backups.purge_sealed_backups(old_key_id, keep_key_id=new_key_id)
    return removed


def _finish_purge(store: Store, mark: dict[str, Any]) -> None:
    if mark.get("mode") != "forced":
        return
    old, new = mark.get("oldKeyId"), mark.get("newKeyId")
    purge_old_copies(
        store, old if isinstance(old, str) else None, new if isinstance(new, str) else None
    )


class LockedStore:
    """The store while this process holds its lock: read and write as often as needed.

    The first `read()` returns the transaction read when the lock was taken (one
    read per write); later reads, after a write, read the file again.
    """

    def __init__(self, store: Store, first: Transaction) -> None:
        self.store = store
        self._next: Transaction | None = first

    def read(self) -> Transaction:
        if self._next is not None:
            txn, self._next = self._next, None
            return txn
        return self.store.read_locked()

    def write(self, txn: Transaction) -> None:
        fsutil.atomic_write(self.store.path, txn.render(), what="store")
        txn.dirty = False


class Store:
    """The store in one directory ($CREDHELPER_HOME or its defaults)."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory if directory is not None else paths.store_dir()
        self.path = os.path.join(self.directory, paths.STORE_NAME)
        self.lock_path = os.path.join(self.directory, paths.LOCK_NAME)

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def snapshot(self) -> Snapshot:
        """Read the store without locking (never creates anything)."""
        raw = fsutil.read_file_nofollow(self.path, "store")
        doc = parse_document(raw, self.path) if raw is not None else empty_document()
        return Snapshot(doc, self.path, self.directory, raw)

    def read_locked(self) -> Transaction:
        raw = fsutil.read_file_nofollow(self.path, "store")
        doc = parse_document(raw, self.path) if raw is not None else empty_document()
        return Transaction(doc, self.path, self.directory, raw)

    @contextlib.contextmanager
    def exclusive(self, *, switching: bool = False) -> Iterator[LockedStore]:
        """Hold the store lock; an interrupted rotation is finished first.

        By the store's own provider (the one its header names): a writer that an
        environment override points at another provider is refused before any
        write, unless it is `switching` the store to it (keys/setup.py).
        """
        fsutil.ensure_private_dir(self.directory)
        with fsutil.locked(self.lock_path):
            fsutil.remove_stale_temps(self.directory)
            txn = self.read_locked()
            own = store_provider(txn)
            if not switching:
                refuse_overridden(txn, own)
            session = LockedStore(self, txn)
            mark = recover_rotation(txn.doc, own)
            if mark is not None:
                session.write(txn)
                _finish_purge(self, mark)
                txn = self.read_locked()
                session = LockedStore(self, txn)
            if not switching:
                drop_moved_file_key(txn)
            yield session

    def get(self, server: str) -> Credentials:
        """What snapshot().get(server) gives, without building every entry (store/quick.py)."""
        from credhelper.store import quick

        return quick.get(self.path, self.directory, server)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock, read once, let the caller change things, write back once if changed.

        If the body raises, nothing is written.
        """
        with self.exclusive() as session:
            txn = session.read()
            yield txn
            if txn.dirty or txn.expired():
                session.write(txn)

    def put(self, server: str, username: str, secret: str, expires: str | None = None) -> None:
        with self.transaction() as txn:
            txn.put(server, username, secret, expires)

    def delete(self, server: str) -> bool:
        if not os.path.lexists(self.path):
            # Nothing stored yet: erasing must not create the store directory, key
            # or lock (docker logout erases up to four spellings of a server).
            return False
        with self.transaction() as txn:
            return txn.delete(server)

    def purge_expired(self) -> list[str]:
        """Remove expired logins (`logout --expired`); the servers removed."""
        if not os.path.lexists(self.path):
            return []
        with self.transaction() as txn:
            return txn.purge_expired()

    def remove_corrupt(
        self, servers: list[str], backup: Callable[[bytes], str]
    ) -> tuple[str | None, list[str]]:
        """Remove the entries of `servers` that are still corrupt, after `backup(raw)`.

        (the backup's path or None, the servers removed); for `doctor --fix`.
        """
        with self.transaction() as txn:
            still = [s for s in servers if s in txn.auths and txn.status(s).state == STATE_CORRUPT]
            if not still or txn.raw is None:
                return None, []
            path = backup(txn.raw)
            for server in still:
                txn.delete(server)
            return path, still

    def move_aside_if_unreadable(self, backup: Callable[[bytes], str]) -> str | None:
        """If the store file cannot be parsed: `backup(raw)`, remove it, return the backup."""
        fsutil.check_private_dir(self.directory)
        with fsutil.locked(self.lock_path):
            raw = fsutil.read_file_nofollow(self.path, "store")
            if raw is None:
                return None
            try:
                parse_document(raw, self.path)
            except StoreError:
                path = backup(raw)
                os.unlink(self.path)
                fsutil.fsync_dir(self.directory)
                return path
            return None

    def restore_provider_record(self) -> tuple[Any, Any] | None:
        """Put back the keyProvider record the header authenticates, if it was edited.

        (edited record, restored record), or None if nothing was edited. Safe: the
        header only opened because the key it vouches for was loaded.
        """
        with self.exclusive() as session:
            txn = session.read()
            try:
                txn.sealer()
                return None
            except ProviderRecordEdited as err:
                edited, txn.doc.provider = txn.doc.provider, err.authenticated
            txn.reload_key()
            txn.dirty = True
            session.write(txn)
            return edited, txn.doc.provider

    def remembered_username(self, server: str) -> str | None:
        """The username last stored for `server`, even if it needs a new login."""
        return self.snapshot().remembered_username(server)

    def purge_backups(self) -> list[str]:
        """Remove the store's own backups (`config.json.bak-*`); the paths removed.

        After a forced rotation these are the copies the old key still opens.
        Symlinks are removed, never followed.
        """
        removed = []
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        for name in names:
            if not name.startswith(BACKUP_PREFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                os.unlink(path)
            except IsADirectoryError:
                continue
            except FileNotFoundError:
                continue
            removed.append(path)
        if removed:
            fsutil.fsync_dir(self.directory)
        return removed
