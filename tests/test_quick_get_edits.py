"""The quick `get` (store/quick.py) against the full parse on hostile heads.

A genuine tagged store is written by the real writer (file provider), then the
text before the tagged "auths" member is edited in ways a partial parse could
read differently from json.loads of the whole file, and tails/tags are moved
between stores sharing a key. Rule (README/docs/store-format.md): quick.get's
answer equals the full parse's answer (same login, or same error and words).
All of these held on the code under attack; they stay as regression guards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from credhelper.errors import CredhelperError
from credhelper.store import Snapshot, Store, parse_document, quick
from credhelper.store.document import AUTHS_MEMBER

S = "reg.example"


def outcome(call: object) -> tuple[object, ...]:
    try:
        creds = call()  # type: ignore[operator]
    except CredhelperError as err:
        return (type(err).__name__, str(err))
    return ("ok", creds.username, creds.secret)


def genuine(directory: str, logins: dict[str, tuple[str, str]]) -> bytes:
    store = Store(directory)
    for server, (user, secret) in logins.items():
        store.put(server, user, secret)
    return Path(store.path).read_bytes()


def compare(directory: str, raw: bytes, server: str) -> tuple[object, ...]:
    store = Store(directory)
    fd = os.open(store.path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)

    def full() -> object:
        return Snapshot(parse_document(raw, store.path), store.path, directory, raw).get(server)

    expected = outcome(full)
    got = outcome(lambda: quick.get(store.path, directory, server))
    assert got == expected, (raw[:300], got, expected)
    return got


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CREDHELPER_KEY_PROVIDER", raising=False)
    directory = tmp_path / "home"
    monkeypatch.setenv("CREDHELPER_HOME", str(directory))
    return str(directory)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    at = raw.find(AUTHS_MEMBER)
    return raw[:at], raw[at:]


EVIL = b'{"sealed": "' + b"A" * 48 + b'", "keyId": "0000000000000000"}'


def _head_edits(head: bytes) -> list[bytes]:
    body = head[1:]  # without the opening brace
    return [
        b'{"auths": {"reg.example": ' + EVIL + b"}," + body,
        b'{"\\u0061uths": {"reg.example": ' + EVIL + b"}," + body,
        b'{"x": "\\n \\"auths\\": {\\"reg.example\\": 1}",' + body,
        b'{"x": {"auths": {"reg.example": ' + EVIL + b"}}," + body,
        b"\xef\xbb\xbf" + head,
        head.replace(b"\n", b"\r\n"),
        head.replace(b"\n", b"\n\t"),
        b'{"authsTag": {"sealed": "AAAA", "keyId": "0000000000000000"},' + body,
        head + b'\n "authsTag": {"sealed": "AAAA", "keyId": "0000000000000000"},',
        head + b'\n "version": 1,',
        head + b'\n "version": 2.0,',
        head + b'\n "version": true,',
        head + b'\n "keyProvider": {"name": "env"},',
        head + b'\n "keyRotation": {"newKeyId": "0123456789abcdef"},',
        head + b'\n "header": {"sealed": "AAAA", "keyId": "0000000000000000"},',
        head + b'\n "auths": {"reg.example": ' + EVIL + b"},",
        head + b'\n "\\u0061uths": {"reg.example": ' + EVIL + b"},",
        head + b'\n "x": "\\u0000",',
        head + b'\n "x": [' + b"[" * 70 + b"]" * 70 + b"],",
        head + b'\n "x": 1e999,',
        head + b'\n "x": NaN,',
        head + b'\n "x": "\xff",',
        head[:-1],  # the comma before "auths" gone
        head + b"}",
        b"[" + head,
        b" " * 3 + head,
        head + b'\n "x": {',
        head + b'\n "x": "',
        head + b'\n "x": ',
    ]


def test_hostile_heads_are_read_as_the_full_parse_reads_them(home: str) -> None:
    raw = genuine(home, {S: ("alice", "pw1"), "b.example": ("bob", "pw2")})
    head, tail = _split(raw)
    assert compare(home, raw, S) == ("ok", "alice", "pw1")
    for edited in _head_edits(head):
        for server in (S, "b.example"):
            compare(home, edited + tail, server)


def test_a_tail_and_tag_moved_from_another_store_of_the_same_key(home: str, tmp_path: Path) -> None:
    raw = genuine(home, {S: ("alice", "pw1"), "b.example": ("bob", "pw2")})
    other = str(tmp_path / "other")
    os.makedirs(other, mode=0o700)
    shutil.copy2(Path(home) / "aeskey", Path(other) / "aeskey")
    os.environ["CREDHELPER_HOME"] = other
    raw2 = genuine(other, {S: ("mallory", "evil"), "c.example": ("carol", "pw3")})
    os.environ["CREDHELPER_HOME"] = home
    head, _tail = _split(raw)
    head2, tail2 = _split(raw2)
    tag2 = head2[head2.rfind(b'\n "authsTag"') :]
    head_no_tag = head[: head.rfind(b'\n "authsTag"')]
    for edited in (head + tail2, head_no_tag + tag2 + tail2, head2 + raw[len(head) :]):
        for server in (S, "b.example", "c.example"):
            compare(home, edited, server)


def test_rollback_to_an_older_genuine_file_and_byte_edits_of_the_tail(home: str) -> None:
    old = genuine(home, {S: ("alice", "old")})
    new = genuine(home, {S: ("alice", "new"), "b.example": ("bob", "x")})
    assert compare(home, new, S) == ("ok", "alice", "new")
    compare(home, old, S)  # accepted by design (SECURITY.md: no rollback protection)
    head, tail = _split(new)
    for edited in (
        new + b"\n",
        new + b"\x00",
        new[:-1],
        new[:-2] + b"\n",
        head + tail.replace(b'"alice"', b'"alicf"', 1),
        head + tail.replace(b"\n  ", b"\n   ", 1),
        head + tail[:-3] + b', "x": 1\n}\n',
    ):
        compare(home, edited, S)


@pytest.mark.parametrize(
    "asked",
    ["REG.example", "reg.example/", "https://reg.example", "reg.example:443", "\u0072eg.example "],
)
def test_other_spellings_of_the_server_give_the_full_parses_answer(home: str, asked: str) -> None:
    raw = genuine(home, {S: ("alice", "pw1"), "docker.io": ("d", "dpw")})
    compare(home, raw, asked)
