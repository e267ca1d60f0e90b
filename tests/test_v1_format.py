"""A store written by the first v1 release must be readable by every later one.

tests/data/v1 was made once and is frozen (its hashes are pinned below): the
installed helper and CLI must read every entry of it exactly as they did then.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Env

DATA = Path(__file__).parent / "data" / "v1"
FROZEN = {
    "config.json": "a193ff628ddd4c1f6b66ecd8b28d92bf56f6e1e0875cbefc54250327bd53e960",
    "aeskey": "86334a691be98fb3c70e32cd46b6f2b79df980ee47270495b750ab7b69a21414",
}
ENTRIES = {
    "https://index.docker.io/v1/": ("<token>", "eyJ0b2tlbiI6InYxIn0"),
    "registry.example:5000": ("alice", 'p@ss w0rd<&>"\\'),
    "r\u00e9gistry.example": ("\u00e9l\u00e8ve", "s\u00e9cret\u2028\U0001f511"),
    "ghcr.io": ("bob", ""),
}
GET_OUTPUT = {
    "https://index.docker.io/v1/": b'{"ServerURL":"https://index.docker.io/v1/",'
    b'"Username":"\\u003ctoken\\u003e","Secret":"eyJ0b2tlbiI6InYxIn0"}\n',
    "registry.example:5000": b'{"ServerURL":"registry.example:5000","Username":"alice",'
    b'"Secret":"p@ss w0rd\\u003c\\u0026\\u003e\\"\\\\"}\n',
    "r\u00e9gistry.example": '{"ServerURL":"r\u00e9gistry.example","Username":"\u00e9l\u00e8ve",'
    '"Secret":"s\u00e9cret\\u2028\U0001f511"}\n'.encode(),
    "ghcr.io": b'{"ServerURL":"ghcr.io","Username":"bob","Secret":""}\n',
}


@pytest.fixture
def v1(ch: Env) -> Env:
    ch.home.mkdir(mode=0o700)
    for name in FROZEN:
        shutil.copyfile(DATA / name, ch.home / name)
        os.chmod(ch.home / name, 0o600)  # git does not keep modes
    return ch


def test_fixture_is_unchanged() -> None:
    for name, digest in FROZEN.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, (
            f"tests/data/v1/{name} changed: the v1 fixture is frozen, restore it from git"
        )


@pytest.mark.parametrize("server", sorted(ENTRIES))
def test_helper_reads_every_v1_entry(v1: Env, server: str) -> None:
    proc = v1.helper("get", server.encode())
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, GET_OUTPUT[server], b"")
    assert json.loads(proc.stdout) == {
        "ServerURL": server,
        "Username": ENTRIES[server][0],
        "Secret": ENTRIES[server][1],
    }


def test_invalidated_v1_entry_needs_a_login(v1: Env) -> None:
    proc = v1.helper("get", b"old.example")
    assert (proc.returncode, proc.stdout) == (1, b"credentials not found in native keychain\n")
    assert b"credhelper login old.example" in proc.stderr


def test_helper_lists_v1(v1: Env) -> None:
    proc = v1.helper("list")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {server: user for server, (user, _) in ENTRIES.items()}


def test_cli_list_reads_v1_states(v1: Env) -> None:
    proc = v1.cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["server"]: row for row in json.loads(proc.stdout)}
    assert set(rows) == {*ENTRIES, "old.example"}
    for server, (user, _) in ENTRIES.items():
        assert (rows[server]["state"], rows[server]["username"]) == ("ok", user)
        assert rows[server]["updated"] == "2026-11-29T00:44:09Z"
    assert rows["old.example"]["state"] == "needs-relogin"
    for _, secret in ENTRIES.values():
        if secret:
            assert secret not in proc.stdout


def test_writing_into_a_v1_store_keeps_every_old_entry(v1: Env) -> None:
    v1.store_creds("new.example", "carol", "pw")
    for server in ENTRIES:
        assert v1.helper("get", server.encode()).stdout == GET_OUTPUT[server]
    assert (v1.home / "aeskey").read_bytes() == (DATA / "aeskey").read_bytes()


def test_the_first_write_makes_it_version_2_with_a_header_and_no_invented_key_age(
    v1: Env,
) -> None:
    v1.store_creds("new.example", "carol", "pw")
    doc = json.loads((v1.home / "config.json").read_bytes())
    assert doc["version"] == 2 and set(doc["header"]) == {"sealed", "keyId", "provider"}
    assert doc["header"]["provider"] == "file"
    old = json.loads((DATA / "config.json").read_bytes())["auths"]
    for server, entry in old.items():
        assert doc["auths"][server] == entry  # v1 records are kept as they were
    listed = {e["server"]: e for e in json.loads(v1.cli("list", "--json").stdout)}
    # The key predates recorded ages: unknown, never the time of this write.
    assert {e["keyCreated"] for e in listed.values()} == {None}
    # A second write keeps it so (the header is re-sealed, the age still unknown).
    v1.store_creds("new2.example", "dave", "pw2")
    listed = {e["server"]: e for e in json.loads(v1.cli("list", "--json").stdout)}
    assert listed["new2.example"]["keyCreated"] is None
