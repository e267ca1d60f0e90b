"""Writing the store: the lock, one read per write, transactions, rotation recovery.

A `Transaction` is a snapshot taken under the lock that may be changed and is
written back once (one atomic rename through fsutil). Every change of entries
goes through its methods (put, delete, invalidate, rekey); every write re-seals
the header when what it vouches for changed, and drops expired logins.
"""

from __future__ import annotations

import os

from credhelper import crypto, fsutil, paths
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.errors import CorruptEntry, Expired, Invalidated, KeyProblem, StoreError
from credhelper.store.model import (
    FORMAT_VERSION,
    REASON_ROTATION,
    STATE_CORRUPT,
    BrokenEntry,
    Credentials,
    Document,
    InvalidatedEntry,
    SealedEntry,
    empty_document,
    header_plaintext,
    parse_document,
    same_record,
    serialize_document,
    utc_now,
)
from credhelper.store.snapshot import Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing`, `collections` and contextlib cost start-up time
    import contextlib
    from collections.abc import Callable, Iterator
    from typing import Any

    from credhelper.keys.base import KeyProvider
else:
    from credhelper import lazycontext as contextlib

BACKUP_PREFIX = paths.STORE_NAME + ".bak-"


class RekeyReport:
    """What a rekey did to each server (rotation's result is built from it)."""

    __slots__ = ("dropped_expired", "kept_lost", "needs_login", "reencrypted")

    def __init__(self) -> None:
        self.reencrypted: list[str] = []
        self.needs_login: list[str] = []
        self.kept_lost: list[str] = []  # sealed by a key not held: left exactly as they were
        self.dropped_expired: list[str] = []


class Transaction(Snapshot):
    """A snapshot taken under the lock that may be changed and is written back once."""

    def __init__(self, doc: Document, path: str, directory: str, raw: bytes | None) -> None:
        super().__init__(doc, path, directory, raw)
        self.dirty = False
        self._header_key: crypto.Sealer | None = None  # set when the key changed
        self._key_created: str | None = None

    # ------------------------------------------------------------ keys

    def write_sealer(self) -> crypto.Sealer:
        """The sealer for new entries, creating the key if the store has none yet.

        Never a new or different key while records sealed by another key exist:
        that would follow an edited keyProvider record (or a lost key) into a
        fresh key, e.g. a plaintext key file beside a keyring store.
        """
        sealer = self.sealer()
        foreign = self._foreign_key_id(sealer)
        if foreign is not None:
            where = self.provider.describe()
            if sealer is None:
                what = f"refusing to create a new key in the {where}"
            else:
                what = f"refusing to seal with key {sealer.key_id} from the {where}"
            fix = (
                "run: credhelper rotate --key-from-env (with --reencrypt and the old key in "
                "CREDHELPER_OLD_AESKEY to keep the logins)"
                if self.provider.name == "env"
                else "restore that key, or start over with: credhelper rotate"
            )
            raise KeyProblem(
                f"credhelper: {what}: the stored logins belong to key {foreign}, which it does "
                "not hold (the key was lost, moved or changed, or the store's keyProvider "
                f"record was edited); {fix}"
            )
        if sealer is None:
            self.use_key(self.provider.load_or_create(), created=True)
            sealer = self._sealer
            assert sealer is not None
        return sealer

    def use_key(self, key: bytes, *, created: bool) -> None:
        """Make `key` this store's key from this write on (setup, rotation, first write)."""
        self.sealer()  # verify the current header first: its key age may carry over
        sealer = crypto.Sealer(key)
        if created:
            self._key_created = utc_now() if self.provider.name != "env" else None
        elif self._header is not None and self._header.key_id == sealer.key_id:
            self._key_created = self._header.key_created  # the same key, moved
        else:
            self._key_created = None
        self._sealer, self._key_loaded, self._header_key = sealer, True, sealer
        self.dirty = True

    def set_provider(self, record: dict[str, Any] | None) -> None:
        """Record another key provider (keys.setup); the header is re-sealed with it."""
        self.sealer()  # verify the header against the record it was sealed with first
        self.doc.provider = record
        self.dirty = True

    # ------------------------------------------------------------ entries

    def put(self, server: str, username: str, secret: str, expires: str | None = None) -> None:
        """Seal a login; `expires` (a stored instant) is authenticated with it."""
        sealer = self.write_sealer()
        sealed = sealer.seal_entry(server, username, secret, expires or "")
        self.doc.put_entry(server, SealedEntry(sealed, sealer.key_id, utc_now(), expires or ""))
        self.dirty = True

    def delete(self, server: str) -> bool:
        if server not in self.doc.auths:
            return False
        del self.doc.auths[server]
        self.dirty = True
        return True

    def expired(self) -> list[str]:
        """Servers whose login has expired (authenticated expiry; edited ones are corrupt)."""
        now = utc_now()
        out = []
        for server in self.servers():
            entry = self.doc.entry(server)
            if isinstance(entry, SealedEntry) and entry.expires and entry.expires <= now:
                try:
                    self._open(server, entry)
                except Expired:
                    out.append(server)
                except (Invalidated, CorruptEntry):
                    continue
        return out

    def purge_expired(self) -> list[str]:
        """Remove every expired login; the servers removed."""
        gone = self.expired()
        for server in gone:
            self.delete(server)
        return gone

    # ------------------------------------------------------------ rotation

    def rekey(
        self,
        new: crypto.Sealer,
        *,
        reencrypt: bool,
        opener: Callable[[str, Any], tuple[str, str]] | None = None,
    ) -> RekeyReport:
        """Move every entry to key `new`: re-seal (reencrypt) or invalidate, keeping usernames.

        `opener(server, entry)` opens an entry under an old key (default: this
        snapshot's keys); Invalidated from it means "sealed by a key not held".
        Entries already sealed by `new` are kept.
        """
        opener = opener or self._open
        report = RekeyReport()
        now = utc_now()
        for server in self.servers():
            self._rekey_one(server, self.doc.entry(server), new, reencrypt, opener, now, report)
        self._sealer, self._key_loaded, self._header_key = new, True, new
        self._key_created = now if self.provider.name != "env" else None
        self.dirty = True
        return report

    def _rekey_one(
        self,
        server: str,
        entry: Any,
        new: crypto.Sealer,
        reencrypt: bool,
        opener: Callable[[str, Any], tuple[str, str]],
        now: str,
        report: RekeyReport,
    ) -> None:
        if isinstance(entry, InvalidatedEntry):
            user = self._kept_username(server, entry)
            self._invalidate(server, new, entry.when, entry.reason, user)
            report.needs_login.append(server)
            return
        if isinstance(entry, SealedEntry) and entry.key_id == new.key_id:
            report.reencrypted.append(server)  # logged in again since the key changed
            return
        try:
            if isinstance(entry, BrokenEntry):
                raise CorruptEntry(server, entry.cause)
            username, secret = opener(server, entry)
        except Expired:
            self.delete(server)
            report.dropped_expired.append(server)
            return
        except Invalidated:
            if reencrypt:
                report.kept_lost.append(server)  # restorable if the key comes back
                return
            self._invalidate(server, new, now, REASON_ROTATION, None)
            report.needs_login.append(server)
            return
        except CorruptEntry as err:
            self._invalidate(
                server, new, now, f"{REASON_ROTATION} (it was corrupt: {err.cause})", None
            )
            report.needs_login.append(server)
            return
        assert isinstance(entry, SealedEntry)
        if reencrypt:
            sealed = new.seal_entry(server, username, secret, entry.expires)
            self.doc.put_entry(
                server, SealedEntry(sealed, new.key_id, entry.updated or now, entry.expires)
            )
            report.reencrypted.append(server)
        else:
            self._invalidate(server, new, now, REASON_ROTATION, username)
            report.needs_login.append(server)

    def _invalidate(
        self, server: str, new: crypto.Sealer, when: str, reason: str, username: str | None
    ) -> None:
        user = None
        if username is not None:
            plaintext = json.dumps({"Username": username}).encode("ascii")
            user = new.seal_record(crypto.DOMAIN_USERNAME, server, plaintext)
        kid = new.key_id if user is not None else None
        self.doc.put_entry(server, InvalidatedEntry(when, reason, user, kid))

    def opener_for(self, old: crypto.Sealer | None) -> Callable[[str, Any], tuple[str, str]]:
        """An opener for `rekey` that opens only what `old` sealed (env fleet rotation)."""

        def open_with_old(server: str, entry: Any) -> tuple[str, str]:
            if old is None or not isinstance(entry, SealedEntry) or entry.key_id != old.key_id:
                raise Invalidated(server, f"credhelper: {server} is sealed by a key not held")
            return self._unseal(server, entry, old)

        return open_with_old

    def mark_rotation(self, mark: dict[str, Any] | None) -> None:
        self.doc.rotation = mark
        self.dirty = True

    # ------------------------------------------------------------ writing

    def render(self) -> bytes:
        """The bytes to write: expired logins dropped, the header re-sealed if needed."""
        self.purge_expired()
        self._reseal_header()
        return serialize_document(self.doc)

    def _reseal_header(self) -> None:
        sealer = self._header_key or self.sealer()
        if sealer is None:
            return  # no key held: the header (if any) stays exactly as it was
        current = self._header
        same_key = current is not None and current.key_id == sealer.key_id
        if self._header_key is None:
            if self._foreign_key_id(sealer) is not None:
                return  # never vouch for a key the store does not belong to
            if (
                current is not None
                and same_key
                and same_record(current.provider, self.doc.provider)
                and (self.doc.version == FORMAT_VERSION)
            ):
                return  # unchanged: keep the bytes
            created = current.key_created if same_key and current is not None else None
        else:
            created = self._key_created
        sealed = sealer.seal_record(
            crypto.DOMAIN_HEADER, "", header_plaintext(self.doc.provider, created)
        )
        self.doc.version = FORMAT_VERSION
        self.doc.header = {"sealed": sealed, "keyId": sealer.key_id}


ROTATION_MARK = "keyRotation"


def recover_rotation(doc: Document, provider: KeyProvider) -> bool:
    """Finish or clean up a rotation that was killed; True if `doc` changed.

    Called by every writer under the lock. A rotation writes the pending key,
    then the store carrying the rotation mark with the pending key's id, then
    promotes the key, then drops the mark. So a mark means the store already
    needs the new key: promote it if it is still pending. No mark means any
    pending key never reached the store: discard it. The mark is not
    authenticated and needs not be: it can only promote a pending key that
    credhelper itself wrote and that carries exactly the id it names.
    """
    if doc.rotation is None:
        if provider.name == "file":  # cheap for a file; keyring items are just overwritten
            provider.discard_pending()
        return False
    target = doc.rotation_target()
    current = provider.load()
    if current is None or crypto.key_id(current) != target:
        pending = provider.load_pending()
        if pending is not None and crypto.key_id(pending) == target:
            provider.promote_pending()
        # Else the new key is lost (nothing credhelper does leads here); the
        # entries sealed by it then report needs-relogin, never garbage.
    else:
        provider.discard_pending()
    doc.rotation = None
    return True


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
    def exclusive(self) -> Iterator[LockedStore]:
        """Hold the store lock; an interrupted rotation is finished first."""
        fsutil.ensure_private_dir(self.directory)
        with fsutil.locked(self.lock_path):
            fsutil.remove_stale_temps(self.directory)
            txn = self.read_locked()
            session = LockedStore(self, txn)
            if recover_rotation(txn.doc, txn.provider):
                session.write(txn)
                session = LockedStore(self, self.read_locked())
            yield session

    def get(self, server: str) -> Credentials:
        return self.snapshot().get(server)

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
