"""A write that changed one login re-renders that entry only, splicing it into the file.

Rendering 1,000 entries in Python was most of a `store` into a big store. When
the file a writer read carries an auths tag that its key verifies (so its
"auths" bytes are exactly the writer's rendering, see quick.py), and the only
entry that differs from what was read is the one `put_entry` wrote, the new
"auths" bytes are the old ones with that one entry's text removed and its new
rendering inserted at its sorted place: byte for byte what rendering them all
gives (tests/test_splice.py). Anything else (no source bytes, no valid tag, any
other change, an empty or one-entry "auths") returns None and the caller renders
everything. The caller tags the result as any rendering. It relies on entries
being replaced (put_entry, del), never changed in place: `original` is a shallow
copy of what was parsed (no store code mutates a parsed entry; keep it so).
"""

from __future__ import annotations

from credhelper import fastjson as json  # json.dumps without importing json (and re)
from credhelper.crypto import DOMAIN_AUTHS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.crypto import Sealer
    from credhelper.store.document import Document

MEMBER = b'\n "auths": '
_OPEN = MEMBER + b"{"
_CLOSE = b"\n }\n}\n"  # the end of a non-empty "auths" and of the document
_NEXT = b'\n  "'  # the start of an entry's line (depth 2)


def spliced_auths(doc: Document, sealer: Sealer) -> bytes | None:
    """The bytes from the "auths" member to the end of the file, or None (render all)."""
    raw, original, touched = doc.source, doc.original, doc.touched
    if raw is None or original is None or len(touched) != 1 or len(original) < 2:
        return None
    (server,) = touched
    record = doc.auths_tag
    if not isinstance(record, dict) or record.get("keyId") != sealer.key_id:
        return None
    start = raw.find(MEMBER)
    tag = record.get("sealed")
    if start < 0 or not isinstance(tag, str) or not raw.endswith(_CLOSE):
        return None
    if not sealer.tag_matches(DOMAIN_AUTHS, memoryview(raw)[start:], tag):
        return None
    now, before = dict(doc.auths), dict(original)
    now.pop(server, None)
    before.pop(server, None)
    if now != before or not now:
        return None  # another entry changed too (or none is left beside it)
    text = raw[start:]
    text = _without(text, server)
    if server in doc.auths:
        text = _with(text, server, doc)
    return text


def _line(server: str) -> bytes:
    return b"\n  " + json.dumps(server).encode("ascii") + b": "


def _without(text: bytes, server: str) -> bytes:
    """`text` without the entry of `server` (and its comma), if it has one."""
    at = text.find(_line(server))
    if at < 0:
        return text
    end = text.find(_NEXT, at + 1)
    if end >= 0:
        return text[:at] + text[end:]  # the entry and the comma after it
    return text[: at - 1] + text[len(text) - len(_CLOSE) :]  # the last: the comma before it


def _with(text: bytes, server: str, doc: Document) -> bytes:
    """`text` with the entry of `server` as it is now, at its sorted place."""
    rendered = json.dumps({"auths": {server: doc.auths[server]}}, indent=1)
    entry = rendered[len('{\n "auths": {') : -len("\n }\n}")].encode("ascii")
    keys = sorted(doc.auths)
    at = keys.index(server)
    if at + 1 < len(keys):
        p = text.find(_line(keys[at + 1]))
        return text[:p] + entry + b"," + text[p:]
    p = len(text) - len(_CLOSE)
    return text[:p] + b"," + entry + text[p:]
