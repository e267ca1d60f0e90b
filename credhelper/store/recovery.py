"""What every writer does first, under the lock: judge the provider, finish a killed rotation.

The store's own provider is the one its authenticated header names
(`store_provider`), not one an environment override puts in force: a rotation
killed mid-way is finished (or rolled back) by it alone (`recover_rotation`), a
writer that an override points elsewhere is refused before any write
(`refuse_overridden`), and a plaintext key file that a killed switch to another
provider left behind is removed once that provider's key opens the store
(`drop_moved_file_key`). Not on the `get` path.
"""

from __future__ import annotations

import os

from credhelper import crypto, keys, paths
from credhelper import fastjson as json
from credhelper.errors import CredhelperError, ExitCode, KeyProblem
from credhelper.store.document import Document
from credhelper.store.header import header_sealed_by
from credhelper.store.snapshot import Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` costs start-up time
    from typing import Any

    from credhelper.keys.base import KeyProvider, Rotatable
    from credhelper.store.txn import Transaction

ROTATION_MARK = "keyRotation"


def store_provider(txn: Transaction) -> KeyProvider:
    """The provider the store's header names: the one whose key sealed the store.

    The claim is plaintext but bound into the header's AAD, so a key that opens the
    header authenticates it. Without a header (a new or version 1 store), or with a
    claim that names no provider (edited: the header will not open), the one in force.
    """
    claim = txn.doc.header_claim()
    if claim == txn.provider.name or claim not in keys.PROVIDERS:
        return txn.provider
    return keys.by_name(claim, txn.doc.provider, txn.directory)


class ProviderOverridden(KeyProblem):
    """A one-off provider override (CREDHELPER_AESKEY, CREDHELPER_KEY_PROVIDER) on a
    store whose key another provider holds: refused before anything is written."""

    exit_code = ExitCode.ERROR


def refuse_overridden(txn: Transaction, own: KeyProvider) -> None:
    """Refuse a writer whose provider an environment override picked over the store's own.

    Such a writer could neither finish the store's rotation nor seal with its key; a
    provider picked by an edited keyProvider record is refused by write_sealer instead.
    """
    if own is txn.provider or not keys.overridden():
        return
    raise ProviderOverridden(
        f"credhelper: refusing to write with the {txn.provider.name} key provider "
        f"({txn.provider.describe()}): the store's logins are sealed by the {own.name} "
        f"provider's key; unset {keys.OVERRIDE_HINT}, or switch with: "
        f"credhelper install --key-provider {txn.provider.name}"
    )


def recover_rotation(doc: Document, provider: KeyProvider) -> dict[str, Any] | None:
    """Finish or clean up a rotation that was killed; the mark it dropped, or None.

    Called by every writer under the lock, with the provider the store's header
    names (`store_provider`), never one an override put in force. A rotation writes
    the pending key, then (atomically) the store carrying the rotation mark with
    the pending key's id and a header sealed by that key, then promotes the key,
    then drops the mark. A pending key is settled by `_settle_pending` whether or
    not the mark is there (it is plaintext: an editor may remove or forge it), for
    every provider with a pending slot. The mark is returned for the caller's purge
    only when its tag opens under the key now in force (`mark_authentic`); a mark
    an editor wrote or changed is dropped without acting ({}).
    """
    slots = provider.rotation()  # None (env): no pending key could exist
    mark, target = doc.rotation, doc.rotation_target()
    if mark is None:
        if slots is not None:
            try:
                _settle_pending(doc, provider, slots)
            except PendingKeyInDoubt:
                raise
            except KeyProblem:
                # The header names a provider we cannot reach (or an edited claim): the
                # writer reports it with its own key; the pending key is left as it is.
                pass
        return None
    if slots is not None:
        _settle_pending(doc, provider, slots)
    current = provider.load()
    finished = current is not None and crypto.key_id(current) == target
    doc.rotation = None
    if finished and isinstance(mark, dict) and current is not None:
        return mark if mark_authentic(mark, crypto.Sealer(current)) else {}
    return {}


DOMAIN_ROTATION = b"rotation-mark"
_MARK_FIELDS = ("mode", "oldKeyId", "newKeyId", "started")


def _mark_bytes(mark: dict[str, Any]) -> bytes:
    return json.dumps([mark.get(name) for name in _MARK_FIELDS]).encode("utf-8")


def seal_mark(mark: dict[str, Any], new: crypto.Sealer) -> dict[str, Any]:
    """The rotation mark with a tag under the rotation's new key (`mark_authentic`)."""
    return dict(mark, tag=new.tag_bytes(DOMAIN_ROTATION, _mark_bytes(mark)))


def mark_authentic(mark: dict[str, Any], current: crypto.Sealer) -> bool:
    """True if `mark` carries a tag that the key in force (its newKeyId) vouches for.

    Only such a mark may act (a forced rotation's purge of the old key's copies): the
    mark is plaintext, and its newKeyId is the public header keyId, so without the tag
    anyone who can edit the store could make the next writer delete its backups.
    """
    tag = mark.get("tag")
    if not isinstance(tag, str) or mark.get("newKeyId") != current.key_id:
        return False
    return current.tag_matches(DOMAIN_ROTATION, _mark_bytes(mark), tag)


class PendingKeyInDoubt(KeyProblem):
    """A pending key sealed the header, yet the store's own key still opens records."""


def _settle_pending(doc: Document, provider: KeyProvider, slots: Rotatable) -> bool:
    """Promote the pending key if it is this store's rotation target, else discard it.

    Promoted only if it sealed the header and no record needs the current key (every
    record names the pending key, or there are none): a key that opens records is
    never replaced. A pending key that some record names is never discarded. A
    header sealed by the pending key while the current key still opens records
    (a header transplanted from another store, say) keeps both keys and refuses
    the writer. True if promoted.
    """
    try:
        pending = slots.load_pending()
    except KeyProblem:
        slots.discard_pending()  # a symlink, FIFO or mangled file planted: removed, not read
        return False
    if pending is None:
        return False
    sealer, needed = crypto.Sealer(pending), doc.key_ids_in_use()
    if not header_sealed_by(doc, sealer):
        if sealer.key_id not in needed:
            slots.discard_pending()
        return False
    current = provider.load()
    current_kid = crypto.key_id(current) if current is not None else None
    if current_kid == sealer.key_id:
        slots.discard_pending()  # the promotion happened; the pending name is a leftover
        return False
    if current_kid not in needed and (sealer.key_id in needed or not needed):
        slots.promote_pending()
        return True
    raise PendingKeyInDoubt(
        f"credhelper: refusing to write: the pending key {sealer.key_id} sealed the store's "
        f"header, but the stored logins need the key in {provider.describe()}; both keys "
        "are kept; run: credhelper doctor"
    )


def drop_moved_file_key(txn: Transaction) -> None:
    """Remove a plaintext key file left beside a store another provider now holds.

    Switching away from `file` (keys/setup.py) writes the store naming the new
    provider, then removes `aeskey`; killed in between, the file stays. The next
    writer removes it (and a pending copy), but only when it is a copy of the very
    key that opens the store's authenticated header under the provider in force,
    which that header names: never the only key that opens the store.
    """
    from credhelper.keys.file import FileKeyProvider

    provider = txn.provider
    if provider.name == "file" or txn.doc.header_claim() != provider.name:
        return
    left = FileKeyProvider(os.path.join(txn.directory, paths.KEY_NAME))
    if not (os.path.lexists(left.path) or os.path.lexists(left.pending_path)):
        return
    probe = Snapshot(txn.doc, txn.path, txn.directory, txn.raw)
    try:
        sealer, header = probe.sealer(), probe.header()
    except CredhelperError:
        return  # the writer reports it, with the same loaded key
    finally:
        txn.adopt_keys(probe)  # the key is asked for once (a keyring, vault)
    if sealer is None or header is None or header.key_id != sealer.key_id:
        return
    left.drop_copies_of(sealer.key_id)
