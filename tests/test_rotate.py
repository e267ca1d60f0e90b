"""`credhelper rotate`: both modes with 1 and 1,000 entries, what users see after,
confirmation rules, a hand-deleted or replaced aeskey, the env provider, and every
intermediate on-disk state of a rotation (as a crash would leave it)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from credhelper import rotate as rotate_mod
from credhelper.errors import NOT_FOUND_MESSAGE
from credhelper.store import Store
from tests.conftest import CLI, Env
from tests.terminal import run_on_tty

HINT = re.compile(
    r"^credhelper: credentials for (?P<server>\S+) were invalidated by key rotation at "
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; run: credhelper login (?P=server)\n$"
)


def seed(n: int, prefix: str = "reg") -> dict[str, tuple[str, str]]:
    """Store `n` logins through the library (fast), under the current key."""
    creds = {f"{prefix}{i:04d}.example:5000": (f"user{i}", f"s3cret-{i}") for i in range(n)}
    with Store().transaction() as txn:
        for server, (user, secret) in creds.items():
            txn.put(server, user, secret)
    return creds


def samples(creds: dict[str, tuple[str, str]]) -> list[str]:
    servers = sorted(creds)
    return sorted({servers[0], servers[len(servers) // 2], servers[-1]})


def assert_get_ok(ch: Env, server: str, user: str, secret: str) -> None:
    proc = ch.helper("get", server)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout) == {"ServerURL": server, "Username": user, "Secret": secret}
    assert proc.stderr == b""


def assert_invalidated(ch: Env, server: str) -> None:
    proc = ch.helper("get", server)
    assert proc.returncode == 1
    assert proc.stdout == (NOT_FOUND_MESSAGE + "\n").encode()
    assert HINT.match(proc.stderr.decode()), proc.stderr
    assert server in proc.stderr.decode()


def states(ch: Env) -> dict[str, str]:
    proc = ch.cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {row["server"]: row["state"] for row in json.loads(proc.stdout)}


def no_secret_anywhere(text: str, creds: dict[str, tuple[str, str]]) -> None:
    for _user, secret in creds.values():
        assert secret not in text


@pytest.mark.parametrize("n", [1, 1000])
def test_forced_rotation_invalidates_every_login(ch: Env, n: int) -> None:
    creds = seed(n)
    old_key = ch.key.read_bytes()

    proc = ch.cli("rotate", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "forced"
    assert result["needsLogin"] == sorted(creds)
    assert result["reencrypted"] == []
    no_secret_anywhere(proc.stdout + proc.stderr, creds)

    # The old key and every ciphertext are gone; the servers stay recorded.
    assert ch.key.read_bytes() != old_key
    assert not (ch.home / "aeskey.pending").exists()
    doc = json.loads(ch.store.read_text())
    assert "keyRotation" not in doc
    assert set(doc["auths"]) == set(creds)
    for entry in doc["auths"].values():
        assert "sealed" not in entry
        assert entry["reason"] == "key rotation"
        assert entry["invalidated"] == result["rotatedAt"]

    for server in samples(creds):
        assert_invalidated(ch, server)
    listing = ch.helper("list")
    assert listing.returncode == 0
    assert listing.stdout == b"{}\n"
    assert "need a new login" in listing.stderr.decode()
    assert set(states(ch).values()) == {"needs-relogin"}
    human = ch.cli("list")
    assert "needs-relogin" in human.stdout

    # A new store replaces the record; the others still need a login.
    first = sorted(creds)[0]
    ch.store_creds(first, "new-user", "new-secret")
    assert_get_ok(ch, first, "new-user", "new-secret")
    after = states(ch)
    assert after[first] == "ok"
    assert all(state == "needs-relogin" for server, state in after.items() if server != first)


@pytest.mark.parametrize("n", [1, 1000])
def test_reencrypt_keeps_every_login(ch: Env, n: int) -> None:
    creds = seed(n)
    old_key = ch.key.read_bytes()

    proc = ch.cli("rotate", "--reencrypt", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "reencrypt"
    assert result["reencrypted"] == sorted(creds)
    assert result["needsLogin"] == []
    assert ch.key.read_bytes() != old_key

    doc = json.loads(ch.store.read_text())
    assert {entry["keyId"] for entry in doc["auths"].values()} == {result["newKeyId"]}
    snap = Store().snapshot()
    for server, (user, secret) in creds.items():
        got = snap.get(server)
        assert (got.username, got.secret) == (user, secret)
    for server in samples(creds):
        assert_get_ok(ch, server, *creds[server])
    listing = ch.helper("list")
    assert json.loads(listing.stdout) == {server: user for server, (user, _) in creds.items()}
    assert set(states(ch).values()) == {"ok"}


def test_human_output_lists_the_logins_to_redo(ch: Env) -> None:
    seed(3)
    proc = ch.cli("rotate", "--yes")
    assert proc.returncode == 0
    assert "3 registry login(s) need a new login" in proc.stdout
    assert "  credhelper login reg0001.example:5000" in proc.stdout


def test_refuses_without_tty_and_without_yes(ch: Env) -> None:
    seed(2)
    store_before, key_before = ch.store.read_bytes(), ch.key.read_bytes()
    proc = ch.cli("rotate")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--yes" in lines[0] and "terminal" in lines[0]
    assert ch.store.read_bytes() == store_before
    assert ch.key.read_bytes() == key_before


def _run_on_tty(ch: Env, args: list[str], answer: bytes) -> tuple[int, str]:
    code, out = run_on_tty([CLI, *args], ch.env, [(b"Continue?", answer)], timeout=60)
    return code, out.decode(errors="replace")


def test_tty_confirmation(ch: Env) -> None:
    seed(1)
    before = ch.store.read_bytes()
    code, out = _run_on_tty(ch, ["rotate"], b"n\n")
    assert code != 0 and "Aborted" in out
    assert ch.store.read_bytes() == before
    code, out = _run_on_tty(ch, ["rotate", "--reencrypt"], b"y\n")
    assert code == 0, out
    assert "Re-encrypted 1 stored login(s)" in out


def test_hand_deleted_aeskey(ch: Env) -> None:
    """openEuler's only "rotation": rm aeskey. credhelper explains instead of base64 errors."""
    creds = seed(2)
    ch.key.unlink()
    server = sorted(creds)[0]
    proc = ch.helper("get", server)
    assert proc.returncode == 1
    assert proc.stdout == (NOT_FOUND_MESSAGE + "\n").encode()
    hint = proc.stderr.decode()
    assert hint.count("\n") == 1
    assert f"credentials for {server}" in hint and "no longer exists" in hint
    assert f"run: credhelper login {server}" in hint and "credhelper rotate" not in hint
    assert ch.helper("list").stdout == b"{}\n"
    assert set(states(ch).values()) == {"needs-relogin"}
    # The key of this store's own provider is gone: the fix the hint names, a new
    # login, works at once and starts a new key (the other login stays lost).
    ch.store_creds(server, "again", "pw2")
    assert ch.key.exists()
    assert_get_ok(ch, server, "again", "pw2")
    assert states(ch) == {server: "ok", sorted(creds)[1]: "needs-relogin"}


def test_hand_replaced_aeskey(ch: Env) -> None:
    creds = seed(2)
    ch.key.unlink()
    fd = os.open(ch.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    server = sorted(creds)[1]
    proc = ch.helper("get", server)
    assert proc.returncode == 1 and proc.stdout == (NOT_FOUND_MESSAGE + "\n").encode()
    hint = proc.stderr.decode()
    assert "no longer exists" in hint and f"then: credhelper login {server}" in hint
    # A forced rotation turns them into explicit "invalidated by key rotation" records.
    assert ch.cli("rotate", "--yes").returncode == 0
    assert_invalidated(ch, server)


def test_reencrypt_without_key_refuses(ch: Env) -> None:
    seed(2)
    ch.key.unlink()
    before = ch.store.read_bytes()
    proc = ch.cli("rotate", "--reencrypt", "--yes")
    assert proc.returncode != 0
    assert "cannot re-encrypt" in proc.stderr and proc.stderr.count("\n") == 1
    assert ch.store.read_bytes() == before
    assert not ch.key.exists()


def _env_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_env_provider_refuses_rotation(ch: Env) -> None:
    env = {**ch.env, "CREDHELPER_AESKEY": _env_key()}
    ch.env = env
    ch.store_creds("ci.example", "ci", "tok")
    before = ch.store.read_bytes()
    proc = ch.cli("rotate", "--yes")
    assert proc.returncode != 0
    assert "secret system" in proc.stderr and "--key-from-env" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert ch.store.read_bytes() == before
    assert not ch.key.exists()


@pytest.mark.parametrize("reencrypt", [True, False])
def test_env_fleet_rotation_key_from_env(ch: Env, reencrypt: bool) -> None:
    old, new = _env_key(), _env_key()
    base = dict(ch.env)
    ch.env = {**base, "CREDHELPER_AESKEY": old}
    ch.store_creds("ci.example", "ci", "tok")
    ch.store_creds("other.example", "bot", "tok2")
    # The secret system now hands out the new key; the old one is given once.
    ch.env = {**base, "CREDHELPER_AESKEY": new}
    assert ch.helper("get", "ci.example").returncode == 1  # sealed by the old key
    args = ["rotate", "--key-from-env", "--yes", "--json"]
    if reencrypt:
        args.append("--reencrypt")
        ch.env["CREDHELPER_OLD_AESKEY"] = old
    proc = ch.cli(*args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    ch.env = {**base, "CREDHELPER_AESKEY": new}
    if reencrypt:
        assert result["reencrypted"] == ["ci.example", "other.example"]
        assert_get_ok(ch, "ci.example", "ci", "tok")
    else:
        assert result["needsLogin"] == ["ci.example", "other.example"]
        assert_invalidated(ch, "ci.example")
    assert not ch.key.exists()  # nothing written for an env key


def test_key_from_env_reencrypt_needs_old_key(ch: Env) -> None:
    ch.env = {**ch.env, "CREDHELPER_AESKEY": _env_key()}
    ch.store_creds("ci.example", "ci", "tok")
    proc = ch.cli("rotate", "--key-from-env", "--reencrypt", "--yes")
    assert proc.returncode != 0 and "CREDHELPER_OLD_AESKEY" in proc.stderr


class Stop(Exception):
    pass


@pytest.mark.parametrize("mode", ["forced", "reencrypt"])
@pytest.mark.parametrize("step", ["pending-written", "store-written", "key-promoted"])
def test_every_intermediate_state_reads_right_and_is_finished(
    ch: Env, mode: str, step: str
) -> None:
    """Stop the rotation right after each durable step, as a crash would."""
    creds = seed(20)
    reencrypt = mode == "reencrypt"

    def stop_at(name: str) -> None:
        if name == step:
            raise Stop(name)

    with pytest.raises(Stop):
        rotate_mod.rotate(reencrypt=reencrypt, on_step=stop_at)

    # Readers (no lock, no recovery) already see a consistent state.
    forced_done = not reencrypt and step != "pending-written"
    for server in samples(creds):
        if forced_done:
            assert_invalidated(ch, server)
        else:
            assert_get_ok(ch, server, *creds[server])
    expected = "needs-relogin" if forced_done else "ok"
    assert set(states(ch).values()) == {expected}

    # The next writer finishes (or rolls back) the rotation.
    ch.store_creds("canary.example", "c", "pw")
    assert not (ch.home / "aeskey.pending").exists()
    doc = json.loads(ch.store.read_text())
    assert "keyRotation" not in doc
    assert states(ch) == {**dict.fromkeys(creds, expected), "canary.example": "ok"}
    assert_get_ok(ch, "canary.example", "c", "pw")
    if not forced_done:
        snap = Store().snapshot()
        for server, (user, secret) in creds.items():
            assert (snap.get(server).username, snap.get(server).secret) == (user, secret)


def test_no_secret_in_store_or_docker_config_after_rotation(ch: Env, tmp_path: Path) -> None:
    creds = seed(5)
    assert ch.cli("rotate", "--reencrypt", "--yes").returncode == 0
    for path in ch.home.iterdir():
        if path.is_file():
            text = path.read_bytes().decode("latin-1")
            no_secret_anywhere(text, creds)
            assert path.stat().st_mode & 0o077 == 0
