"""The store document: the parsed file, its authenticated header record, parse and render.

Together with model.py the only code that knows the JSON names of the format
(see the package docstring). On the hot path: standard library only.
"""

from __future__ import annotations

from credhelper import fastjson as json  # json.loads/dumps without importing json (and re)
from credhelper.errors import StoreError
from credhelper.store.model import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    Entry,
    InvalidatedEntry,
    SealedEntry,
    entry_from_json,
    is_key_id,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: importing `typing` costs milliseconds on the hot path
    from typing import Any

    from credhelper.crypto import Sealer


class Header:
    """The store's authenticated header: sealed under the store key (AAD domain "header").

    Holds what must not be editable: the key provider record, the format version
    and when the key was made. `sealed`/`key_id` are the on-disk form.
    """

    __slots__ = ("key_created", "key_id", "provider", "sealed", "version")

    def __init__(
        self,
        sealed: str,
        key_id: str,
        provider: dict[str, Any] | None = None,
        key_created: str | None = None,
        version: int = FORMAT_VERSION,
    ) -> None:
        self.sealed = sealed
        self.key_id = key_id
        self.provider = provider
        self.key_created = key_created
        self.version = version

    def to_json(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "keyId": self.key_id}


def header_plaintext(provider: dict[str, Any] | None, key_created: str | None) -> bytes:
    body = {"version": FORMAT_VERSION, "keyProvider": provider, "keyCreated": key_created}
    return json.dumps(body, sort_keys=True).encode("ascii")


def parse_header_plaintext(plaintext: bytes) -> tuple[Any, Any, Any]:
    """(version, provider record, key creation time) from an opened header."""
    try:
        body = json.loads(plaintext)
    except ValueError:
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    return body.get("version"), body.get("keyProvider"), body.get("keyCreated")


def same_record(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class Document:
    """A parsed store file. `auths` keeps raw JSON values; `entry()` types one on demand."""

    __slots__ = (
        "auths",
        "auths_tag",
        "extra",
        "header",
        "original",
        "provider",
        "rotation",
        "source",
        "touched",
        "version",
    )

    def __init__(
        self,
        version: int = FORMAT_VERSION,
        provider: dict[str, Any] | None = None,
        auths: dict[str, Any] | None = None,
        header: Any = None,
        rotation: Any = None,
        extra: dict[str, Any] | None = None,
        auths_tag: Any = None,
    ) -> None:
        self.version = version
        self.provider = provider
        self.auths: dict[str, Any] = auths if auths is not None else {}
        self.header = header  # raw JSON of the header record, or None
        self.rotation = rotation  # raw JSON of the rotation mark, or None
        self.extra = extra if extra is not None else {}
        # Raw JSON of the "authsTag" record as read (None if absent). Never written back:
        # every write makes a new one for the auths it renders (serialize_document).
        self.auths_tag = auths_tag
        # What a write may splice (splice.py): the bytes parsed, the entries as read
        # (a shallow copy), the servers put_entry wrote since. Set by parse_document.
        self.source: bytes | None = None
        self.original: dict[str, Any] | None = None
        self.touched: set[str] = set()

    def entry(self, server: str) -> Entry:
        return entry_from_json(self.auths[server])

    def put_entry(self, server: str, entry: Entry) -> None:
        self.auths[server] = entry.to_json()
        self.touched.add(server)

    def rotation_target(self) -> str | None:
        """The new key id named by an unfinished rotation's mark, or None."""
        mark = self.rotation
        target = mark.get("newKeyId") if isinstance(mark, dict) else None
        return target if isinstance(target, str) else None

    def header_record(self) -> tuple[str, str] | None:
        """(sealed, key id) of the header record, None if absent; StoreError if malformed."""
        if self.header is None:
            return None
        raw = self.header
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("sealed"), str)
            and is_key_id(raw.get("keyId"))
        ):
            return raw["sealed"], raw["keyId"]
        raise StoreError(
            "credhelper: the store's header record is malformed; run: credhelper doctor"
        )

    def header_claim(self) -> str:
        """The provider name the header says holds its key ("" if it names none).

        Plaintext so that it can be read when the key is gone, and bound into the
        header's AAD, so that a reader holding the key detects an edit of it.
        """
        raw = self.header
        claim = raw.get("provider") if isinstance(raw, dict) else None
        return claim if isinstance(claim, str) else ""

    def key_ids_in_use(self) -> set[str]:
        """Key ids of every record that needs a key: sealed entries and remembered usernames."""
        out: set[str] = set()
        for raw in self.auths.values():
            entry = entry_from_json(raw)
            kid = entry.key_id if isinstance(entry, SealedEntry | InvalidatedEntry) else None
            if kid is not None:
                out.add(kid)
        return out

    def has_v2_records(self) -> bool:
        """True if any record exists only in version 2 (cheap: no records are built)."""
        return any(
            isinstance(raw, dict) and ("v" in raw or "user" in raw) for raw in self.auths.values()
        )

    def copy(self) -> Document:
        return Document(
            self.version,
            self.provider,
            dict(self.auths),
            self.header,
            self.rotation,
            dict(self.extra),
            self.auths_tag,
        )


_KNOWN = ("version", "keyProvider", "auths", "header", "keyRotation", "authsTag")
AUTHS_MEMBER = b'\n "auths": '  # how the writer starts its last member (indent=1)


def parse_document(raw: bytes, path: str) -> Document:
    """Parse and check a store file; StoreError (one line) if it is not a v1/v2 store."""

    def fail(cause: str) -> StoreError:
        return StoreError(f"credhelper: cannot read store {path}: {cause}; run: credhelper doctor")

    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise fail(f"invalid JSON at line {err.lineno} column {err.colno} ({err.msg})") from None
    except RecursionError:
        raise fail("JSON nested too deeply") from None
    except ValueError:  # e.g. an integer beyond Python's 4300-digit conversion limit
        raise fail("invalid JSON (a number too large to read)") from None
    if not isinstance(doc, dict):
        raise fail("not a JSON object")
    version = doc.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        if version is None:
            raise fail("no format version (not a credhelper store)")
        raise fail(
            f"unsupported format version {version!r} (this credhelper reads versions "
            f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}; a newer credhelper wrote it)"
        )
    auths = doc.get("auths", {})
    if not isinstance(auths, dict):
        raise fail('"auths" is not a JSON object')
    record = doc.get("keyProvider")
    if record is not None and not isinstance(record, dict):
        raise fail('"keyProvider" is not a JSON object')
    if version == 1 and "header" in doc:
        # A header is a version 2 feature: a "version 1" file with one was edited
        # to strip the format's protections.
        raise fail("a version 1 store with a version 2 header (edited?)")
    extra = {k: v for k, v in doc.items() if k not in _KNOWN}
    parsed = Document(
        version,
        record,
        auths,
        doc.get("header"),
        doc.get("keyRotation"),
        extra,
        doc.get("authsTag"),
    )
    parsed.source, parsed.original = raw, dict(auths)
    return parsed


def serialize_document(doc: Document, sealer: Sealer | None = None) -> bytes:
    """The file's bytes; with `sealer`, an "authsTag" record vouches for the auths text.

    The tag covers the bytes from the "auths" member to the end of the file exactly
    as rendered here (store/quick.py: a `get` that need not parse all of them). It
    is rendered in place, where json.dumps puts the member (before "auths", which
    is last), so the text is the same as json.dumps of the whole would give.
    """
    out: dict[str, Any] = {"version": doc.version}
    if doc.provider is not None:
        out["keyProvider"] = doc.provider
    if doc.header is not None:
        out["header"] = doc.header
    out.update(doc.extra)
    if doc.rotation is not None:
        out["keyRotation"] = doc.rotation
    spliced = None
    if sealer is not None:
        from credhelper.store.splice import spliced_auths

        spliced = spliced_auths(doc, sealer)
    if spliced is not None:
        out["auths"] = {}
        head = json.dumps(out, indent=1) + "\n"
        text = head[: -len('\n "auths": {}\n}\n')] + spliced.decode("ascii")
    else:
        out["auths"] = dict(sorted(doc.auths.items()))
        text = json.dumps(out, indent=1) + "\n"
    if sealer is None:
        return text.encode("ascii")
    cut = text.rindex(AUTHS_MEMBER.decode("ascii"))  # auths is last; no other line starts so
    tail = text[cut:].encode("ascii")
    from credhelper.crypto import DOMAIN_AUTHS

    tag = sealer.tag_bytes(DOMAIN_AUTHS, tail)
    record = json.dumps({"sealed": tag, "keyId": sealer.key_id}, indent=1).replace("\n", "\n ")
    return text[:cut].encode("ascii") + b'\n "authsTag": ' + record.encode("ascii") + b"," + tail


def empty_document() -> Document:
    return Document(FORMAT_VERSION)
