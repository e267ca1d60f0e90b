"""`credhelper rotate` with the vault provider: one atomic store write either way.

--reencrypt: the transit key gets a new version, unless it already has one newer
than the version that wraps this store's data key or its newest version was made
by a rotation less than ROUND ago (in a fleet, the first host or an admin
rotates and every other host only rewraps). Then the data key is rewrapped
(`transit/rewrap`) under the first version of the newest *round*: the versions
made within ROUND of the newest one, by the key's own creation times. Two hosts
that both read the key before either rotated both rotate (transit has no
compare-and-set), but both then rewrap under the same version, so every host of
the fleet stays on one version and raising min_decryption_version to it retires
no host. The data key,
and so every stored login, is unchanged.

forced: a new data key from `transit/datakey`; every login is invalidated (the
username kept, as for the file provider) and the store's backups removed. The
new wrapped key, the invalidated entries and the header sealed under the new key
reach disk in the same atomic rename, so there is no pending state to recover.
The old data key is not revoked by this: its wrapped form, in any copy of the
store made before (a snapshot, a CI cache, an attacker's), still unwraps while
transit accepts its version, and no local state can tell a restored copy from
the real file. So a forced rotation prints the three admin steps that revoke it
on the server (new version, every host rewraps, min_decryption_version raised).

Called by credhelper.rotate under the store lock. Not on the hot path.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from credhelper import crypto
from credhelper.errors import CorruptEntry, Invalidated, KeyProblem
from credhelper.keys.vault import VaultKeyProvider
from credhelper.keys.vault.admin import Admin, AdminError, wrapped_version
from credhelper.keys.vault.settings import MAX_TIMEOUT

# Seconds: versions made this close together are one rotation round. A host's
# read -> rotate gap is bounded by two admin calls of at most MAX_TIMEOUT each,
# so hosts that raced are always within it; deliberate rotations rarely are.
ROUND = 2 * MAX_TIMEOUT


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
    if not reencrypt:
        sys.stderr.write(revoke_advice(provider) + "\n")


def revoke_advice(provider: VaultKeyProvider) -> str:
    """What an admin must do to revoke the replaced data key on the server, one line."""
    mount, key = provider.transit.mount, provider.transit.key
    version = wrapped_version(str(provider.record.get("wrapped", "")))
    return (
        "credhelper: the replaced data key still opens copies of this store made before "
        f"(version {version} of {mount}/keys/{key} still unwraps it); to revoke it: "
        f"bao write -f {mount}/keys/{key}/rotate, run credhelper rotate --reencrypt on every "
        f"host using {mount}/keys/{key} (this one too), then bao write "
        f"{mount}/keys/{key}/config min_decryption_version={version + 1}"
    )


def _created(info: dict[str, Any]) -> dict[int, float]:
    """Version -> creation time (unix seconds) from a transit key's `keys` map."""
    out: dict[int, float] = {}
    versions = info.get("keys")
    if isinstance(versions, dict):
        for name, when in versions.items():
            if str(name).isdigit() and isinstance(when, int | float):
                out[int(name)] = float(when)
    return out


def should_rotate(info: dict[str, Any], wrapped: int, now: float) -> bool:
    """Rotate unless a version newer than `wrapped` exists or a rotation made the newest
    one less than ROUND ago (version 1 is the key's creation, not a rotation)."""
    latest = info.get("latest_version")
    if not isinstance(latest, int):
        return True
    if latest > wrapped:
        return False
    made = _created(info).get(latest)
    return latest == 1 or made is None or now - made >= ROUND


def round_version(info: dict[str, Any]) -> int | None:
    """The first version of the newest rotation round (made within ROUND of the newest;
    never version 1, which the key's creation made, not a rotation)."""
    created = _created(info)
    latest = info.get("latest_version")
    if not isinstance(latest, int) or latest not in created:
        return None
    first = latest
    while first > 2 and first - 1 in created and created[latest] - created[first - 1] < ROUND:
        first -= 1
    for floor_name in ("min_decryption_version", "min_encryption_version"):
        floor = info.get(floor_name)
        if isinstance(floor, int) and floor > first:
            first = min(floor, latest)
    return first


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
        info = admin.read_key(mount, key)
        if should_rotate(info, wrapped_version(wrapped), time.time()):
            admin.rotate_key(mount, key)
            info = admin.read_key(mount, key)  # other hosts may have rotated too
        target = round_version(info)
        # The admin calls had deadlines of their own; the rewrap gets a full one too.
        provider.transit.restart_deadline()
        provider.record["wrapped"] = provider.transit.rewrap(wrapped, target)
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
