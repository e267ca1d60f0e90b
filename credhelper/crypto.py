"""The envelopes: AES-256-GCM seal/unseal of entries and store records, and key ids.

The only module that imports `cryptography`. A sealed value is standard base64 of
nonce(12) || ciphertext || tag(16). The associated data (AAD) binds the ciphertext
to its format, its kind, the key id and its context, so a ciphertext copied to
another server, another field or presented under another key fails authentication:

    v1 entry:   "credhelper\0v1\0" kid "\0" server
    v2 records: "credhelper\0v2\0" domain "\0" kid "\0" context
                domain "entry":    context = expires "\0" server  (expires "" = never)
                domain "username": context = server  (a login kept after a rotation)
                domain "header":   context = ""      (the store's authenticated header)
    the auths tag (tag_bytes): AAD = the bytes of the store file from its "auths"
                member to its end, as the writer rendered them; plaintext = the v2
                prefix for domain "auths" and kid (so the tag is bound to both)

kid and expires never contain NUL (both are fixed-alphabet strings checked by the
store), and the server comes last, so no two (domain, kid, context) give one AAD.
"""

from __future__ import annotations

import os

from credhelper import fastjson as json  # json.loads/json.dumps without importing json
from credhelper import gob64

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` and `collections` cost milliseconds on the hot path
    from collections.abc import Callable
    from typing import Any

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_PREFIX = b"credhelper\x00v1\x00"
_AAD_V2 = b"credhelper\x00v2\x00"
DOMAIN_ENTRY = b"entry"
DOMAIN_USERNAME = b"username"
DOMAIN_HEADER = b"header"
DOMAIN_AUTHS = b"auths"
_KEY_ID_CONTEXT = b"credhelper key id v1\x00"


def _load_sha256() -> Callable[[bytes], Any]:
    # CPython's built-in SHA-256 module, not hashlib: hashlib would load a second
    # OpenSSL (_hashlib) on the hot path, milliseconds for one hash. The module was
    # renamed in 3.12; hashlib stays the portable fallback.
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return sha256  # type: ignore[no-any-return,unused-ignore]


_sha256 = _load_sha256()


def _load_aesgcm() -> type[AESGCM]:
    """cryptography's AESGCM class, taken from the compiled binding that defines it.

    The public module (cryptography.hazmat.primitives.ciphers.aead) re-exports
    this very class, but importing it first imports cryptography.utils, typing,
    enum and the whole ciphers package: ~11 ms of a `get`. tests/test_fastpaths.py
    proves the two are one object; any other layout in a future release falls
    back to the public import.
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl

        cls = openssl.aead.AESGCM
        if isinstance(cls, type) and cls.__name__ == "AESGCM":
            return cls
    except (ImportError, AttributeError):
        pass
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM as public

    return public


_AESGCM = _load_aesgcm()


def _invalid_tag() -> type[Exception]:
    # cryptography.exceptions imports `typing` (~3 ms): import it only once a
    # decryption has failed (the binding has imported it by then, to raise).
    from cryptography.exceptions import InvalidTag

    return InvalidTag


class SealError(ValueError):
    """An entry that cannot be opened; the message is the user-facing cause."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def key_id(key: bytes) -> str:
    """A short public name for a key, derived from it so the two can never disagree.

    A domain-separated, truncated SHA-256: 64 bits is plenty to tell keys apart
    and reveals nothing usable about a 256-bit key.
    """
    return str(_sha256(_KEY_ID_CONTEXT + key).hexdigest())[:16]


def _aad(kid: str, server: str) -> bytes:
    return _AAD_PREFIX + kid.encode("ascii") + b"\x00" + server.encode("utf-8", "surrogatepass")


def _aad_v2(domain: bytes, kid: str, context: str) -> bytes:
    return (
        _AAD_V2
        + domain
        + b"\x00"
        + kid.encode("ascii")
        + b"\x00"
        + context.encode("utf-8", "surrogatepass")
    )


class Sealer:
    """Seals and opens entries under one key."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("an AES-256 key is 32 bytes")
        self._aead = _AESGCM(key)
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"Sealer(key_id={self.key_id!r})"

    def seal(self, server: str, username: str, secret: str) -> str:
        plaintext = json.dumps({"Username": username, "Secret": secret}).encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._aead.encrypt(nonce, plaintext, _aad(self.key_id, server))
        return gob64.encode(blob)

    def seal_entry(self, server: str, username: str, secret: str, expires: str = "") -> str:
        """A v2 entry: like `seal`, with the expiry (or "") authenticated in the AAD."""
        plaintext = json.dumps({"Username": username, "Secret": secret}).encode("ascii")
        return self.seal_record(DOMAIN_ENTRY, f"{expires}\x00{server}", plaintext)

    def seal_record(self, domain: bytes, context: str, plaintext: bytes) -> str:
        """Seal `plaintext` under the v2 AAD for (domain, this key, context)."""
        nonce = os.urandom(NONCE_BYTES)
        aad = _aad_v2(domain, self.key_id, context)
        return gob64.encode(nonce + self._aead.encrypt(nonce, plaintext, aad))

    def open_record(self, domain: bytes, context: str, sealed: str) -> bytes:
        """The plaintext of a v2 record; SealError with a one-line cause otherwise."""
        return self._decrypt(sealed, _aad_v2(domain, self.key_id, context))

    def tag_bytes(self, domain: bytes, data: bytes | memoryview) -> str:
        """A seal that vouches for `data`: `data` is its AAD, its plaintext the v2 prefix
        of `domain` and this key id (what every other record has at the start of its AAD).

        `data` is used in place (a store's 2.4 MB are neither copied nor prefixed);
        GHASH over it runs at memory speed, with a fresh nonce as for every seal. No
        other record's AAD starts as a store's "auths" bytes do, nor this one's as theirs.
        """
        nonce = os.urandom(NONCE_BYTES)
        prefix = _aad_v2(domain, self.key_id, "")
        return gob64.encode(nonce + self._aead.encrypt(nonce, prefix, data))

    def tag_matches(self, domain: bytes, data: bytes | memoryview, sealed: str) -> bool:
        """True if `sealed` is a `tag_bytes(domain, data)` made under this very key."""
        try:
            return self._decrypt(sealed, data) == _aad_v2(domain, self.key_id, "")
        except SealError:
            return False

    def unseal_entry(self, server: str, sealed: str, expires: str = "") -> tuple[str, str]:
        """(username, secret) of a v2 entry whose expiry is `expires` ("" = never)."""
        plaintext = self.open_record(DOMAIN_ENTRY, f"{expires}\x00{server}", sealed)
        return _credential_fields(plaintext)

    def _decrypt(self, sealed: str, aad: bytes | memoryview) -> bytes:
        try:
            blob = gob64.decode(sealed)
        except gob64.GoBase64Error as err:
            raise SealError(str(err)) from None
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise SealError(f"ciphertext too short ({len(blob)} bytes)")
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except _invalid_tag():  # evaluated only when decrypt raised
            raise SealError("authentication failed: entry was modified") from None

    def unseal(self, server: str, sealed: str) -> tuple[str, str]:
        """Return (username, secret) of a v1 entry; raise SealError with a one-line cause."""
        return _credential_fields(self._decrypt(sealed, _aad(self.key_id, server)))


def _credential_fields(plaintext: bytes) -> tuple[str, str]:
    try:
        fields = json.loads(plaintext)
        username, secret = fields["Username"], fields["Secret"]
    except (ValueError, KeyError, TypeError):
        raise SealError("decrypted entry is not a credential record") from None
    if not isinstance(username, str) or not isinstance(secret, str):
        raise SealError("decrypted entry is not a credential record")
    return username, secret
