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
    then drops the mark. So a header sealed by the pending key means the store
    already needs it: it is promoted (with or without the mark, which is not
    authenticated). The header is: a pending key that did not seal it (planted, or
    of a rotation killed before its store write) is discarded, never promoted over
    the key, unless stored records need it. The caller finishes a forced
    rotation's purge with the returned mark.
    """
    slots = provider.rotation()  # None (env): no pending key could exist
    mark, target = doc.rotation, doc.rotation_target()
    if mark is None:
        if slots is not None and provider.name == "file":
            _settle_pending(doc, slots)  # cheap for a file; keyring items are just overwritten
        return None
    current = provider.load()
    finished = current is not None and crypto.key_id(current) == target
    promoted = False
    if not finished and slots is not None:
        promoted = _settle_pending(doc, slots)
        finished = promoted and doc.header_record() is not None and _header_kid(doc) == target
    doc.rotation = None
    return mark if finished and isinstance(mark, dict) else {}


def _header_kid(doc: Document) -> str | None:
    record = doc.header_record()
    return record[1] if record is not None else None


def _settle_pending(doc: Document, slots: Rotatable) -> bool:
    """Promote the pending key if it sealed the header, else discard it; True if promoted.

    A pending key that some stored record names is never discarded (it may be the
    only key that opens them); one the header does not vouch for is never promoted.
    """
    try:
        pending = slots.load_pending()
    except KeyProblem:
        pending = None  # a symlink, FIFO or mangled file planted there: removed, not read
    if pending is not None:
        sealer = crypto.Sealer(pending)
        if header_sealed_by(doc, sealer):
            slots.promote_pending()
            return True
        if sealer.key_id in doc.key_ids_in_use():
            return False
    slots.discard_pending()
    return False


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
