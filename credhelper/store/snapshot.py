"""Reading the store: a `Snapshot` opens entries, verifies the header, reports states.

Readers take no lock (writes are atomic renames). A reader that meets a key-id
mismatch looks for a rotation's pending key and re-reads store and key once or
twice (only then: the common path pays nothing). On the `get` hot path.
"""

from __future__ import annotations

from credhelper import crypto, fsutil, keys
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.advice import login_command
from credhelper.errors import CorruptEntry, Expired, Invalidated, NotFound, StoreError
from credhelper.store.document import (
    Document,
    Header,
    empty_document,
    parse_document,
)
from credhelper.store.header import header_sealed_by, verify_header
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
if TYPE_CHECKING:  # for mypy: `typing` and the Protocol class cost start-up time
    from typing import Any

    from credhelper.keys.base import KeyProvider

# How often a reader that met a key-id mismatch re-reads store and key. A
# rotation changes the store once and the key once, so two re-reads always see a
# consistent pair unless another rotation starts meanwhile.
_REREADS = 2


class Snapshot:
    """A store as read at one instant, with its key loaded on first need."""

    def __init__(self, doc: Document, path: str, directory: str, raw: bytes | None = None) -> None:
        self.doc = doc
        self.path = path
        self.directory = directory
        self._raw = raw
        self._provider: KeyProvider | None = None
        self._sealer: crypto.Sealer | None = None
        self._key_loaded = False
        self._pending: crypto.Sealer | None = None
        self._pending_loaded = False
        self._mismatch = False
        self._header: Header | None = None

    @property
    def raw(self) -> bytes | None:
        """The bytes this snapshot was parsed from (None: no store file)."""
        return self._raw

    @property
    def provider_record(self) -> dict[str, Any] | None:
        """The store's keyProvider record (plaintext; verified against the header on load)."""
        return self.doc.provider

    def key_ids_in_use(self) -> set[str]:
        """Ids of the keys the stored records need (sealed entries, kept usernames)."""
        return self.doc.key_ids_in_use()

    def unfinished_rotation(self) -> str | None:
        """The new key id of a rotation killed before its key was promoted, if that key
        is held as the pending key (the next writer, or doctor --fix, promotes it)."""
        target = self.doc.rotation_target()
        if target is None:
            return None
        sealer = self.sealer()
        if sealer is not None and sealer.key_id == target:
            return None
        return target if self._pending_sealer(target) is not None else None

    @property
    def auths(self) -> dict[str, Any]:
        return self.doc.auths

    @property
    def provider(self) -> KeyProvider:
        if self._provider is None:
            self._provider = keys.select(self.doc.provider, self.directory)
        return self._provider

    def sealer(self) -> crypto.Sealer | None:
        """The current key's sealer, or None when no key exists (never creates one).

        The header is verified here, against whichever held key sealed it.
        """
        if not self._key_loaded:
            key = self.provider.load()
            self._sealer = crypto.Sealer(key) if key is not None else None
            self._key_loaded = True
            self._verify_header()
        return self._sealer

    def _verify_header(self) -> None:
        """Open the header with the key that sealed it (current or pending), if held."""
        self._header = verify_header(self.doc, self.path, self._sealer, self._pending_sealer)

    def reload_key(self) -> None:
        """Forget the loaded keys and header: the next use loads and verifies again."""
        self._provider = self._sealer = self._pending = self._header = None
        self._key_loaded = self._pending_loaded = False
        self.sealer()

    def header(self) -> Header | None:
        """The verified header (loads the key), or None if there is none we can open."""
        self.sealer()
        return self._header

    def key_created(self) -> str | None:
        """When the current key was made (UTC `YYYY-MM-DDTHH:MM:SSZ`), authenticated.

        None when unknown: a v1 store (made before key ages were recorded), the
        env provider (the secret system owns the key), or no key we hold.
        """
        header = self.header()
        if header is None or self._sealer is None or header.key_id != self._sealer.key_id:
            return None
        return header.key_created

    def _foreign_key_id(self, sealer: crypto.Sealer | None) -> str | None:
        """The key id the store belongs to when it is not `sealer`'s, else None."""
        if sealer is None and getattr(self.provider, "retired", None):
            # The key's server says it can never be used again (vault: the transit key's
            # min_decryption_version was raised): as after a forced rotation, the store
            # belongs to no key and the next login makes a new one.
            return None
        record = self.doc.header_record()
        if record is not None:
            if sealer is not None and record[1] == sealer.key_id:
                return None
            if sealer is None and self.doc.header_claim() == self.provider.name:
                # The key of this very provider is gone (`rm aeskey`, a deleted
                # keyring item): the old logins are lost and read as needs-relogin,
                # and a new key may start. A header naming another provider (a
                # keyring store whose keyProvider record now says "file") may not.
                return None
            return record[1]
        in_use = self.doc.key_ids_in_use()
        if not in_use or (sealer is not None and sealer.key_id in in_use):
            return None
        return sorted(in_use)[0]

    def _relogin_fix(self, server: str, sealer: crypto.Sealer | None) -> str:
        """What fixes a login sealed by a key not held: a login, if a login may seal now."""
        try:
            foreign = self._foreign_key_id(sealer)
        except StoreError:
            foreign = "?"
        if foreign is None:
            return f"run: {login_command(server)}"
        return f"restore that key, or run: credhelper rotate, then: {login_command(server)}"

    def _pending_sealer(self, kid: str) -> crypto.Sealer | None:
        """The pending key of a rotation in progress, if it is the one that sealed `kid`.

        Only when the rotation mark names `kid` and the header is sealed by that
        very key (a genuine rotation writes both at once): a pending key planted
        without them would otherwise open entries forged under it.
        """
        if self.doc.rotation_target() != kid:
            return None
        if not self._pending_loaded:
            self._pending_loaded = True
            slots = self.provider.rotation()  # None (env): never a pending key
            key = slots.load_pending() if slots is not None else None
            pending = crypto.Sealer(key) if key is not None else None
            vouched = pending is not None and header_sealed_by(self.doc, pending)
            self._pending = pending if vouched else None
        if self._pending is not None and self._pending.key_id == kid:
            return self._pending
        return None

    def forged_rotation(self) -> str | None:
        """The key id a rotation mark names when nothing vouches for it: the current key
        is another and no pending key sealed the header. Writers drop such a mark."""
        target = self.doc.rotation_target()
        if target is None:
            return None
        sealer = self.sealer()
        if sealer is not None and sealer.key_id == target:
            return None
        return None if self._pending_sealer(target) is not None else target

    def _refresh(self) -> bool:
        """Re-read store and key after a mismatch; True if either changed."""
        old_kid = self._sealer.key_id if self._sealer is not None else None
        raw = fsutil.read_file_nofollow(self.path, "store")
        doc = parse_document(raw, self.path) if raw is not None else empty_document()
        changed = raw != self._raw
        self.doc, self._raw = doc, raw
        self._provider = self._pending = self._header = None
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

    def _sealer_for(self, server: str, kid: str) -> crypto.Sealer:
        """The held key that sealed `kid`, else Invalidated saying which key is missing."""
        sealer = self.sealer()
        if sealer is not None and kid == sealer.key_id:
            return sealer
        pending = self._pending_sealer(kid)  # the slow path: a rotation in progress
        if pending is not None:
            return pending
        self._mismatch = True
        # The server name and key id come from the file: escaped (shown) for the terminal.
        if sealer is None:
            raise Invalidated(
                server,
                shown(
                    f"credhelper: credentials for {server} were sealed by a key that no longer "
                    f"exists ({self.provider.describe()} is missing); "
                    f"{self._relogin_fix(server, sealer)}"
                ),
            )
        raise Invalidated(
            server,
            shown(
                f"credhelper: credentials for {server} were sealed by key {kid}, which no "
                f"longer exists (the {self.provider.describe()} now holds key "
                f"{sealer.key_id}); {self._relogin_fix(server, sealer)}"
            ),
        )

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
