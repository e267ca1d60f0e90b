"""Verifying the store's authenticated header against the plaintext it vouches for.

The header (see the package docstring) is sealed under the store key; a reader
that holds that key (current, or a rotation's pending key) opens it and refuses
the store, in one line, when the plaintext version or keyProvider record differ,
when it fails authentication, or when it is missing although records need it.
On the `get` hot path.
"""

from __future__ import annotations

from credhelper import crypto
from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.errors import StoreError
from credhelper.store.document import Document, Header, parse_header_plaintext, same_record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` and `collections` cost start-up time
    from collections.abc import Callable
    from typing import Any


class ProviderRecordEdited(StoreError):
    """The plaintext keyProvider record differs from the one the key authenticates.

    The key that opened the header is genuine, so `authenticated` is the record
    to restore (`Store.restore_provider_record`, used by `doctor --fix`).
    """

    def __init__(self, message: str, authenticated: Any) -> None:
        super().__init__(message)
        self.authenticated = authenticated


def _refusal(path: str, cause: str) -> StoreError:
    return StoreError(f"credhelper: refusing to use store {path}: {cause}; run: credhelper doctor")


def header_sealed_by(doc: Document, sealer: crypto.Sealer) -> bool:
    """True if `doc`'s header names `sealer`'s key and opens under it.

    What vouches for a rotation's pending key: a genuine rotation writes the
    header under the new key in the same atomic write as the mark, so a planted
    `aeskey.pending` (and a forged mark naming it) fails here. Only on the slow
    path (a key-id mismatch, a writer finishing a rotation).
    """
    record = doc.header_record()
    if record is None or record[1] != sealer.key_id:
        return False
    try:
        sealer.open_record(crypto.DOMAIN_HEADER, doc.header_claim(), record[0])
    except crypto.SealError:
        return False
    return True


def verify_header(
    doc: Document,
    path: str,
    current: crypto.Sealer | None,
    pending_for: Callable[[str], crypto.Sealer | None],
) -> Header | None:
    """The verified header of `doc`, None if there is none or we hold no key for it.

    `pending_for(kid)` is the rotation's pending key if it has id `kid`.
    """
    record = doc.header_record()
    if record is None:
        # Every writer of version 2 records writes a header with them, so
        # records without one mean the header was stripped: refuse, rather
        # than trust the unauthenticated keyProvider record.
        if doc.has_v2_records() or (doc.version >= 2 and doc.auths):
            raise _refusal(path, "its authenticated header is missing (edited?)")
        return None
    sealed, kid = record
    opener = current if current is not None and current.key_id == kid else None
    if opener is None and doc.rotation_target() == kid:
        opener = pending_for(kid)
    if opener is None:
        if current is not None and current.key_id in doc.key_ids_in_use():
            # Our key seals entries, yet the header names another: one was edited.
            raise _refusal(path, "its header names another key than its logins (edited?)")
        return None  # sealed by a key we do not hold: entries report it, writers refuse
    try:
        plaintext = opener.open_record(crypto.DOMAIN_HEADER, doc.header_claim(), sealed)
    except crypto.SealError:
        raise _refusal(path, "its header fails authentication (edited?)") from None
    version, provider, created = parse_header_plaintext(plaintext)
    if version != doc.version:
        raise _refusal(path, f"format version {doc.version!r} is not the authenticated {version!r}")
    if not same_record(provider, doc.provider):
        raise ProviderRecordEdited(
            f"credhelper: refusing to use store {path}: its keyProvider record "
            f"{json.dumps(doc.provider)} is not the authenticated "
            f"{json.dumps(provider)} (edited outside credhelper?); run: credhelper doctor",
            provider,
        )
    return Header(sealed, kid, provider, created if isinstance(created, str) else None)
