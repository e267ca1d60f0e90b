"""What `get` and `list` say for every state of a stored entry (docs/protocol.md, get).

The store file and the key are damaged by hand, as an admin or a disk would do,
and the installed helper is run on them. One bad entry must never break the
others, never print the not-found string for a corrupt entry (that would make
docker prompt over a damaged store) and never print another server's secret.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from tests.conftest import Env

NOT_FOUND = b"credentials not found in native keychain\n"


def creds_out(server: str, user: str, secret: str) -> bytes:
    body = json.dumps(
        {"ServerURL": server, "Username": user, "Secret": secret}, separators=(",", ":")
    )
    return body.encode() + b"\n"


def load(ch: Env) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ch.store.read_bytes())
    return doc


def save(ch: Env, doc: dict[str, Any] | bytes) -> None:
    data = doc if isinstance(doc, bytes) else json.dumps(doc, indent=1).encode()
    ch.store.write_bytes(data)
    os.chmod(ch.store, 0o600)


def three(ch: Env) -> None:
    for name in ("a.example", "b.example", "c.example"):
        ch.put(name, f"user-{name}", f"secret-{name}")


def assert_others_fine(ch: Env, bad: str) -> None:
    """Every other entry still gets and lists; the bad one is not listed."""
    others = [s for s in ("a.example", "b.example", "c.example") if s != bad]
    for server in others:
        proc = ch.call("get", server.encode())
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            0,
            creds_out(server, f"user-{server}", f"secret-{server}"),
            b"",
        )
    proc = ch.call("list")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {s: f"user-{s}" for s in others}


def one_line(data: bytes) -> str:
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    return data.decode().rstrip("\n")


# ------------------------------------------------------------------ key gone


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_key_deleted_or_replaced_by_hand_means_not_found_and_a_hint(ch: Env, how: str) -> None:
    """openEuler's docs tell admins to delete the aeskey to "rotate" it."""
    three(ch)
    ch.key.unlink()
    if how == "replaced":
        ch.key.write_bytes(os.urandom(32))
        os.chmod(ch.key, 0o600)
    proc = ch.call("get", b"b.example")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)
    hint = one_line(proc.stderr)
    assert "b.example" in hint and "credhelper login b.example" in hint
    assert b"secret-" not in proc.stderr
    proc = ch.call("list")
    assert (proc.returncode, proc.stdout) == (0, b"{}\n")
    hint = one_line(proc.stderr)
    assert "credhelper login" in hint and "a.example" in hint
    if how == "deleted":
        assert not ch.key.exists(), "a read must never create a key"
    if how == "replaced":
        # A key that is not the one the store's header vouches for (planted, or an
        # edited keyProvider record) never seals a login: one line, nothing written.
        before = ch.store.read_bytes()
        proc = ch.call("store", b'{"ServerURL":"b.example","Username":"new","Secret":"pw"}')
        assert proc.returncode == 1 and b"pw" not in proc.stdout + proc.stderr
        line = one_line(proc.stdout)
        assert "refusing to seal with key" in line and "credhelper rotate" in line
        assert ch.store.read_bytes() == before
        # The fix it names: a forced rotation starts over; then logging in works.
        assert ch.cli("rotate", "--yes").returncode == 0
    # A deleted key of the store's own provider: logging in again starts a new key.
    ch.put("b.example", "new", "pw")
    proc = ch.call("get", b"b.example")
    assert (proc.returncode, proc.stdout) == (0, creds_out("b.example", "new", "pw"))
    assert json.loads(ch.call("list").stdout) == {"b.example": "new"}


def test_hub_hint_names_plain_credhelper_login(ch: Env) -> None:
    ch.put("https://index.docker.io/v1/", "u", "p")
    ch.key.unlink()
    proc = ch.call("get", b"https://index.docker.io/v1/")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)
    assert "credhelper login" in one_line(proc.stderr)


def test_invalidated_by_rotation_means_not_found_and_a_hint(ch: Env) -> None:
    three(ch)
    doc = load(ch)
    doc["auths"]["a.example"] = {"invalidated": "2026-01-02T03:04:05Z", "reason": "key rotation"}
    save(ch, doc)
    proc = ch.call("get", b"a.example")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)
    hint = one_line(proc.stderr)
    assert "a.example" in hint and "credhelper login a.example" in hint
    assert_others_fine(ch, "a.example")
    assert "a.example" in ch.call("list").stderr.decode()


# ------------------------------------------------------------------ corrupt entries


def flip(sealed: str, index: int) -> str:
    blob = bytearray(base64.b64decode(sealed))
    blob[index % len(blob)] ^= 0x01
    return base64.b64encode(bytes(blob)).decode()


@pytest.mark.parametrize("index", [0, 5, 12, 20, -1, -16])  # nonce, ciphertext, tag
def test_modified_ciphertext_is_corrupt_never_not_found(ch: Env, index: int) -> None:
    three(ch)
    doc = load(ch)
    entry = doc["auths"]["b.example"]
    entry["sealed"] = flip(entry["sealed"], index)
    save(ch, doc)
    proc = ch.call("get", b"b.example")
    assert proc.returncode == 1
    line = one_line(proc.stdout)
    assert "b.example" in line
    assert "authentication failed: entry was modified" in line
    assert "credhelper doctor" in line
    assert proc.stdout != NOT_FOUND and b"secret-" not in proc.stdout + proc.stderr
    assert_others_fine(ch, "b.example")
    warning = ch.call("list").stderr.decode()
    assert "b.example" in warning and "credhelper doctor" in warning


@pytest.mark.parametrize(
    ("mangle", "offset"),
    [
        (lambda s: s[:5] + "-" + s[6:], 5),  # URL-safe character
        (lambda s: "_" + s[1:], 0),
        (lambda s: s.rstrip("="), None),  # unpadded: Go names the last group
        (lambda s: s[:8] + " " + s[8:], 8),
    ],
)
def test_undecodable_base64_names_gos_byte_offset(ch: Env, mangle: Any, offset: int | None) -> None:
    three(ch)
    doc = load(ch)
    sealed = doc["auths"]["c.example"]["sealed"]
    bad = mangle(sealed)
    if offset is None:
        offset = len(bad) - len(bad) % 4
    doc["auths"]["c.example"]["sealed"] = bad
    save(ch, doc)
    proc = ch.call("get", b"c.example")
    assert proc.returncode == 1
    line = one_line(proc.stdout)
    assert f"illegal base64 data at input byte {offset}" in line
    assert "c.example" in line and "credhelper doctor" in line
    assert_others_fine(ch, "c.example")


def test_ciphertext_moved_to_another_server_fails_authentication(ch: Env) -> None:
    three(ch)
    doc = load(ch)
    doc["auths"]["a.example"] = dict(doc["auths"]["c.example"])
    save(ch, doc)
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1
    assert "authentication failed: entry was modified" in one_line(proc.stdout)
    assert b"secret-c.example" not in proc.stdout + proc.stderr
    assert_others_fine(ch, "a.example")


@pytest.mark.parametrize(
    "entry",
    [
        "just a string",
        None,  # JSON null: corrupt, not "absent"
        {"keyId": "0123456789abcdef"},
        {"sealed": 42, "keyId": "x"},
        {"sealed": "", "keyId": None},
    ],
)
def test_malformed_entry_breaks_only_itself(ch: Env, entry: Any) -> None:
    three(ch)
    doc = load(ch)
    if isinstance(entry, dict) and entry.get("keyId") is None and "sealed" in entry:
        entry = {"sealed": "", "keyId": doc["auths"]["a.example"]["keyId"]}
    doc["auths"]["a.example"] = entry
    save(ch, doc)
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1 and proc.stdout != NOT_FOUND
    line = one_line(proc.stdout)
    assert "a.example" in line and "credhelper doctor" in line
    assert_others_fine(ch, "a.example")


# ------------------------------------------------------------------ whole store bad


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"{", "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"version":1,"auths":{"\xff":{}}}', "not UTF-8"),
        (b"[]", "not a JSON object"),
        (b'{"auths":{}}', "no format version"),
        (b'{"version":3,"auths":{}}', "unsupported format version 3"),
        (b'{"version":"1","auths":{}}', "unsupported format version"),
        (b'{"version":1,"auths":[]}', '"auths" is not a JSON object'),
    ],
)
def test_unreadable_store_is_one_line_and_nothing_is_written(
    ch: Env, content: bytes, cause: str
) -> None:
    three(ch)
    save(ch, content)
    names_before = sorted(os.listdir(ch.home))
    key_before = ch.key.read_bytes()
    requests = [
        ("get", b"a.example"),
        ("list", b""),
        ("store", json.dumps({"ServerURL": "n", "Username": "u", "Secret": "p"}).encode()),
        ("erase", b"a.example"),
    ]
    for action, data in requests:
        proc = ch.call(action, data)
        assert proc.returncode == 1, action
        line = one_line(proc.stdout)
        assert str(ch.store) in line and cause in line and "credhelper doctor" in line, line
        assert proc.stdout != NOT_FOUND
        assert b"Traceback" not in proc.stdout + proc.stderr
        assert ch.store.read_bytes() == content, f"{action} rewrote the store"
        assert ch.key.read_bytes() == key_before
        assert sorted(os.listdir(ch.home)) == names_before


def test_bad_key_file_is_one_line_naming_path_and_fix(ch: Env) -> None:
    three(ch)
    os.chmod(ch.key, 0o644)
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1
    line = one_line(proc.stdout)
    assert str(ch.key) in line and f"chmod 600 {ch.key}" in line
    assert proc.stdout != NOT_FOUND and b"secret-" not in proc.stdout

    os.chmod(ch.key, 0o600)
    ch.key.write_bytes(b"short")
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1 and str(ch.key) in one_line(proc.stdout)


def test_symlinked_key_is_refused(ch: Env) -> None:
    three(ch)
    real = ch.root / "elsewhere-key"
    real.write_bytes(ch.key.read_bytes())
    os.chmod(real, 0o600)
    ch.key.unlink()
    ch.key.symlink_to(real)
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1
    line = one_line(proc.stdout)
    assert str(ch.key) in line and "symbolic link" in line


def test_unknown_key_provider_is_one_line_without_traceback(ch: Env) -> None:
    three(ch)
    doc = load(ch)
    doc["keyProvider"] = {"name": "nonsense"}
    save(ch, doc)
    proc = ch.call("get", b"a.example")
    assert proc.returncode == 1
    assert "nonsense" in one_line(proc.stdout)
    assert b"Traceback" not in proc.stdout + proc.stderr


def test_erase_with_nothing_stored_creates_nothing(ch: Env) -> None:
    """docker logout erases up to four spellings; none may create a store or key."""
    for spelling in ("reg.example", "http://reg.example", "https://reg.example"):
        proc = ch.call("erase", spelling.encode())
        assert proc.returncode == 0, proc.stdout
    assert not ch.home.exists()
