"""Reading the store: a `Snapshot` opens entries and reports their states.

Readers take no lock (writes are atomic renames). A reader that meets a key-id
mismatch looks for a rotation's pending key and re-reads store and key once or
twice (only then: the common path pays nothing). Keys and the header are
keyed.py's. On the `get` hot path.
"""

from __future__ import annotations

from credhelper import crypto, fsutil
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.advice import login_command
from credhelper.errors import CorruptEntry, Expired, Invalidated, NotFound
from credhelper.store.document import empty_document, parse_document
from credhelper.store.keyed import KeyedDocument
from credhelper.store.model import (
    STATE_CORRUPT,
    STATE_EXPIRED,
    STATE_OK,
    STATE_RELOGIN,
    BrokenEntry,
    Credentials,
    EntryStatus,
    InvalidatedEntry,
    SealedEntry,
    shown,
    utc_now,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` costs start-up time
    from typing import Any

# How often a reader that met a key-id mismatch re-reads store and key. A
# rotation changes the store once and the key once, so two re-reads always see a
# consistent pair unless another rotation starts meanwhile.
_REREADS = 2


class Snapshot(KeyedDocument):
    """A store as read at one instant: its entries opened and reported."""

    def _refresh(self) -> bool:
        """Re-read store and key after a mismatch; True if either changed."""
        old_kid = self._sealer.key_id if self._sealer is not None else None
        raw = fsutil.read_file_nofollow(self.path, "store")
        doc = parse_document(raw, self.path) if raw is not None else empty_document()
        changed = raw != self._raw
        self.doc, self._raw = doc, raw
        self._provider = self._pending = self._header = self._loaded = None
        self._key_loaded = self._pending_loaded = self._mismatch = False
        sealer = self.sealer()
        return changed or (sealer.key_id if sealer is not None else None) != old_kid

    def servers(self) -> list[str]:
        return sorted(self.doc.auths)

    def get(self, server: str) -> Credentials:
        """The credentials for `server`; NotFound, Invalidated (Expired) or CorruptEntry."""
        for attempt in range(_REREADS + 1):
            if server not in self.doc.auths:
                raise NotFound(server)
            try:
                username, secret = self._open(server, self.doc.entry(server))
            except Expired:
                raise
            except Invalidated:
                if not self._mismatch or attempt == _REREADS or not self._refresh():
                    raise
                continue
            return Credentials(server, username, secret)
        raise NotFound(server)  # not reached: the loop returns or raises

    def _open(self, server: str, entry: Any) -> tuple[str, str]:
        if isinstance(entry, BrokenEntry):
            raise CorruptEntry(server, entry.cause)
        if isinstance(entry, InvalidatedEntry):
            raise Invalidated(
                server,
                shown(
                    f"credhelper: credentials for {server} were invalidated by {entry.reason} "
                    f"at {entry.when}; run: {login_command(server)}"
                ),
            )
        return self._unseal(server, entry, self._sealer_for(server, entry.key_id))

    def _unseal(self, server: str, entry: SealedEntry, sealer: crypto.Sealer) -> tuple[str, str]:
        """Open `entry` with `sealer`: CorruptEntry if it fails, Expired after its expiry."""
        try:
            if entry.version == 1:
                username, secret = sealer.unseal(server, entry.sealed)
            else:
                username, secret = sealer.unseal_entry(server, entry.sealed, entry.expires)
        except crypto.SealError as err:
            raise CorruptEntry(server, str(err)) from None
        # Checked only after authentication: an edited expiry is corrupt, not expired.
        if entry.expires and entry.expires <= utc_now():
            raise Expired(
                server,
                entry.expires,
                shown(
                    f"credhelper: the login for {server} expired at {entry.expires}; "
                    f"run: {login_command(server)}"
                ),
            )
        return username, secret

    def remembered_username(self, server: str) -> str | None:
        """The username last used for `server` (ok, expired, or kept by a rotation)."""
        if server not in self.doc.auths:
            return None
        entry = self.doc.entry(server)
        if isinstance(entry, InvalidatedEntry):
            return self._kept_username(server, entry)
        try:
            return self._open(server, entry)[0]
        except Expired:
            return self._open_ignoring_expiry(server, entry)
        except (Invalidated, CorruptEntry):
            return None

    def _open_ignoring_expiry(self, server: str, entry: Any) -> str | None:
        if not isinstance(entry, SealedEntry):
            return None
        try:
            sealer = self._sealer_for(server, entry.key_id)
            return sealer.unseal_entry(server, entry.sealed, entry.expires)[0]
        except (Invalidated, crypto.SealError):
            return None

    def _kept_username(self, server: str, entry: InvalidatedEntry) -> str | None:
        if entry.user_sealed is None or entry.key_id is None:
            return None
        try:
            sealer = self._sealer_for(server, entry.key_id)
            plaintext = sealer.open_record(crypto.DOMAIN_USERNAME, server, entry.user_sealed)
            value = json.loads(plaintext).get("Username")
        except (Invalidated, crypto.SealError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def status(self, server: str) -> EntryStatus:
        entry = self.doc.entry(server)
        if isinstance(entry, SealedEntry):
            kid: str | None = entry.key_id
            updated: str | None = entry.updated or None
            expires = entry.expires or None
        elif isinstance(entry, InvalidatedEntry):
            kid, updated, expires = entry.key_id, entry.when, None
        else:
            kid = updated = expires = None
        try:
            username, _secret = self._open(server, entry)
        except Expired as err:
            user = self._open_ignoring_expiry(server, entry)
            return EntryStatus(server, STATE_EXPIRED, user, updated, err.hint, kid, expires)
        except Invalidated as err:
            user = (
                self._kept_username(server, entry) if isinstance(entry, InvalidatedEntry) else None
            )
            return EntryStatus(server, STATE_RELOGIN, user, updated, err.hint, kid, expires)
        except CorruptEntry as err:
            return EntryStatus(server, STATE_CORRUPT, None, updated, err.cause, kid, expires)
        return EntryStatus(server, STATE_OK, username, updated, "", kid, expires)

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
