"""openEuler docker / iSulad AES-256-CFB records, built with openssl (never our own code)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from credhelper import legacy
from tests.conftest import require_tool


def openssl_cfb(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    openssl = require_tool("openssl")
    proc = subprocess.run(
        [openssl, "enc", "-aes-256-cfb", "-K", key.hex(), "-iv", iv.hex()],
        input=plaintext,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def openeuler_record(key: bytes, user: str, password: str, iv: bytes | None = None) -> str:
    """openEuler docker: base64(IV[16 raw] || AES-256-CFB(key, IV, base64("user:password")))."""
    iv = iv if iv is not None else os.urandom(16)
    inner = base64.b64encode(f"{user}:{password}".encode())
    return base64.b64encode(iv + openssl_cfb(key, iv, inner)).decode()


def isulad_key() -> bytes:
    """iSulad's aeskey: 32 lowercase hex characters, used directly as the AES key."""
    return os.urandom(16).hex().encode()


def isulad_record(key: bytes, user: str, password: str) -> str:
    iv = os.urandom(8).hex().encode()  # 16 ASCII hex characters
    inner = base64.b64encode(f"{user}:{password}".encode())
    return base64.b64encode(iv + openssl_cfb(key, iv, inner)).decode()


@pytest.mark.e2e
@pytest.mark.parametrize("password", ["p", "s3cr3t-with:colon", "ünïcödé pass", "x" * 200])
def test_openeuler_record_detected_and_decrypted(password: str) -> None:
    key = os.urandom(32)
    record = openeuler_record(key, "alice", password)
    assert legacy.record_kind(record) == legacy.OPENEULER
    creds = legacy.decrypt(record, key)
    assert (creds.username, creds.password) == ("alice", password)
    assert password not in repr(creds)


@pytest.mark.e2e
def test_isulad_record_detected_and_decrypted() -> None:
    key = isulad_key()
    record = isulad_record(key, "bob", "hunter2")
    assert legacy.record_kind(record) == legacy.ISULAD
    creds = legacy.decrypt(record, key)
    assert (creds.username, creds.password) == ("bob", "hunter2")


@pytest.mark.e2e
def test_wrong_key_detected() -> None:
    # CFB itself cannot tell; the inner base64 / user:password check must.
    for _ in range(50):
        record = openeuler_record(os.urandom(32), "alice", "secret")
        with pytest.raises(legacy.LegacyError, match="wrong key"):
            legacy.decrypt(record, os.urandom(32))


def test_plain_base64_credentials_are_not_legacy() -> None:
    assert legacy.record_kind(base64.b64encode(b"user:a-long-password-here").decode()) is None
    assert legacy.record_kind("not base64!") is None
    assert legacy.record_kind(base64.b64encode(b"short").decode()) is None


def test_key_files(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(b"k" * 32)
    assert legacy.load_key(str(raw)) == b"k" * 32
    hexkey = tmp_path / "hex"
    hexkey.write_bytes(b"ab" * 16 + b"\n")
    assert legacy.load_key(str(hexkey)) == b"ab" * 16
    bad = tmp_path / "bad"
    bad.write_bytes(b"short")
    with pytest.raises(legacy.LegacyError, match="not a 32-byte"):
        legacy.load_key(str(bad))
    assert legacy.load_key(str(tmp_path / "missing")) is None
