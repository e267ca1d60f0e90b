"""The encrypted store: credhelper's own config.json of sealed entries.

Owns the v1 file format, the state of each entry (ok / needs re-login / corrupt)
and every read-modify-write (under the lock, written through fsutil). Readers take
no lock: writes are atomic renames, so a reader sees a whole old or new file.
This module is on the `get` hot path: standard library, crypto and keys only.

File format, version 1:

    {"version": 1,
     "keyProvider": {"name": "file"},                 (optional, see keys/)
     "auths": {
       "<server>": {"sealed": "<b64 nonce|ct|tag>", "keyId": "<16 hex>",
                    "updated": "<UTC ISO-8601>"},
       "<server>": {"invalidated": "<UTC ISO-8601>", "reason": "key rotation"}},
     "keyRotation": {"newKeyId": "<16 hex>", ...}}     (only while a rotation runs)

Rotation (credhelper/rotate.py) leaves entries sealed by a *pending* key for a
moment; readers that meet a key-id mismatch look for that pending key and re-read
the store once or twice (only then: the common path pays nothing), and the next
writer under the lock finishes an interrupted rotation (`recover_rotation`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from credhelper import crypto, fsutil, keys, paths
from credhelper.errors import CorruptEntry, Invalidated, NotFound, StoreError

if TYPE_CHECKING:  # the Protocol class is for mypy; the hot path skips the import
    from credhelper.keys.base import KeyProvider

FORMAT_VERSION = crypto.FORMAT_VERSION
STATE_OK = "ok"
STATE_RELOGIN = "needs-relogin"
STATE_CORRUPT = "corrupt"
DOCKER_HUB = "https://index.docker.io/v1/"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def login_command(server: str) -> str:
    """The command that fixes a missing or invalidated login for `server`."""
    if server == DOCKER_HUB:
        return "credhelper login"
    return f"credhelper login {server}"


class Credentials:
    """One decrypted login. The secret never appears in repr()."""

    __slots__ = ("secret", "server", "username")

    def __init__(self, server: str, username: str, secret: str) -> None:
        self.server = server
        self.username = username
        self.secret = secret

    def __repr__(self) -> str:
        return f"Credentials(server={self.server!r}, username={self.username!r}, secret=***)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and (
            (self.server, self.username, self.secret)
            == (other.server, other.username, other.secret)
        )

    __hash__ = None  # type: ignore[assignment]


class EntryStatus:
    """What `credhelper list` and `doctor` say about one entry; never a secret."""

    __slots__ = ("detail", "key_id", "server", "state", "updated", "username")

    def __init__(
        self,
        server: str,
        state: str,
        username: str | None,
        updated: str | None,
        detail: str,
        key_id: str | None,
    ) -> None:
        self.server = server
        self.state = state
        self.username = username
        self.updated = updated
        self.detail = detail
        self.key_id = key_id

    def as_dict(self) -> dict[str, str | None]:
        return {
            "server": self.server,
            "state": self.state,
            "username": self.username,
            "updated": self.updated,
            "detail": self.detail or None,
            "keyId": self.key_id,
        }

    def __repr__(self) -> str:
        return f"EntryStatus({self.server!r}, {self.state!r}, {self.detail!r})"


def parse_document(raw: bytes, path: str) -> dict[str, Any]:
    """Parse and check a store file; StoreError (one line) if it is not a v1 store."""

    def fail(cause: str) -> StoreError:
        return StoreError(f"credhelper: cannot read store {path}: {cause}; run: credhelper doctor")

    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise fail(f"invalid JSON at line {err.lineno} column {err.colno} ({err.msg})") from None
    except RecursionError:
        raise fail("JSON nested too deeply") from None
    except ValueError:  # e.g. an integer beyond Python's 4300-digit conversion limit
        raise fail("invalid JSON (a number too large to read)") from None
    if not isinstance(doc, dict):
        raise fail("not a JSON object")
    version = doc.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        if version is None:
            raise fail("no format version (not a credhelper store)")
        raise fail(
            f"unsupported format version {version!r} (this credhelper reads version "
            f"{FORMAT_VERSION}; a newer credhelper wrote it)"
        )
    auths = doc.get("auths", {})
    if not isinstance(auths, dict):
        raise fail('"auths" is not a JSON object')
    doc["auths"] = auths
    record = doc.get("keyProvider")
    if record is not None and not isinstance(record, dict):
        raise fail('"keyProvider" is not a JSON object')
    return doc


def serialize_document(doc: dict[str, Any]) -> bytes:
    out: dict[str, Any] = {"version": FORMAT_VERSION}
    for name, value in doc.items():
        if name not in ("version", "auths"):
            out[name] = value
    out["auths"] = dict(sorted(doc.get("auths", {}).items()))
    return (json.dumps(out, indent=1) + "\n").encode("ascii")


# How often a reader that met a key-id mismatch re-reads store and key. A
# rotation changes the store once and the key once, so two re-reads always see a
# consistent pair unless another rotation starts meanwhile.
_REREADS = 2


class Snapshot:
    """A store as read at one instant, with its key loaded on first need."""

    def __init__(
        self,
        doc: dict[str, Any],
        path: str,
        directory: str | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.doc = doc
        self.path = path
        self.directory = directory if directory is not None else os.path.dirname(path)
        self.auths: dict[str, Any] = doc["auths"]
        self._raw = raw
        self._provider: KeyProvider | None = None
        self._sealer: crypto.Sealer | None = None
        self._key_loaded = False
        self._pending: crypto.Sealer | None = None
        self._pending_loaded = False
        self._mismatch = False

    @property
    def provider(self) -> KeyProvider:
        if self._provider is None:
            self._provider = keys.select(self.doc.get("keyProvider"), self.directory)
        return self._provider

    def sealer(self) -> crypto.Sealer | None:
        """The current key's sealer, or None when no key exists (never creates one)."""
        if not self._key_loaded:
            key = self.provider.load()
            self._sealer = crypto.Sealer(key) if key is not None else None
            self._key_loaded = True
        return self._sealer

    def _pending_sealer(self, kid: str) -> crypto.Sealer | None:
        """The pending key of a rotation in progress, if it is the one that sealed `kid`."""
        if not self._pending_loaded:
            self._pending_loaded = True
            key = self.provider.load_pending()
            self._pending = crypto.Sealer(key) if key is not None else None
        if self._pending is not None and self._pending.key_id == kid:
            return self._pending
        return None

    def _refresh(self) -> bool:
        """Re-read store and key after a mismatch; True if either changed.

        A rotation may have replaced the store or promoted the key between our
        read of the one and of the other.
        """
        old_kid = self._sealer.key_id if self._sealer is not None else None
        raw = fsutil.read_file_nofollow(self.path, "store")
        if raw is None:
            raw = b""
            doc: dict[str, Any] = {"version": FORMAT_VERSION, "auths": {}}
        else:
            doc = parse_document(raw, self.path)
        self.doc, self.auths = doc, doc["auths"]
        changed = raw != self._raw
        self._raw = raw
        self._provider = None
        self._key_loaded = self._pending_loaded = False
        self._pending = None
        self._mismatch = False
        sealer = self.sealer()
        return changed or (sealer.key_id if sealer is not None else None) != old_kid

    def servers(self) -> list[str]:
        return sorted(self.auths)

    def get(self, server: str) -> Credentials:
        """The credentials for `server`; NotFound, Invalidated or CorruptEntry otherwise."""
        for attempt in range(_REREADS + 1):
            if server not in self.auths:
                raise NotFound(server)
            entry = self.auths[server]  # a JSON null here is corrupt, not absent
            try:
                username, secret = self._open(server, entry)
            except Invalidated:
                if not self._mismatch or attempt == _REREADS or not self._refresh():
                    raise
                continue
            return Credentials(server, username, secret)
        raise NotFound(server)  # not reached: the loop returns or raises

    def _open(self, server: str, entry: Any) -> tuple[str, str]:
        if not isinstance(entry, dict):
            raise CorruptEntry(server, "entry is not a JSON object")
        sealed = entry.get("sealed")
        kid = entry.get("keyId")
        if sealed is None and "invalidated" in entry:
            when = entry.get("invalidated") or "an unknown time"
            reason = entry.get("reason") or "key rotation"
            raise Invalidated(
                server,
                f"credhelper: credentials for {server} were invalidated by {reason} at "
                f"{when}; run: {login_command(server)}",
            )
        if not isinstance(sealed, str) or not isinstance(kid, str):
            raise CorruptEntry(server, "entry has no ciphertext or key id")
        sealer = self.sealer()
        if sealer is None or kid != sealer.key_id:
            # The slow path: a rotation in progress, or a lost/replaced key.
            pending = self._pending_sealer(kid)
            if pending is not None:
                try:
                    return pending.unseal(server, sealed)
                except crypto.SealError as err:
                    raise CorruptEntry(server, str(err)) from None
            self._mismatch = True
        if sealer is None:
            raise Invalidated(
                server,
                f"credhelper: credentials for {server} were sealed by a key that no longer "
                f"exists ({self.provider.describe()} is missing); run: {login_command(server)}",
            )
        if kid != sealer.key_id:
            raise Invalidated(
                server,
                f"credhelper: credentials for {server} were sealed by key {kid}, which no "
                f"longer exists (the {self.provider.describe()} now holds key "
                f"{sealer.key_id}); run: {login_command(server)}",
            )
        try:
            return sealer.unseal(server, sealed)
        except crypto.SealError as err:
            raise CorruptEntry(server, str(err)) from None

    def status(self, server: str) -> EntryStatus:
        entry = self.auths[server]
        updated = entry.get("updated") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and entry.get("sealed") is None:
            updated = entry.get("invalidated", updated)
        kid = entry.get("keyId") if isinstance(entry, dict) else None
        updated = updated if isinstance(updated, str) else None
        kid = kid if isinstance(kid, str) else None
        try:
            username, _secret = self._open(server, entry)
        except Invalidated as err:
            return EntryStatus(server, STATE_RELOGIN, None, updated, err.hint, kid)
        except CorruptEntry as err:
            return EntryStatus(server, STATE_CORRUPT, None, updated, err.cause, kid)
        return EntryStatus(server, STATE_OK, username, updated, "", kid)

    def statuses(self) -> list[EntryStatus]:
        result = [self.status(server) for server in self.servers()]
        for _attempt in range(_REREADS):
            if not self._mismatch or not self._refresh():
                break
            result = [self.status(server) for server in self.servers()]
        return result

    def usernames(self) -> tuple[dict[str, str], list[EntryStatus]]:
        """(server -> username for every usable entry, the entries that are not usable)."""
        found: dict[str, str] = {}
        problems: list[EntryStatus] = []
        for status in self.statuses():
            if status.state == STATE_OK and status.username is not None:
                found[status.server] = status.username
            else:
                problems.append(status)
        return found, problems


class Transaction(Snapshot):
    """A snapshot taken under the lock that may be changed and is written back once."""

    def __init__(
        self,
        doc: dict[str, Any],
        path: str,
        directory: str | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(doc, path, directory, raw)
        self.dirty = False

    def write_sealer(self) -> crypto.Sealer:
        """The sealer for new entries, creating the key if there is none yet."""
        sealer = self.sealer()
        if sealer is None:
            self._sealer = crypto.Sealer(self.provider.load_or_create())
            sealer = self._sealer
        return sealer

    def put(self, server: str, username: str, secret: str) -> None:
        sealer = self.write_sealer()
        self.auths[server] = {
            "sealed": sealer.seal(server, username, secret),
            "keyId": sealer.key_id,
            "updated": utc_now(),
        }
        self.dirty = True

    def delete(self, server: str) -> bool:
        if server not in self.auths:
            return False
        del self.auths[server]
        self.dirty = True
        return True

    def set_entry(self, server: str, entry: dict[str, Any]) -> None:
        """Put a raw entry record (rotation, migration); the caller built it."""
        self.auths[server] = entry
        self.dirty = True


ROTATION_MARK = "keyRotation"


def recover_rotation(doc: dict[str, Any], provider: KeyProvider) -> bool:
    """Finish or clean up a rotation that was killed; True if `doc` changed.

    Called by every writer under the lock. A rotation writes the pending key,
    then the store carrying ROTATION_MARK with the pending key's id, then promotes
    the key, then drops the mark. So a mark means the store already needs the new
    key: promote it if it is still pending. No mark means any pending key never
    reached the store: discard it.
    """
    mark = doc.get(ROTATION_MARK)
    if mark is None:
        if provider.name == "file":  # cheap for a file; keyring items are just overwritten
            provider.discard_pending()
        return False
    target = mark.get("newKeyId") if isinstance(mark, dict) else None
    current = provider.load()
    if current is None or crypto.key_id(current) != target:
        pending = provider.load_pending()
        if pending is not None and crypto.key_id(pending) == target:
            provider.promote_pending()
        # Else the new key is lost (nothing credhelper does leads here); the
        # entries sealed by it then report needs-relogin, never garbage.
    else:
        provider.discard_pending()
    del doc[ROTATION_MARK]
    return True


class LockedStore:
    """The store while this process holds its lock: read and write as often as needed."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self) -> Transaction:
        raw = fsutil.read_file_nofollow(self.store.path, "store")
        doc = (
            parse_document(raw, self.store.path)
            if raw is not None
            else {"version": FORMAT_VERSION, "auths": {}}
        )
        return Transaction(doc, self.store.path, self.store.directory, raw)

    def write(self, doc: dict[str, Any]) -> None:
        fsutil.atomic_write(self.store.path, serialize_document(doc), what="store")


class Store:
    """The store in one directory ($CREDHELPER_HOME or its defaults)."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory if directory is not None else paths.store_dir()
        self.path = os.path.join(self.directory, paths.STORE_NAME)
        self.lock_path = os.path.join(self.directory, paths.LOCK_NAME)

    def _read_document(self) -> dict[str, Any]:
        raw = fsutil.read_file_nofollow(self.path, "store")
        if raw is None:
            return {"version": FORMAT_VERSION, "auths": {}}
        return parse_document(raw, self.path)

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def snapshot(self) -> Snapshot:
        """Read the store without locking (never creates anything)."""
        raw = fsutil.read_file_nofollow(self.path, "store")
        if raw is None:
            return Snapshot({"version": FORMAT_VERSION, "auths": {}}, self.path, self.directory)
        return Snapshot(parse_document(raw, self.path), self.path, self.directory, raw)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[LockedStore]:
        """Hold the store lock; an interrupted rotation is finished first."""
        fsutil.ensure_private_dir(self.directory)
        with fsutil.locked(self.lock_path):
            fsutil.remove_stale_temps(self.directory)
            session = LockedStore(self)
            snap = session.read()
            if recover_rotation(snap.doc, snap.provider):
                session.write(snap.doc)
            yield session

    def get(self, server: str) -> Credentials:
        return self.snapshot().get(server)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock, re-read, let the caller change things, write back once if changed.

        If the body raises, nothing is written.
        """
        with self.exclusive() as session:
            txn = session.read()
            yield txn
            if txn.dirty:
                session.write(txn.doc)

    def put(self, server: str, username: str, secret: str) -> None:
        with self.transaction() as txn:
            txn.put(server, username, secret)

    def delete(self, server: str) -> bool:
        if not os.path.lexists(self.path):
            # Nothing stored yet: erasing must not create the store directory, key
            # or lock (docker logout erases up to four spellings of a server).
            return False
        with self.transaction() as txn:
            return txn.delete(server)
