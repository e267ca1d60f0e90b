"""The v1 envelope (credhelper.crypto): AES-256-GCM with AAD binding, by properties.

Round trips for any text; any flipped bit, truncation or extension, a ciphertext
moved to another server, or the same ciphertext under another key, key id or
format version gives an integrity error and never plaintext.
"""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper import crypto

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
AUTH_FAILED = "authentication failed: entry was modified"
texts = st.text(max_size=60)
servers = st.text(min_size=1, max_size=60)


@given(servers, texts, texts)
def test_round_trip(server: str, username: str, secret: str) -> None:
    sealer = crypto.Sealer(KEY)
    sealed = sealer.seal(server, username, secret)
    assert crypto.Sealer(KEY).unseal(server, sealed) == (username, secret)
    blob = base64.b64decode(sealed, validate=True)  # standard, padded base64
    assert len(blob) >= crypto.NONCE_BYTES + crypto.TAG_BYTES
    if secret and len(secret) >= 8:
        assert secret.encode("utf-8", "surrogatepass") not in blob
        assert secret not in sealed


@given(servers, texts, texts, st.data())
def test_any_flipped_bit_is_detected(
    server: str, username: str, secret: str, data: st.DataObject
) -> None:
    sealer = crypto.Sealer(KEY)
    blob = bytearray(base64.b64decode(sealer.seal(server, username, secret)))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(crypto.SealError, match=AUTH_FAILED):
        sealer.unseal(server, base64.b64encode(bytes(blob)).decode())


@given(servers, texts, st.data())
def test_truncation_or_extension_is_detected(server: str, secret: str, data: st.DataObject) -> None:
    sealer = crypto.Sealer(KEY)
    blob = base64.b64decode(sealer.seal(server, "u", secret))
    cut = data.draw(st.integers(0, len(blob) - 1))
    shorter = blob[:cut]
    longer = blob + data.draw(st.binary(min_size=1, max_size=8))
    for bad in (shorter, longer):
        with pytest.raises(crypto.SealError) as info:
            sealer.unseal(server, base64.b64encode(bad).decode())
        assert str(info.value) in (AUTH_FAILED, f"ciphertext too short ({len(bad)} bytes)")


@given(servers, servers, texts)
def test_ciphertext_moved_to_another_server_fails(a: str, b: str, secret: str) -> None:
    sealer = crypto.Sealer(KEY)
    sealed = sealer.seal(a, "u", secret)
    if a != b:
        with pytest.raises(crypto.SealError, match=AUTH_FAILED):
            sealer.unseal(b, sealed)


@given(servers, texts)
def test_another_key_fails(server: str, secret: str) -> None:
    sealed = crypto.Sealer(KEY).seal(server, "u", secret)
    with pytest.raises(crypto.SealError, match=AUTH_FAILED):
        crypto.Sealer(OTHER_KEY).unseal(server, sealed)


def test_aad_binds_format_version_and_key_id() -> None:
    """Same key, same nonce and ciphertext: only the associated data differs."""
    sealer = crypto.Sealer(KEY)
    blob = base64.b64decode(sealer.seal("reg.example", "u", "p"))
    nonce, body = blob[: crypto.NONCE_BYTES], blob[crypto.NONCE_BYTES :]
    aead = AESGCM(KEY)
    right = b"credhelper\x00v1\x00" + sealer.key_id.encode() + b"\x00reg.example"
    assert aead.decrypt(nonce, body, right)  # the layout documented in SECURITY.md
    wrong = [
        b"credhelper\x00v2\x00" + sealer.key_id.encode() + b"\x00reg.example",
        b"credhelper\x00v1\x00" + b"0" * 16 + b"\x00reg.example",
        b"credhelper\x00v1\x00" + sealer.key_id.encode() + b"\x00reg.exampl",
        b"",
    ]
    for aad in wrong:
        with pytest.raises(InvalidTag):
            aead.decrypt(nonce, body, aad)


def test_nonce_is_fresh_for_every_seal() -> None:
    sealer = crypto.Sealer(KEY)
    blobs = [base64.b64decode(sealer.seal("s", "u", "same")) for _ in range(200)]
    nonces = {b[: crypto.NONCE_BYTES] for b in blobs}
    assert len(nonces) == 200
    assert len({b[crypto.NONCE_BYTES :] for b in blobs}) == 200


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_key_id_is_derived_from_the_key(a: bytes, b: bytes) -> None:
    assert crypto.key_id(a) == crypto.key_id(a) == crypto.Sealer(a).key_id
    assert len(crypto.key_id(a)) == 16 and int(crypto.key_id(a), 16) >= 0
    if a != b:
        assert crypto.key_id(a) != crypto.key_id(b)
    assert a.hex()[:16] not in crypto.key_id(a)


@settings(max_examples=50)
@given(st.binary(max_size=64).filter(lambda k: len(k) != 32))
def test_wrong_key_length_is_refused(key: bytes) -> None:
    with pytest.raises(ValueError):
        crypto.Sealer(key)


def test_repr_shows_no_key_material() -> None:
    key = os.urandom(32)
    text = repr(crypto.Sealer(key))
    assert key.hex() not in text and base64.b64encode(key).decode() not in text
    assert crypto.key_id(key) in text


@pytest.mark.parametrize(
    ("sealed", "cause"),
    [
        ("-AAA", "illegal base64 data at input byte 0"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-", "illegal base64 data at input byte 36"),
        ("AAAA", "ciphertext too short (3 bytes)"),
        ("", "ciphertext too short (0 bytes)"),
    ],
)
def test_undecodable_entries_name_the_cause(sealed: str, cause: str) -> None:
    with pytest.raises(crypto.SealError) as info:
        crypto.Sealer(KEY).unseal("s", sealed)
    assert str(info.value) == cause


def test_authentic_but_malformed_plaintext_is_not_a_credential() -> None:
    sealer = crypto.Sealer(KEY)
    nonce = os.urandom(crypto.NONCE_BYTES)
    aad = b"credhelper\x00v1\x00" + sealer.key_id.encode() + b"\x00s"
    for plaintext in (b"[]", b"{}", b'{"Username":1,"Secret":"x"}', b"\xff"):
        blob = nonce + AESGCM(KEY).encrypt(nonce, plaintext, aad)
        with pytest.raises(crypto.SealError, match="not a credential record"):
            sealer.unseal("s", base64.b64encode(blob).decode())
