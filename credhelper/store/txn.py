"""Changing the store: a `Transaction` is a snapshot taken under the lock (locked.py)
that may be changed and is written back once (one atomic rename through fsutil).

Every change of entries goes through its methods (put, delete, rekey); every
write re-seals the header when what it vouches for changed, and drops expired
logins.
"""

from __future__ import annotations

from credhelper import crypto, keys
from credhelper.errors import CorruptEntry, Expired, Invalidated, KeyProblem
from credhelper.store.document import (
    Document,
    header_plaintext,
    same_record,
    serialize_document,
)
from credhelper.store.model import FORMAT_VERSION, SealedEntry, utc_now
from credhelper.store.rekey import RekeyReport, rekey_entries
from credhelper.store.snapshot import Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing`, `collections` and contextlib cost start-up time
    from collections.abc import Callable
    from typing import Any


class Transaction(Snapshot):
    """A snapshot taken under the lock that may be changed and is written back once."""

    def __init__(self, doc: Document, path: str, directory: str, raw: bytes | None) -> None:
        super().__init__(doc, path, directory, raw)
        self.dirty = False
        self._header_key: crypto.Sealer | None = None  # set when the key changed
        self._key_created: str | None = None
        self._claim: str | None = None  # the provider set_provider recorded, if it ran

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
        # The header names the recorded provider, not one an environment override
        # puts in force while switching (install --key-provider file, CREDHELPER_AESKEY set).
        name = record.get("name") if record else None
        self._claim = name if isinstance(name, str) else None
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
        auths = self.doc.auths
        for server in self.servers():
            raw = auths[server]
            if not (isinstance(raw, dict) and raw.get("expires")):
                continue  # no expiry (the common case): no record needs building
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
        """Move every entry to key `new` (see store.rekey.rekey); the header follows."""
        report = rekey_entries(self, new, reencrypt, opener or self._open)
        self._sealer, self._key_loaded, self._header_key = new, True, new
        self._key_created = utc_now() if self.provider.name != "env" else None
        self.dirty = True
        return report

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
        return serialize_document(self.doc, self._sealer)  # the auths tag (store/quick.py)

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
        # Readable without the key (see _foreign_key_id): the provider of the record
        # this header vouches for, which set_provider may just have changed.
        claim = self._claim or keys.provider_name(self.doc.provider)
        sealed = sealer.seal_record(
            crypto.DOMAIN_HEADER, claim, header_plaintext(self.doc.provider, created)
        )
        self.doc.version = FORMAT_VERSION
        self.doc.header = {"sealed": sealed, "keyId": sealer.key_id, "provider": claim}
