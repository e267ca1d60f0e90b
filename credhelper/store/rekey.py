"""Rotation's work on entries: re-seal or invalidate every entry under a new key, in one place.

Used by credhelper/rotate.py (a provider's own rotation and the env fleet
rotation) and keys/setup.py (switching to the env provider), always through
Transaction.rekey. Usernames of invalidated logins are kept, sealed under the
new key; entries sealed by a key not held are kept byte for byte by --reencrypt.
"""

from __future__ import annotations

from credhelper import crypto
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.errors import CorruptEntry, Expired, Invalidated
from credhelper.store.model import (
    REASON_ROTATION,
    BrokenEntry,
    InvalidatedEntry,
    SealedEntry,
    utc_now,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.store.txn import Transaction


class RekeyReport:
    """What a rekey did to each server (rotation's result is built from it)."""

    __slots__ = ("at", "dropped_expired", "kept_lost", "needs_login", "reencrypted")

    def __init__(self, at: str = "") -> None:
        self.at = at  # the rotation's time, as written into invalidated records
        self.reencrypted: list[str] = []
        self.needs_login: list[str] = []
        self.kept_lost: list[str] = []  # sealed by a key not held: left exactly as they were
        self.dropped_expired: list[str] = []


def rekey_entries(
    txn: Transaction,
    new: crypto.Sealer,
    reencrypt: bool,
    opener: Callable[[str, Any], tuple[str, str]],
) -> RekeyReport:
    """Move every entry of `txn` to key `new`: re-seal (reencrypt) or invalidate.

    `opener(server, entry)` opens an entry under an old key; Invalidated from it
    means "sealed by a key not held". Entries already sealed by `new` are kept.
    """
    now = utc_now()
    report = RekeyReport(now)
    for server in txn.servers():
        _rekey_one(txn, server, txn.doc.entry(server), new, reencrypt, opener, now, report)
    return report


def _rekey_one(
    txn: Transaction,
    server: str,
    entry: Any,
    new: crypto.Sealer,
    reencrypt: bool,
    opener: Callable[[str, Any], tuple[str, str]],
    now: str,
    report: RekeyReport,
) -> None:
    if isinstance(entry, InvalidatedEntry):
        user = txn._kept_username(server, entry)
        _invalidate(txn, server, new, entry.when, entry.reason, user)
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
        txn.delete(server)
        report.dropped_expired.append(server)
        return
    except Invalidated:
        if reencrypt:
            report.kept_lost.append(server)  # restorable if the key comes back
            return
        _invalidate(txn, server, new, now, REASON_ROTATION, None)
        report.needs_login.append(server)
        return
    except CorruptEntry as err:
        _invalidate(txn, server, new, now, f"{REASON_ROTATION} (it was corrupt: {err.cause})", None)
        report.needs_login.append(server)
        return
    assert isinstance(entry, SealedEntry)
    if reencrypt:
        sealed = new.seal_entry(server, username, secret, entry.expires)
        txn.doc.put_entry(
            server, SealedEntry(sealed, new.key_id, entry.updated or now, entry.expires)
        )
        report.reencrypted.append(server)
    else:
        _invalidate(txn, server, new, now, REASON_ROTATION, username)
        report.needs_login.append(server)


def _invalidate(
    txn: Transaction, server: str, new: crypto.Sealer, when: str, reason: str, username: str | None
) -> None:
    user = None
    if username is not None:
        plaintext = json.dumps({"Username": username}).encode("ascii")
        user = new.seal_record(crypto.DOMAIN_USERNAME, server, plaintext)
    kid = new.key_id if user is not None else None
    txn.doc.put_entry(server, InvalidatedEntry(when, reason, user, kid))
