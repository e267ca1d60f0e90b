"""Fuzz targets: each takes bytes and may raise only credhelper's own one-line errors.

Shared by the atheris runner (tests/fuzz/run.py, scripts/fuzz) and the
hypothesis tests. Any other exception is a crash: the real executables would
print "internal error" for it instead of a clear message.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from credhelper import gojson, protocol, store
from credhelper.errors import CredhelperError
from credhelper.keys import env as env_keys
from credhelper.keys.file import FileKeyProvider

# A fixed key for the store-reader target, given through the env provider so no
# file is ever created.
FUZZ_KEY = base64.b64encode(bytes(range(32))).decode()


def _printable(text: str) -> None:
    """What get/list print must always encode (a lone surrogate once made list crash)."""
    gojson.go_json({"ServerURL": text}).encode("utf-8")


def protocol_input(data: bytes) -> None:
    """stdin of get/erase/store: read_input, server_url and parse_store."""
    try:
        text = protocol.read_input(io.BytesIO(data))
    except CredhelperError:
        return
    try:
        url = protocol.server_url(text)
        _printable(url)
    except CredhelperError:
        pass
    try:
        server, username, secret = protocol.parse_store(text)
    except CredhelperError as err:
        assert "\n" not in err.message, "multi-line error"
        return
    assert server and username, "empty field accepted"
    for value in (server, username, secret):
        _printable(value)


def store_document(data: bytes) -> None:
    """A store file: parse_document, then what get/list/writers do with the result."""
    try:
        doc = store.parse_document(data, "/fuzz/config.json")
    except CredhelperError as err:
        assert "\n" not in err.message, "multi-line error"
        return
    os.environ[env_keys.ENV_KEY] = FUZZ_KEY
    snap = store.Snapshot(doc, "/fuzz/config.json", "/fuzz")
    try:
        for server in snap.servers():
            with contextlib.suppress(CredhelperError):
                snap.get(server)
        snap.usernames()
        for status in snap.statuses():
            json.dumps(status.as_dict())
    except CredhelperError:
        pass
    # A writer serialises whatever it parsed; that must not fail either.
    store.serialize_document(doc)


def key_file(data: bytes) -> None:
    """The aeskey file and the env key: read and checked, never anything else."""
    # A fresh 0700 directory per input, removed before returning (also when the
    # target fails): importing or running a target leaves nothing in $TMPDIR.
    with tempfile.TemporaryDirectory(prefix="credhelper-fuzz-key-") as directory:
        path = os.path.join(directory, "aeskey")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            key = FileKeyProvider(path).load()
            assert key is not None and len(key) == 32
        except CredhelperError:
            pass
    with contextlib.suppress(CredhelperError):
        env_keys._decode(data, "fuzz")  # the env provider's parser


TARGETS: dict[str, Callable[[bytes], None]] = {
    "protocol": protocol_input,
    "store": store_document,
    "key": key_file,
}


def seeds(target: str) -> list[bytes]:
    """A small starting corpus for `target`: well-formed inputs the fuzzer mutates."""
    if target == "protocol":
        return [
            b'{"ServerURL":"https://index.docker.io/v1/","Username":"\\u003ctoken\\u003e",'
            b'"Secret":"s"}\n',
            b'{"serverurl": "r.example:5000", "USERNAME": "u", "secret": null, "x": [1, {}]}',
            b'{"ServerURL":"a","Username":"u","Secret":"\\ud83d\\ude00\\u0000"} trailing',
            b"https://index.docker.io/v1/",
            b"  registry.example:5000\r\n",
            b"",
        ]
    if target == "store":
        from credhelper import crypto

        sealer = crypto.Sealer(base64.b64decode(FUZZ_KEY))
        doc = {
            "version": 1,
            "keyProvider": {"name": "env"},
            "auths": {
                "r.example": {
                    "sealed": sealer.seal("r.example", "u", "p"),
                    "keyId": sealer.key_id,
                    "updated": "2026-01-01T00:00:00Z",
                },
                "gone.example": {"invalidated": "2026-01-01T00:00:00Z", "reason": "key rotation"},
                "other.example": {"sealed": "AAAA", "keyId": "0123456789abcdef"},
            },
        }
        marked = dict(doc, keyRotation={"newKeyId": sealer.key_id, "mode": "forced"})
        return [
            json.dumps(doc).encode(),
            json.dumps(marked, indent=1).encode(),
            json.dumps(_v2_seed(sealer)).encode(),
            b"{}",
        ]
    return [bytes(range(32)), FUZZ_KEY.encode() + b"\n", b""]


def _v2_seed(sealer: Any) -> dict[str, Any]:
    """A format-2 store: authenticated header, an expiring entry, a kept username."""
    from credhelper import crypto
    from credhelper.store import document

    header = sealer.seal_record(
        crypto.DOMAIN_HEADER, "", document.header_plaintext({"name": "env"}, None)
    )
    user = sealer.seal_record(crypto.DOMAIN_USERNAME, "gone.example", b'{"Username": "u"}')
    return {
        "version": 2,
        "keyProvider": {"name": "env"},
        "header": {"sealed": header, "keyId": sealer.key_id},
        "auths": {
            "r.example": {
                "sealed": sealer.seal_entry("r.example", "u", "p", "2099-01-01T00:00:00Z"),
                "keyId": sealer.key_id,
                "updated": "2026-01-01T00:00:00Z",
                "v": 2,
                "expires": "2099-01-01T00:00:00Z",
            },
            "gone.example": {
                "invalidated": "2026-01-01T00:00:00Z",
                "reason": "key rotation",
                "user": user,
                "keyId": sealer.key_id,
            },
        },
    }


# Tokens that help the fuzzer build JSON (libFuzzer -dict format).
JSON_DICT = [
    "{", "}", "[", "]", ":", ",", '"', "\\u", "\\ud800", "null", "true", "false", "-0.5e+3",
    '"ServerURL"', '"Username"', '"Secret"', '"version"', '"auths"', '"sealed"', '"keyId"',
    '"invalidated"', '"reason"', '"updated"', '"keyProvider"', '"keyRotation"', '"name"',
    '"newKeyId"', '"mode"', "1", '"header"', '"v"', '"expires"', '"user"', "2",
]  # fmt: skip


def write_dict(path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for token in JSON_DICT:
            handle.write(json.dumps(token) + "\n")
