"""openEuler docker and iSulad AES-256-CFB credential records: recognise and decrypt them.

Neither format has a tag, key id or version (see docs/legacy-formats.md), so
a record is recognised by its shape and a key is "right" only when the plaintext
is the standard base64 of a well-formed `user:password`. Not on the hot path: this
module imports cryptography's CFB cipher directly.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 43 moved CFB to "decrepit"; older releases only have this one
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from credhelper import gob64

OPENEULER = "openeuler"
ISULAD = "isulad"
IV_BYTES = 16
KEY_BYTES = 32
# The shortest inner plaintext, base64("a:") = 4 characters.
_MIN_RECORD = IV_BYTES + 4
_HEX = frozenset(b"0123456789abcdef")
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


class LegacyError(ValueError):
    """A record that cannot be read with the key at hand; the message says why."""


@dataclass(frozen=True)
class LegacyCredentials:
    username: str
    password: str = field(repr=False)


def is_printable_credentials(decoded: bytes) -> bool:
    """Whether docker's decoded auth is real `user:password` text (not binary)."""
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return False
    user, sep, _password = text.partition(":")
    return bool(sep and user) and all(ch.isprintable() for ch in text)


def record_kind(value: str) -> str | None:
    """OPENEULER / ISULAD when `value` has the shape of an AES-CFB record, else None.

    Callers first rule out plain base64 `user:password`; what is left and is
    standard base64 of at least IV + 4 bytes is a candidate. iSulad's IV is 16
    lowercase hex characters; openEuler docker's is 16 random bytes.
    """
    try:
        raw = gob64.decode(value)
    except gob64.GoBase64Error:
        return None
    if len(raw) < _MIN_RECORD or is_printable_credentials(raw):
        return None
    return ISULAD if set(raw[:IV_BYTES]) <= _HEX else OPENEULER


def load_key(path: str) -> bytes | None:
    """The aeskey at `path` (None if absent). openEuler: 32 raw bytes; iSulad: 32 hex chars.

    Either way the 32 bytes of the file are the AES-256 key (iSulad uses its hex
    text directly); a trailing newline from an editor is tolerated.
    """
    from credhelper import fsutil
    from credhelper.errors import CredhelperError

    try:
        # Never follow a link, never block on a FIFO, only a regular file we own.
        found = fsutil.read_file_nofollow(path, "AES key", limit=4096)
    except CredhelperError as err:
        raise LegacyError(err.message.removeprefix("credhelper: ")) from None
    if found is None:
        return None
    data = found
    if len(data) != KEY_BYTES:
        stripped = data.rstrip(b"\r\n")
        if len(stripped) == KEY_BYTES and set(stripped) <= _HEX:
            data = stripped
        else:
            raise LegacyError(f"{path} is not a 32-byte AES-256 key ({len(data)} bytes)")
    return data


def decrypt(value: str, key: bytes) -> LegacyCredentials:
    """Decrypt one record; LegacyError if `key` does not give a well-formed `user:password`."""
    try:
        raw = gob64.decode(value)
    except gob64.GoBase64Error as err:
        raise LegacyError(f"not an AES-CFB record ({err})") from None
    if len(raw) < _MIN_RECORD:
        raise LegacyError("not an AES-CFB record (too short)")
    decryptor = Cipher(algorithms.AES(key), CFB(raw[:IV_BYTES])).decryptor()
    inner = decryptor.update(raw[IV_BYTES:]) + decryptor.finalize()
    # CFB cannot tell a wrong key; the inner base64 and the user:password shape can.
    try:
        decoded = gob64.decode(inner)
    except gob64.GoBase64Error as err:
        raise LegacyError(f"wrong key: the decrypted data is not base64 ({err})") from None
    if not is_printable_credentials(decoded):
        raise LegacyError("wrong key: the decrypted data is not a user:password pair")
    user, _sep, password = decoded.decode("utf-8").partition(":")
    return LegacyCredentials(user, password)


def openeuler_key_path(docker_config_dir: str) -> str:
    return os.path.join(docker_config_dir, "aeskey")


def isulad_dir_default() -> str:
    return os.path.join(os.path.expanduser("~"), ".isulad")
