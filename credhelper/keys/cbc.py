"""AES-128-CBC decryption of a Secret Service reply, by OpenSSL, without unpadding.

The dh-ietf1024-sha256-aes128-cbc-pkcs7 session sends the secret AES-CBC
encrypted. cryptography's public Cipher API does it, but importing
cryptography.hazmat.primitives.ciphers costs ~50 M instructions (its utils
module imports typing, enum, re, ...), a third of a keyring `get`. The system's
libcrypto (the OpenSSL that cryptography also wraps) does the same through
ctypes for a quarter of that: EVP_aes_128_cbc with padding off, exactly the
bytes cryptography's decryptor returns (tests/test_secretservice.py compares
them). When no libcrypto is found or any call fails, cryptography does it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SONAMES = ("libcrypto.so.3", "libcrypto.so.1.1")  # OpenSSL 3 and 1.1: the same EVP calls
_loaded: list[Any] = []  # [the library or None] once prepare() has run: code, never a key


def prepare() -> None:
    """Load libcrypto now (ctypes and the library: ~11 M instructions), not at decrypt time.

    secretservice.py calls it while the Secret Service works on its first calls,
    so the loading overlaps the wait for the bus instead of adding to it.
    """
    if not _loaded:
        try:
            _loaded.append(_load())
        except (ImportError, OSError, AttributeError):  # no ctypes, no library, no symbol
            _loaded.append(None)


def decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of `data` (whole blocks), padding left in place."""
    if len(key) == 16 and len(iv) == 16 and data and len(data) % 16 == 0:
        plain = _libcrypto(key, iv, data)
        if plain is not None:
            return plain
    return _cryptography(key, iv, data)


def _cryptography(key: bytes, iv: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _load() -> Any:
    import ctypes

    for name in _SONAMES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        ptr, num = ctypes.c_void_p, ctypes.c_int
        for func, restype, argtypes in (
            ("EVP_CIPHER_CTX_new", ptr, []),
            ("EVP_CIPHER_CTX_free", None, [ptr]),
            ("EVP_aes_128_cbc", ptr, []),
            ("EVP_DecryptInit_ex", num, [ptr, ptr, ptr, ctypes.c_char_p, ctypes.c_char_p]),
            ("EVP_CIPHER_CTX_set_padding", num, [ptr, num]),
            ("EVP_DecryptUpdate", num, [ptr, ptr, ctypes.POINTER(num), ctypes.c_char_p, num]),
            ("EVP_DecryptFinal_ex", num, [ptr, ptr, ctypes.POINTER(num)]),
        ):
            getattr(lib, func).restype = restype
            getattr(lib, func).argtypes = argtypes
        return lib
    return None


def _libcrypto(key: bytes, iv: bytes, data: bytes) -> bytes | None:
    prepare()
    lib = _loaded[0]
    if lib is None:
        return None
    import ctypes  # loaded by prepare() with the library

    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        return None
    try:
        out = ctypes.create_string_buffer(len(data) + 16)
        done, tail = ctypes.c_int(0), ctypes.c_int(0)
        base = ctypes.addressof(out)
        if (
            lib.EVP_DecryptInit_ex(ctx, lib.EVP_aes_128_cbc(), None, key, iv) != 1
            or lib.EVP_CIPHER_CTX_set_padding(ctx, 0) != 1
            or lib.EVP_DecryptUpdate(ctx, base, ctypes.byref(done), data, len(data)) != 1
            or lib.EVP_DecryptFinal_ex(ctx, base + done.value, ctypes.byref(tail)) != 1
            or done.value + tail.value != len(data)
        ):
            return None
        return out.raw[: len(data)]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)
