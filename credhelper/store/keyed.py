"""The key side of a read store: which provider, the loaded key, the verified header.

`KeyedDocument` is what a `Snapshot` (and so a `Transaction`) knows about keys:
the provider the store's record selects, the current key loaded on first need
(never created), the header verified against whichever held key sealed it, a
rotation's pending key (only when the header vouches for it), and which held key
opens a record. On the `get` hot path; reading entries is snapshot.py's.
"""

from __future__ import annotations

from credhelper import crypto, keys
from credhelper.advice import login_command
from credhelper.errors import Invalidated, StoreError
from credhelper.store.document import Document, Header
from credhelper.store.header import header_sealed_by, verify_header
from credhelper.store.model import shown

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` and the Protocol class cost start-up time
    from typing import Any

    from credhelper.keys.base import KeyProvider


class KeyedDocument:
    """A store document as read at one instant, with its key loaded on first need."""

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
        # What loading the key gave (the sealer, or the exception it raised): kept so
        # that a reader of the same bytes (store/quick.py's full parse) need not ask
        # the keyring or vault a second time. None until the key is loaded.
        self._loaded: tuple[crypto.Sealer | None] | BaseException | None = None

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
        mark = self._open_rotation()
        return mark[0] if mark is not None and mark[1] else None

    def _open_rotation(self) -> tuple[str, bool] | None:
        """(target, vouched) for a rotation mark naming a key other than the current
        one, vouched when the pending key sealed the header; None without such a mark."""
        target = self.doc.rotation_target()
        if target is None:
            return None
        sealer = self.sealer()
        if sealer is not None and sealer.key_id == target:
            return None
        return target, self._pending_sealer(target) is not None

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
            self._sealer = self._load_sealer()
            self._key_loaded = True
            self._verify_header()
        return self._sealer

    def _load_sealer(self) -> crypto.Sealer | None:
        loaded = self._loaded
        if loaded is None:
            try:
                key = self.provider.load()
            except Exception as err:
                self._loaded = err
                raise
            loaded = self._loaded = (crypto.Sealer(key) if key is not None else None,)
        if isinstance(loaded, BaseException):
            raise loaded
        return loaded[0]

    def adopt_keys(self, other: KeyedDocument) -> None:
        """Use what `other`, read from the same store bytes, loaded: provider, key, pending key.

        The header is verified again, against this document, on first need.
        """
        self._provider = other._provider
        self._loaded = other._loaded
        self._pending, self._pending_loaded = other._pending, other._pending_loaded

    def _verify_header(self) -> None:
        """Open the header with the key that sealed it (current or pending), if held."""
        self._header = verify_header(self.doc, self.path, self._sealer, self._pending_sealer)

    def reload_key(self) -> None:
        """Forget the loaded keys and header: the next use loads and verifies again."""
        self._provider = self._sealer = self._pending = self._header = self._loaded = None
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
        mark = self._open_rotation()
        return mark[0] if mark is not None and not mark[1] else None

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
