"""`credhelper rotate` with the vault provider: one atomic store write either way.

--reencrypt: the transit key gets a new version (unless it already has one newer
than the version that wraps this store's data key: in a fleet, the first host or
an admin rotates and every other host only rewraps), then the data key is
rewrapped (`transit/rewrap`) under the newest version. The data key, and so every
stored login, is unchanged; once every host has rewrapped, an admin may raise
the key's min_decryption_version and the old wrapped forms are dead.

forced: a new data key from `transit/datakey`; every login is invalidated (the
username kept, as for the file provider) and the store's backups removed. The
new wrapped key, the invalidated entries and the header sealed under the new key
reach disk in the same atomic rename, so there is no pending state to recover.

Called by credhelper.rotate under the store lock. Not on the hot path.
"""

from __future__ import annotations

from typing import Any

from credhelper import crypto
from credhelper.errors import CorruptEntry, Invalidated, KeyProblem
from credhelper.keys.vault import VaultKeyProvider
from credhelper.keys.vault.admin import Admin, AdminError, wrapped_version


def rotate_vault(
    session: Any, txn: Any, provider: VaultKeyProvider, result: Any, *, reencrypt: bool
) -> None:
    """Rotate the store of `txn` (under `session`'s lock) and fill in `result`."""
    from credhelper.store import utc_now

    provider.discard_pending()  # a pending key is never used by this provider's rotation
    now = utc_now()
    if reencrypt:
        _rewrap(txn, provider, result)
    else:
        key, wrapped = provider.transit.datakey()
        new = crypto.Sealer(key)
        del key
        report = txn.rekey(new, reencrypt=False)
        provider.record["wrapped"] = wrapped
        result.record(report, new.key_id, now)
    txn.dirty = True
    session.write(txn)
    result.rotated = True
    result.rotated_at = now


def _rewrap(txn: Any, provider: VaultKeyProvider, result: Any) -> None:
    wrapped = provider.record.get("wrapped")
    sealer = txn.sealer()
    if not isinstance(wrapped, str) or sealer is None:
        raise KeyProblem(
            f"credhelper: cannot re-encrypt: the {provider.describe()}; the stored logins "
            "cannot be opened: run `credhelper rotate` (without --reencrypt) and log in again"
        )
    admin = Admin()
    mount, key = provider.transit.mount, provider.transit.key
    try:
        latest = admin.read_key(mount, key).get("latest_version")
        if not isinstance(latest, int) or latest <= wrapped_version(wrapped):
            admin.rotate_key(mount, key)
        provider.record["wrapped"] = provider.transit.rewrap(wrapped)
    except AdminError as err:
        if err.kind != "forbidden":
            raise
        raise KeyProblem(
            f"{err.message}; rotate --reencrypt also needs read on {mount}/keys/{key} and "
            f"update on {mount}/keys/{key}/rotate and {mount}/rewrap/{key} (see the README), "
            "or let an admin rotate the key and use a token with rewrap"
        ) from None
    result.new_key_id = sealer.key_id  # the data key itself is unchanged
    for server in txn.servers():
        try:
            txn.get(server)
        except (Invalidated, CorruptEntry):
            result.needs_login.append(server)
            continue
        result.reencrypted.append(server)
