"""The encrypted store: credhelper's own config.json of sealed entries.

Owns the file format, the state of each entry (ok / expired / needs re-login /
corrupt) and every read-modify-write (under the lock, written through fsutil).
model.py and document.py know the JSON names, snapshot.py reads, txn.py
changes, rekey.py re-seals for rotations, locked.py holds the lock and the file. On the `get` hot
path: standard library, crypto and the active key provider only.

File format, version 2 (written by every write since; version 1 is still read):

    {"version": 2,
     "keyProvider": {"name": "keyring", "backend": "<class path>"},   (optional)
     "header": {"sealed": "<b64>", "keyId": "<16 hex>"},
     "auths": {
       "<server>": {"sealed": "<b64>", "keyId": "<16 hex>", "v": 2,
                    "updated": "<UTC>", "expires": "<UTC>"},        (expires optional)
       "<server>": {"invalidated": "<UTC>", "reason": "key rotation",
                    "user": "<b64>", "keyId": "<16 hex>"}},          (user optional)
     "keyRotation": {"newKeyId": "<16 hex>", ...},      (only while a rotation runs)
     "authsTag": {"sealed": "<b64>", "keyId": "<16 hex>"}}  (a GCM tag over the auths bytes)

<UTC> is always `YYYY-MM-DDTHH:MM:SSZ`. Every sealed value is AES-256-GCM under the
store key with its own AAD domain (see crypto.py), so none can stand in for another:

- an entry's AAD binds its key id, its server and its expiry: an edited, added
  or removed `expires` makes the entry corrupt, never longer-lived;
- `user` is the username of a login a forced rotation invalidated, sealed under
  the new key so that `credhelper login SERVER` can default to it;
- the header seals {"version", "keyProvider", "keyCreated"}: readers open it with
  the key they load and refuse the store (one line, exit 4) if the plaintext
  `version` or `keyProvider` differ from it, if it fails authentication, or if
  version 2 records exist without it. `keyCreated` is the key's age (None when
  unknown: a key older than version 2, or the env provider's);
- `updated`, `invalidated` and `reason` are for display only (printed only
  when short and printable);
- the rotation mark only lets the next writer promote a pending key carrying
  exactly the id it names, which only a rotation writes;
- `authsTag` is a tag over the file's bytes from the "auths" member (written last)
  to the end: with it `get` finds one entry without parsing the others (quick.py);
  without it, or if it fails, the whole file is parsed as before.

A writer never creates a new key, and never seals with a key, while records
sealed by another key exist (an edited keyProvider record must not lead to a
fresh plaintext key beside a keyring store): it refuses with one line.

Version 1 (tests/data/v1) has no header, no `v`, `expires` or `user`, and entries
sealed under the v1 AAD; such entries stay readable in a version 2 file. An old
reader refuses version 2 ("unsupported format version 2").

Rotation (credhelper/rotate.py) leaves entries sealed by a *pending* key for a
moment; readers that meet a key-id mismatch look for that pending key, and the
next writer under the lock finishes an interrupted rotation (`recover_rotation`).
"""

from __future__ import annotations

from credhelper.advice import login_command
from credhelper.dockernames import DOCKER_HUB
from credhelper.store.document import Document, parse_document, serialize_document
from credhelper.store.header import ProviderRecordEdited
from credhelper.store.locked import ROTATION_MARK, LockedStore, Store, recover_rotation
from credhelper.store.model import (
    FORMAT_VERSION,
    STATE_CORRUPT,
    STATE_EXPIRED,
    STATE_OK,
    STATE_RELOGIN,
    Credentials,
    EntryStatus,
    utc_now,
)
from credhelper.store.rekey import RekeyReport
from credhelper.store.snapshot import Snapshot
from credhelper.store.txn import Transaction

__all__ = [
    "DOCKER_HUB",
    "FORMAT_VERSION",
    "ROTATION_MARK",
    "STATE_CORRUPT",
    "STATE_EXPIRED",
    "STATE_OK",
    "STATE_RELOGIN",
    "Credentials",
    "Document",
    "EntryStatus",
    "LockedStore",
    "ProviderRecordEdited",
    "RekeyReport",
    "Snapshot",
    "Store",
    "Transaction",
    "login_command",
    "parse_document",
    "recover_rotation",
    "serialize_document",
    "utc_now",
]
