"""`get` without building every entry: the one login, found where the writer put it.

The JSON scanner building all 10,000 entries of a 2.4 MB store, to use one, was
most of a large store's `get`. The writer renders the file in one form ("auths"
last, servers sorted, json.dumps(indent=1), pure ASCII) and tags the bytes from
the `"auths"` member to the end of the file under the store key (an AES-GCM tag,
AAD domain "auths": crypto.Sealer.tag_bytes, document.serialize_document).

A reader holding that key checks the tag, so it knows those bytes are exactly a
writer's rendering: every server is one line `\\n  "<server>": ` at depth 2 in
the writer's spelling (json.dumps's, injective), once, and no other line starts
that way. So a substring search finds the entry and only it is decoded. The text
before the member is parsed as a whole document with an empty "auths" in its
place: version, keyProvider record, header and rotation mark are read, and the
header verified, exactly as by the full parse. Why that is the full parse's
reading: the tagged bytes are one complete member `"auths": {...}` followed by
the brace that closes the document, so the text before them is valid JSON with
them exactly when it is with an empty object (any other state of the parser at
that point, e.g. inside a string or a nested object, fails both ways), and the
top-level members other than the last "auths" are the same tokens either way.

It answers only when it is certain: the tag verifies under the key that opened
the header, and the entry is sealed by that key and opens (the login, or
Expired). Anything else (no tag, a stale or forged one, a v1 store, a server not
spelled as the writer spells it, another key, a corrupt entry, any error) gives
way to the full parse, which adopts the key already loaded, so a keyring or
vault is never asked twice. tests/test_quick_get.py compares it with the full
parse on generated and hostile documents. On the `get` hot path.
"""

from __future__ import annotations

from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper import fsutil
from credhelper.crypto import DOMAIN_AUTHS
from credhelper.errors import Expired
from credhelper.store.document import AUTHS_MEMBER, empty_document, parse_document
from credhelper.store.model import Credentials, SealedEntry, entry_from_json
from credhelper.store.snapshot import Snapshot

_EMPTY_AUTHS = AUTHS_MEMBER + b"{}\n}\n"
_NEXT_KEY = b'\n  "'  # the start of the next server's line (depth 2)


def get(path: str, directory: str, server: str) -> Credentials:
    """The credentials for `server`, exactly as Snapshot.get of the whole store gives them."""
    raw = fsutil.read_file_nofollow(path, "store")
    quick = quick_snapshot(raw, path, directory, server) if raw is not None else None
    if quick is not None:
        try:
            found = quick_answer(quick, raw or b"", server)
        except Expired:
            raise
        except Exception:
            found = None
        if found is not None:
            return found
    doc = parse_document(raw, path) if raw is not None else empty_document()
    full = Snapshot(doc, path, directory, raw)
    if quick is not None:
        full.adopt_keys(quick)
    return full.get(server)


def quick_snapshot(raw: bytes, path: str, directory: str, server: str) -> Snapshot | None:
    """A snapshot of everything but the entries, if the writer's line for `server` is there.

    None (no quick path, and no key loaded) when the file has no "auths" member
    as the writer starts it, or no line for `server` after it, or the text before
    the member does not parse: the full parse decides those.
    """
    start = raw.find(AUTHS_MEMBER)
    if start < 0 or raw.find(_line(server), start) < 0:
        return None
    try:
        doc = parse_document(raw[:start] + _EMPTY_AUTHS, path)
    except Exception:
        return None
    return Snapshot(doc, path, directory, raw)


def quick_answer(quick: Snapshot, raw: bytes, server: str) -> Credentials | None:
    """The login for `server` if the tagged auths make it certain, else None; or Expired."""
    sealer = quick.sealer()
    header, record = quick.header(), quick.doc.auths_tag
    if sealer is None or header is None or header.key_id != sealer.key_id:
        return None
    if not isinstance(record, dict) or record.get("keyId") != sealer.key_id:
        return None
    tag = record.get("sealed")
    start = raw.find(AUTHS_MEMBER)
    tail = memoryview(raw)[start:]  # checked in place: no copy of a 2.4 MB store
    if not isinstance(tag, str) or not sealer.tag_matches(DOMAIN_AUTHS, tail, tag):
        return None
    line = _line(server)
    at = raw.find(line, start)
    if at < 0:
        return None  # not there: the full parse says so (without this key, as before)
    begin = at + len(line)
    end = raw.find(_NEXT_KEY, begin)
    text = raw[begin : end if end >= 0 else len(raw)].decode("ascii")
    value, _end = json.raw_decode(text, None, None)
    entry = entry_from_json(value)
    if not isinstance(entry, SealedEntry) or entry.key_id != sealer.key_id:
        return None  # invalidated, corrupt, another key: the full parse words the answer
    username, secret = quick._unseal(server, entry, sealer)  # CorruptEntry, Expired
    return Credentials(server, username, secret)


def _line(server: str) -> bytes:
    """How the writer starts the line of `server` in "auths" (json.dumps's quoting)."""
    return b"\n  " + json.dumps(server).encode("ascii") + b": "
