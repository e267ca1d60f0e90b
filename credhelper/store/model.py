"""The store's typed model: entry records and what readers report about them.

With document.py the only code that knows the JSON names of the format (see
the package docstring for the format itself). Records are small slots classes built on
demand from the parsed JSON, so a `get` builds exactly one. On the hot path:
standard library only, no dataclasses or enum.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: importing `typing` costs milliseconds on the hot path
    from typing import Any

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATE_OK = "ok"
STATE_RELOGIN = "needs-relogin"
STATE_CORRUPT = "corrupt"
STATE_EXPIRED = "expired"
REASON_ROTATION = "key rotation"
_HEX = frozenset("0123456789abcdef")


def utc_now() -> str:
    """Now as the store writes instants (fixed width, so strings compare as times)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def is_instant(value: object) -> bool:
    """True for a stored instant `YYYY-MM-DDTHH:MM:SSZ` (checked by shape, cheaply)."""
    if not isinstance(value, str) or len(value) != 20:
        return False
    digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    return (
        digits.isascii()
        and digits.isdigit()
        and value[4] == value[7] == "-"
        and value[10] == "T"
        and value[13] == value[16] == ":"
        and value[19] == "Z"
    )


def is_key_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 16 and not set(value) - _HEX


def shown(text: str) -> str:
    """`text` fit for one terminal line: what comes from a file anyone with write access
    could edit (server names, key ids, reasons) has its control characters and lone
    surrogates escaped (`\\x1b`, `\\ud800`), never sent raw or left to crash an encoder.
    Idempotent, and free for printable text. The one helper every message uses."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def printable(value: object, default: str) -> str:
    """A plaintext (unauthenticated) field fit to print in one line, else `default`."""
    if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
        return value
    return default


class Credentials:
    """One decrypted login. The secret never appears in repr()."""

    __slots__ = ("secret", "server", "username")

    def __init__(self, server: str, username: str, secret: str) -> None:
        self.server = server
        self.username = username
        self.secret = secret

    def __repr__(self) -> str:
        return f"Credentials(server={self.server!r}, username={self.username!r}, secret=***)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and (
            (self.server, self.username, self.secret)
            == (other.server, other.username, other.secret)
        )

    __hash__ = None  # type: ignore[assignment]


class EntryStatus:
    """What `credhelper list` and `doctor` say about one entry; never a secret.

    `username` is the login's user for ok and expired entries and the remembered
    user of an invalidated one (None when unknown); `expires` the expiry or None.
    """

    __slots__ = ("detail", "expires", "key_id", "server", "state", "updated", "username")

    def __init__(
        self,
        server: str,
        state: str,
        username: str | None,
        updated: str | None,
        detail: str,
        key_id: str | None,
        expires: str | None = None,
    ) -> None:
        self.server = server
        self.state = state
        self.username = username
        self.updated = updated
        self.detail = detail
        self.key_id = key_id
        self.expires = expires

    def as_dict(self) -> dict[str, str | None]:
        return {
            "server": self.server,
            "state": self.state,
            "username": self.username,
            "updated": self.updated,
            "expires": self.expires,
            "detail": self.detail or None,
            "keyId": self.key_id,
        }

    def __repr__(self) -> str:
        return f"EntryStatus({self.server!r}, {self.state!r}, {self.detail!r})"


class SealedEntry:
    """A usable-looking login: ciphertext, the key id that sealed it, when, until when.

    `version` 1: the v1 AAD (no expiry). 2: the v2 entry AAD, which binds `expires`.
    """

    __slots__ = ("expires", "key_id", "sealed", "updated", "version")

    def __init__(
        self, sealed: str, key_id: str, updated: str, expires: str = "", version: int = 2
    ) -> None:
        self.sealed = sealed
        self.key_id = key_id
        self.updated = updated
        self.expires = expires
        self.version = version

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sealed": self.sealed, "keyId": self.key_id}
        if self.updated:
            out["updated"] = self.updated
        if self.version != 1:
            out["v"] = self.version
            if self.expires:
                out["expires"] = self.expires
        return out


class InvalidatedEntry:
    """A login that needs a new `credhelper login`; may remember the username, sealed."""

    __slots__ = ("key_id", "reason", "user_sealed", "when")

    def __init__(
        self, when: str, reason: str, user_sealed: str | None = None, key_id: str | None = None
    ) -> None:
        self.when = when
        self.reason = reason
        self.user_sealed = user_sealed
        self.key_id = key_id

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"invalidated": self.when, "reason": self.reason}
        if self.user_sealed is not None and self.key_id is not None:
            out["user"] = self.user_sealed
            out["keyId"] = self.key_id
        return out


class BrokenEntry:
    """A record that is not one of the above: reported as corrupt, kept as it was."""

    __slots__ = ("cause", "raw")

    def __init__(self, raw: Any, cause: str) -> None:
        self.raw = raw
        self.cause = cause

    def to_json(self) -> Any:
        return self.raw


Entry = SealedEntry | InvalidatedEntry | BrokenEntry


def entry_from_json(raw: Any) -> Entry:
    """The typed record for one JSON value of "auths" (never raises)."""
    if not isinstance(raw, dict):
        return BrokenEntry(raw, "entry is not a JSON object")
    sealed = raw.get("sealed")
    if sealed is None and "invalidated" in raw:
        user, kid = raw.get("user"), raw.get("keyId")
        if not (isinstance(user, str) and is_key_id(kid)):
            user, kid = None, None
        when = printable(raw.get("invalidated"), "an unknown time")
        return InvalidatedEntry(when, printable(raw.get("reason"), REASON_ROTATION), user, kid)
    kid = raw.get("keyId")
    if not isinstance(sealed, str) or not isinstance(kid, str):
        return BrokenEntry(raw, "entry has no ciphertext or key id")
    version = raw.get("v", 1)
    expires = raw.get("expires", "")
    if version not in (1, 2) or isinstance(version, bool):
        return BrokenEntry(raw, f"unknown entry version {version!r}")
    if version == 1 and "expires" in raw:
        return BrokenEntry(raw, "a version 1 entry cannot expire (the expiry was added)")
    if expires != "" and not is_instant(expires):
        return BrokenEntry(raw, "expiry is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)")
    updated = raw.get("updated")
    return SealedEntry(sealed, kid, updated if isinstance(updated, str) else "", expires, version)
