"""Hostile edits of every piece of store metadata that could change behaviour (#10 item 3).

The attacker can edit the store file (a synced dotfile, a restored backup, a
process running as the user). Each edit of the key provider record, the format
version, the header, the rotation mark or an entry's key id must either be
refused with one line (nothing written, no key created) or be unable to cause
harm; never may a login be sealed under a key the attacker chose, a plaintext
key appear beside a keyring store, or a module named by the file be imported.
Real executables for the named edits (a module named by the file is imported once
per process, so that case stays on the executable); the property test and the
read-backs after an edit run the protocol in this process (ch.call: the
executable's bytes, stderr and exit code, tests/test_protocol_equivalence.py).
The keyring cases use a real Secret Service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import crypto
from credhelper.errors import NOT_FOUND_MESSAGE
from tests.conftest import Env, make_env, require_tool
from tests.keyring_session import secret_service

NOT_FOUND = (NOT_FOUND_MESSAGE + "\n").encode()
STORE_REQ = b'{"ServerURL":"new.example","Username":"mallory-target","Secret":"NEW-SECRET-1"}'


def seeded(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "SECRET-A-123")
    ch.store_creds("b.example", "bob", "SECRET-B-456")


def load(ch: Env) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ch.store.read_bytes())
    return doc


def save(ch: Env, doc: Any) -> None:
    ch.store.write_bytes(json.dumps(doc).encode())


def one_line(data: bytes) -> str:
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    return data.decode().rstrip("\n")


def assert_refused_and_unchanged(ch: Env, cause: str) -> None:
    """get, list and store each give one line; the store and key files are unchanged."""
    before = {p.name: p.read_bytes() for p in ch.home.iterdir() if p.is_file()}
    get = ch.helper("get", b"a.example")
    assert get.returncode == 1 and cause in one_line(get.stdout), get.stdout
    assert b"SECRET-" not in get.stdout + get.stderr
    store = ch.helper("store", STORE_REQ)
    assert store.returncode == 1 and cause in one_line(store.stdout), store.stdout
    listed = ch.helper("list")
    assert listed.returncode == 1 and b"SECRET-" not in listed.stdout + listed.stderr
    after = {p.name: p.read_bytes() for p in ch.home.iterdir() if p.is_file()}
    after.pop("config.json.lock", None), before.pop("config.json.lock", None)
    assert after == before


EDITS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("provider record added", lambda d: d.update(keyProvider={"name": "file"}), "keyProvider"),
    (
        "provider record extra",
        lambda d: d.update(keyProvider={"name": "file", "x": 1}),
        "keyProvider",
    ),
    ("version lowered", lambda d: d.update(version=1), "version 1 store with a version 2 header"),
    ("header removed", lambda d: d.pop("header"), "header is missing"),
    ("header removed, v1", lambda d: (d.pop("header"), d.update(version=1)), "header is missing"),
    (
        "header ciphertext",
        lambda d: d["header"].update(sealed=d["auths"]["b.example"]["sealed"]),
        "fails authentication",
    ),
    ("header key id", lambda d: d["header"].update(keyId="0123456789abcdef"), "names another key"),
    ("header malformed", lambda d: d.update(header="x"), "header record is malformed"),
    (
        "header provider claim",
        lambda d: d["header"].update(provider="keyring"),
        "fails authentication",
    ),
    (
        "header provider claim removed",
        lambda d: d["header"].pop("provider"),
        "fails authentication",
    ),
]


@pytest.mark.parametrize(("name", "edit", "cause"), EDITS, ids=[e[0] for e in EDITS])
def test_edited_metadata_is_refused_in_one_line(
    ch: Env, name: str, edit: Callable[[dict[str, Any]], object], cause: str
) -> None:
    seeded(ch)
    doc = load(ch)
    edit(doc)
    save(ch, doc)
    assert_refused_and_unchanged(ch, cause)


def test_provider_edited_to_file_with_a_planted_key_never_seals_under_it(ch: Env) -> None:
    """The attacker plants their own aeskey and strips what would contradict it."""
    seeded(ch)
    real_key = ch.key.read_bytes()
    planted = os.urandom(32)
    ch.key.unlink()
    fd = os.open(ch.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, planted)
    os.close(fd)
    proc = ch.helper("store", STORE_REQ)
    assert proc.returncode == 1 and "refusing to seal with key" in one_line(proc.stdout)
    assert b"NEW-SECRET" not in ch.store.read_bytes()
    assert "new.example" not in load(ch)["auths"]
    assert real_key != planted


def test_a_backend_naming_any_module_is_refused_before_import(ch: Env) -> None:
    """`this` prints the Zen of Python on import: nothing may reach get's stdout."""
    seeded(ch)
    for backend in (
        "this.Zen",
        "antigravity.Fly",
        "os.system",
        "keyrings.alt.file.PlaintextKeyring",
    ):
        doc = load(ch)
        doc["keyProvider"] = {"name": "keyring", "backend": backend}
        save(ch, doc)
        proc = ch.helper("get", b"a.example")
        line = one_line(proc.stdout)
        assert proc.returncode == 1 and "refusing keyring backend" in line, proc.stdout
        assert b"Beautiful is better" not in proc.stdout + proc.stderr
        env = {**ch.env, "CREDHELPER_KEYRING_BACKEND": backend}
        listed = ch.cli("list", env=env)
        assert listed.returncode != 0 and "Beautiful" not in listed.stdout + listed.stderr


@pytest.fixture
def kr(ch: Env, tmp_path: Path) -> Iterator[Env]:
    require_tool("secret-tool")
    with secret_service(tmp_path / "ss") as extra:
        ch.env = {**ch.env, **extra}
        yield ch


def test_keyring_store_edited_to_file_never_makes_a_plaintext_key(kr: Env) -> None:
    proc = kr.cli("install", "--key-provider", "keyring")
    assert proc.returncode == 0, proc.stderr
    seeded(kr)
    assert not kr.key.exists()
    doc = load(kr)
    assert doc["keyProvider"]["name"] == "keyring"
    assert doc["header"]["provider"] == "keyring"  # the claim a missing key is judged by
    doc["keyProvider"] = {"name": "file"}
    save(kr, doc)
    stored = kr.helper("store", STORE_REQ)
    line = one_line(stored.stdout)
    assert stored.returncode == 1 and "refusing to create a new key" in line
    assert "credhelper rotate" in line  # the fix is named
    assert not kr.key.exists(), "a plaintext aeskey appeared beside a keyring store"
    assert b"NEW-SECRET" not in kr.store.read_bytes()
    # Put back, everything works again: nothing was lost.
    doc["keyProvider"] = {"name": "keyring", "backend": "keyring.backends.SecretService.Keyring"}
    save(kr, doc)
    assert json.loads(kr.helper("get", b"a.example").stdout)["Secret"] == "SECRET-A-123"


def test_a_forged_rotation_mark_changes_nothing(ch: Env) -> None:
    seeded(ch)
    key = ch.key.read_bytes()
    doc = load(ch)
    doc["keyRotation"] = {"newKeyId": "0123456789abcdef", "mode": "forced"}
    save(ch, doc)
    ch.store_creds("c.example", "carol", "SECRET-C")
    assert ch.key.read_bytes() == key and "keyRotation" not in load(ch)
    for server, secret in (("a.example", "SECRET-A-123"), ("c.example", "SECRET-C")):
        assert json.loads(ch.call("get", server).stdout)["Secret"] == secret


def test_entry_key_id_moved_to_another_key_is_never_opened_with_it(ch: Env) -> None:
    seeded(ch)
    doc = load(ch)
    doc["auths"]["a.example"]["keyId"] = "0123456789abcdef"
    save(ch, doc)
    proc = ch.helper("get", b"a.example")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)
    assert b"SECRET" not in proc.stderr


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "version",
    "keyProvider",
    "header",
    "keyRotation",
    "header.keyId",
    "header.sealed",
    "a.keyId",
    "a.v",
    "a.expires",
    "a.user",
    "a.invalidated",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=_JSON)
def test_any_metadata_value_is_refused_or_harmless(
    tmp_path_factory: Any, field: str, value: Any
) -> None:
    """Whatever value a field takes: never a wrong secret, never a new key, one line."""
    ch = make_env(tmp_path_factory.mktemp("meta"))
    seeded(ch)
    key = ch.key.read_bytes()
    doc = load(ch)
    if field.startswith("header."):
        doc["header"][field.split(".")[1]] = value
    elif field.startswith("a."):
        doc["auths"]["a.example"][field.split(".")[1]] = value
    else:
        doc[field] = value
    save(ch, doc)
    # In this process (ch.call): a new store per example, and no lock is held here.
    proc = ch.call("get", b"a.example")
    if proc.returncode == 0:
        assert json.loads(proc.stdout) == {
            "ServerURL": "a.example",
            "Username": "alice",
            "Secret": "SECRET-A-123",
        }
    else:
        assert proc.stdout.count(b"\n") == 1 and b"SECRET" not in proc.stdout + proc.stderr
        assert b"Traceback" not in proc.stderr
    proc = ch.call("store", STORE_REQ)
    assert ch.key.exists() and ch.key.read_bytes() == key
    if proc.returncode != 0:
        assert proc.stdout.count(b"\n") == 1 and b"Traceback" not in proc.stderr


def test_doctor_names_an_edited_provider_record_and_fix_puts_back_the_real_one(ch: Env) -> None:
    seeded(ch)
    doc = load(ch)
    doc["keyProvider"] = {"name": "file", "backend": "this.Zen"}
    save(ch, doc)
    out = json.loads(ch.cli("doctor", "--json").stdout)
    [finding] = [f for f in out["findings"] if f["id"] == "store.provider-edited"]
    assert finding["severity"] == "error" and "keyProvider" in finding["message"]
    fixed = ch.cli("doctor", "--fix")
    assert "put back the store's keyProvider record null" in fixed.stdout
    assert "keyProvider" not in load(ch)
    assert json.loads(ch.call("get", b"a.example").stdout)["Secret"] == "SECRET-A-123"
    after = json.loads(ch.cli("doctor", "--json").stdout)
    assert "store.provider-edited" not in {f["id"] for f in after["findings"]}


def test_list_never_sends_control_characters_from_the_file(ch: Env) -> None:
    seeded(ch)
    doc = load(ch)
    doc["auths"]["evil\x1b]0;owned\x07\nx.example"] = {"invalidated": "t", "reason": "r"}
    save(ch, doc)
    out = ch.cli("list").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;owned\\x07\\nx.example" in out


def _plant_pending(ch: Env) -> bytes:
    planted = os.urandom(32)
    fd = os.open(ch.home / "aeskey.pending", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, planted)
    os.close(fd)
    return planted


@pytest.mark.parametrize("with_mark", [False, True])
def test_a_planted_pending_key_without_a_rotation_opens_no_entry(ch: Env, with_mark: bool) -> None:
    """An `aeskey.pending` the attacker chose, and an entry forged under it: get and
    list must not serve it, with no rotation mark (the pending key counts only for a
    rotation in progress) nor with a forged mark naming it (the store's header, sealed
    by the real key, does not vouch for it). doctor agrees it is not a usable login."""
    ch.store_creds("ghcr.io", "alice", "SECRET-A-123")
    planted = _plant_pending(ch)
    forger = crypto.Sealer(planted)
    doc = load(ch)
    assert "keyRotation" not in doc
    doc["auths"]["ghcr.io"] = {
        "sealed": forger.seal_entry("ghcr.io", "mallory", "MALLORY-TOKEN", ""),
        "keyId": forger.key_id,
        "v": 2,
    }
    if with_mark:
        doc["keyRotation"] = {"newKeyId": forger.key_id, "mode": "reencrypt"}
    save(ch, doc)
    got = ch.helper("get", b"ghcr.io")
    listed = ch.helper("list")
    assert b"MALLORY-TOKEN" not in got.stdout, got.stdout
    assert got.returncode != 0
    assert b"mallory" not in listed.stdout, listed.stdout
    shown = ch.cli("list", "--json")
    assert '"mallory"' not in shown.stdout


ESC = "\x1b]0;PWNED\x07\x1b[2J"


def test_get_never_echoes_control_characters_of_a_key_id(ch: Env) -> None:
    """An entry's keyId is unauthenticated free text; the needs-relogin hint of
    `get` (stderr) must not send its terminal escape sequences (OSC title, clear
    screen) raw: it shows them escaped, as `credhelper list` does."""
    seeded(ch)
    doc = load(ch)
    doc["auths"]["a.example"]["keyId"] = ESC
    save(ch, doc)
    listed = ch.cli("list")
    assert "\x1b" not in listed.stdout + listed.stderr
    got = ch.helper("get", b"a.example")
    assert b"\x1b" not in got.stdout + got.stderr, got.stderr
    assert b"\\x1b]0;PWNED" in got.stderr  # still says which key, escaped
    assert got.stderr.count(b"\n") == 1


def test_protocol_list_never_echoes_control_characters_of_a_server(ch: Env) -> None:
    """docker-credential-credhelper list warns about a corrupt entry naming the server
    on stderr: escaped, as credhelper list shows it."""
    seeded(ch)
    doc = load(ch)
    doc["auths"]["evil\x1b[2J.example"] = doc["auths"]["a.example"]  # corrupt: AAD binds server
    save(ch, doc)
    proc = ch.helper("list")
    assert proc.returncode == 0
    assert b"\x1b" not in proc.stdout + proc.stderr, proc.stderr
    assert b"evil\\x1b[2J.example" in proc.stderr
