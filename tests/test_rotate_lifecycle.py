"""The key's lifecycle (#10 items 4 and 9, #11): age, --if-older-than, kept usernames,
lost-key entries under --reencrypt, old-key copies after a forced rotation, and a
rotation killed between the store write and the key promotion.

Real executables; time moved with faketime; concurrency with real processes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from credhelper import crypto
from tests.conftest import CLI, Env, require_tool
from tests.test_expiry import run_faked, wrapper_refused
from tests.test_rotate_crash import stopped_at_first_step

FINDINGS = 10


def faked(
    ch: Env, offset: str | None, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`credhelper ARGS` with the clock moved by `offset` (None: not moved); output as
    text. faketime runs through tests/test_expiry.py run_faked (its refusal to start)."""
    if offset is None:
        argv = [CLI, *args]
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=ch.env, timeout=120, check=False
        )
    proc = run_faked(offset, [CLI, *args], ch.env, stdin.encode(), timeout=120)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, _text(proc.stdout), _text(proc.stderr)
    )


def _text(raw: bytes) -> str:
    """As subprocess's text mode decodes (the locale's encoding, universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(raw)).read()


def one_json_line(text: str) -> dict[str, Any]:
    assert text.endswith("\n") and text.count("\n") == 1, text
    out: dict[str, Any] = json.loads(text)
    return out


def seed(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "SECRET-A-1")
    ch.store_creds("b.example", "bob", "SECRET-B-2")


def entries(ch: Env) -> dict[str, dict[str, Any]]:
    return {e["server"]: e for e in json.loads(faked(ch, None, "list", "--json").stdout)}


# ------------------------------------------------------------------ key age


def test_list_shows_when_the_key_was_made(ch: Env) -> None:
    seed(ch)
    listed = entries(ch)
    created = listed["a.example"]["keyCreated"]
    assert created and created == listed["b.example"]["keyCreated"]
    human = faked(ch, None, "list").stdout
    assert f"Key created: {created}" in human


def test_a_v1_store_has_no_known_key_age(tmp_path: Path, ch: Env) -> None:
    import shutil

    fixture = Path(__file__).parent / "data" / "v1"
    shutil.copytree(fixture, ch.home, dirs_exist_ok=True)
    for p in ch.home.iterdir():
        p.chmod(0o600)
    ch.home.chmod(0o700)
    assert {e["keyCreated"] for e in entries(ch).values()} == {None}
    assert "Key created: unknown" in faked(ch, None, "list").stdout


# ------------------------------------------------------------------ --if-older-than


def test_if_older_than_rotates_only_an_older_key(ch: Env) -> None:
    seed(ch)
    key = ch.key.read_bytes()
    store = ch.store.read_bytes()
    young = faked(ch, "+29 days", "rotate", "--if-older-than", "30d", "--yes", "--json")
    assert young.returncode == 0
    result = one_json_line(young.stdout)
    assert result["rotated"] is False and result["keyProvider"] == "file"
    assert ch.key.read_bytes() == key and ch.store.read_bytes() == store
    human = faked(ch, "+29 days", "rotate", "--if-older-than", "30d", "--yes")
    assert (
        human.returncode == 0
        and "Not rotated" in human.stdout
        and "nothing changed" in human.stdout
    )
    old = faked(
        ch, "+31 days", "rotate", "--if-older-than", "30d", "--yes", "--json", "--reencrypt"
    )
    assert old.returncode == 0
    result = one_json_line(old.stdout)
    assert result["rotated"] is True and result["reencrypted"] == ["a.example", "b.example"]
    assert ch.key.read_bytes() != key
    # The new key's age starts at the (faked) rotation time: the next run does nothing.
    again = faked(ch, "+32 days", "rotate", "--if-older-than", "30d", "--yes", "--json")
    assert one_json_line(again.stdout)["rotated"] is False


def test_concurrent_if_older_than_runs_rotate_once(ch: Env) -> None:
    seed(ch)
    faketime = require_tool("faketime")
    argv = [
        faketime,
        "+2 hours",
        CLI,
        "rotate",
        "--if-older-than",
        "1h",
        "--yes",
        "--json",
        "--reencrypt",
    ]
    procs = [
        subprocess.Popen(argv, env=ch.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if wrapper_refused(done):  # this one never ran (see run_faked): run it now
            done = run_faked("+2 hours", argv[2:], ch.env, timeout=120)
        assert done.returncode == 0, done.stderr
        results.append(one_json_line(done.stdout.decode()))
    assert sorted(r["rotated"] for r in results) == [False, False, False, True]
    [winner] = [r for r in results if r["rotated"]]
    assert {r["oldKeyId"] for r in results if not r["rotated"]} == {winner["newKeyId"]}
    got = ch.helper("get", b"a.example")
    assert json.loads(got.stdout)["Secret"] == "SECRET-A-1"


@pytest.mark.parametrize("value", ["90", "1y", "-1d", "0d", "1.5h", ""])
def test_bad_durations_are_usage_errors(ch: Env, value: str) -> None:
    seed(ch)
    store = ch.store.read_bytes()
    proc = faked(ch, None, "rotate", "--if-older-than", value, "--yes")
    assert proc.returncode == 2 and "invalid duration" in proc.stderr
    assert ch.store.read_bytes() == store


def test_env_provider_refuses_if_older_than(ch: Env) -> None:
    ch.env = {**ch.env, "CREDHELPER_AESKEY": base64.b64encode(os.urandom(32)).decode()}
    seed(ch)
    store = ch.store.read_bytes()
    proc = faked(ch, None, "rotate", "--if-older-than", "1d", "--yes")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "secret system" in proc.stderr
    assert ch.store.read_bytes() == store


# ------------------------------------------------------------------ usernames kept


def test_forced_rotation_keeps_usernames_and_names_every_registry(ch: Env) -> None:
    seed(ch)
    ch.store_creds("https://index.docker.io/v1/", "hubuser", "SECRET-H")
    proc = faked(ch, None, "rotate", "--yes", "--json")
    result = one_json_line(proc.stdout)
    assert result["needsLogin"] == ["a.example", "b.example", "https://index.docker.io/v1/"]
    listed = entries(ch)
    assert {s: (e["state"], e["username"]) for s, e in listed.items()} == {
        "a.example": ("needs-relogin", "alice"),
        "b.example": ("needs-relogin", "bob"),
        "https://index.docker.io/v1/": ("needs-relogin", "hubuser"),
    }
    raw = ch.store.read_bytes()
    assert b"alice" not in raw and b"hubuser" not in raw  # sealed, not plaintext
    # A second forced rotation keeps them too (re-sealed under the next key).
    human = faked(ch, None, "rotate", "--yes")
    for line in (
        "credhelper login a.example",
        "credhelper login b.example",
        "  credhelper login\n",
    ):
        assert line in human.stdout
    assert entries(ch)["b.example"]["username"] == "bob"
    # `credhelper login SERVER` defaults -u to the remembered username.
    login = faked(
        ch, None, "login", "a.example", "--password-stdin", "--no-verify", stdin="NEWPW\n"
    )
    assert login.returncode == 0, login.stderr
    assert json.loads(ch.helper("get", b"a.example").stdout)["Username"] == "alice"


# ------------------------------------------------------------------ old-key copies


def _opens(sealer: crypto.Sealer, server: str, entry: dict[str, Any]) -> bool:
    try:
        sealer.unseal(server, entry["sealed"])
        return True
    except crypto.SealError:
        pass
    try:
        sealer.unseal_entry(server, entry["sealed"], entry.get("expires", ""))
        return True
    except crypto.SealError:
        return False


def _openable_with(key: bytes, directory: Path) -> list[str]:
    """Every sealed entry in any file of `directory` that `key` opens (v1 or v2)."""
    sealer = crypto.Sealer(key)
    found = []
    for path in directory.iterdir():
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError, IsADirectoryError):
            continue
        auths = doc.get("auths") if isinstance(doc, dict) else None
        for server, entry in (auths or {}).items():
            sealed = isinstance(entry, dict) and isinstance(entry.get("sealed"), str)
            if sealed and _opens(sealer, server, entry):
                found.append(f"{path.name}:{server}")
    return found


def test_forced_rotation_removes_every_backup_the_old_key_opens(ch: Env) -> None:
    seed(ch)
    ch.store_creds("c.example", "carol", "SECRET-C")
    doc = json.loads(ch.store.read_bytes())
    blob = bytearray(base64.b64decode(doc["auths"]["c.example"]["sealed"]))
    blob[-1] ^= 1
    doc["auths"]["c.example"]["sealed"] = base64.b64encode(bytes(blob)).decode()
    ch.store.write_text(json.dumps(doc))
    fixed = faked(ch, None, "doctor", "--fix", "--json")
    assert fixed.returncode in (0, FINDINGS), fixed.stderr
    backups = sorted(p.name for p in ch.home.iterdir() if ".bak-" in p.name)
    assert backups, "doctor --fix wrote no backup of the store"
    old_key = ch.key.read_bytes()
    assert _openable_with(old_key, ch.home)
    proc = faked(ch, None, "rotate", "--yes", "--json")
    result = one_json_line(proc.stdout)
    assert sorted(Path(p).name for p in result["removedBackups"]) == backups
    assert _openable_with(old_key, ch.home) == []
    assert not [p for p in ch.home.iterdir() if ".bak-" in p.name]
    # Nothing to remove the next time; the human output says what it removed.
    assert (
        one_json_line(faked(ch, None, "rotate", "--yes", "--json").stdout)["removedBackups"] == []
    )


def test_human_rotate_says_what_it_removed(ch: Env) -> None:
    seed(ch)
    backup = ch.home / "config.json.bak-20260101T000000Z"
    backup.write_bytes(ch.store.read_bytes())
    out = faked(ch, None, "rotate", "--yes").stdout
    assert f"Removed {backup}" in out and not backup.exists()


# ------------------------------------------------------------------ lost-key entries


def test_reencrypt_keeps_lost_key_entries_exactly_and_reports_them(ch: Env) -> None:
    seed(ch)
    original = json.loads(ch.store.read_bytes())["auths"]
    saved_key = ch.key.read_bytes()
    ch.key.unlink()
    fd = os.open(ch.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))  # e.g. a key file restored from the wrong machine
    os.close(fd)
    proc = faked(ch, None, "rotate", "--reencrypt", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    result = one_json_line(proc.stdout)
    assert result["keptLostKey"] == ["a.example", "b.example"] and result["needsLogin"] == []
    assert json.loads(ch.store.read_bytes())["auths"] == original  # untouched, byte for byte
    human = faked(ch, None, "rotate", "--reencrypt", "--yes").stdout
    assert "Kept 2 login(s) exactly as they were" in human
    # The entries still open with the key that sealed them.
    sealer = crypto.Sealer(saved_key)
    for server, entry in original.items():
        assert sealer.unseal_entry(server, entry["sealed"])[1].startswith("SECRET-")


# ------------------------------------------------------------------ killed between steps


def test_rotation_killed_after_the_store_write_is_named_and_finished_by_doctor(ch: Env) -> None:
    seed(ch)
    old_key = ch.key.read_bytes()
    fifo = ch.root / "trace.fifo"
    os.mkfifo(fifo, 0o600)
    env = {**ch.env, "CREDHELPER_ROTATE_TRACE": str(fifo)}
    # Each step opens the FIFO to report itself and blocks until we read: after
    # "pending-written" the store is rewritten, then the rotation blocks again
    # before promoting the key. Kill it there.
    proc = stopped_at_first_step([CLI, "rotate", "--reencrypt", "--yes"], env, fifo, ch.home)
    try:
        deadline = time.monotonic() + 30
        while b"keyRotation" not in ch.store.read_bytes():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert ch.key.read_bytes() == old_key and (ch.home / "aeskey.pending").exists()
    assert {e["state"] for e in entries(ch).values()} == {"ok"}
    out = json.loads(faked(ch, None, "doctor", "--json").stdout)
    found = {f["id"]: f for f in out["findings"]}
    assert "key.mismatch" not in found
    assert (
        "store.rotation-unfinished" in found
        and "restore" not in found["store.rotation-unfinished"]["fix"]
    )
    fixed = faked(ch, None, "doctor", "--fix", "--json")
    assert fixed.returncode in (0, FINDINGS), fixed.stderr
    assert not (ch.home / "aeskey.pending").exists() and ch.key.read_bytes() != old_key
    assert "keyRotation" not in json.loads(ch.store.read_bytes())
    after = json.loads(faked(ch, None, "doctor", "--json").stdout)
    assert not {f["id"] for f in after["findings"]} & {"store.rotation-unfinished", "key.mismatch"}
    assert json.loads(ch.helper("get", b"b.example").stdout)["Secret"] == "SECRET-B-2"


def test_if_older_than_works_with_the_keyring_provider(ch: Env, tmp_path: Path) -> None:
    from tests.keyring_session import secret_service

    require_tool("secret-tool")
    with secret_service(tmp_path / "ss") as extra:
        ch.env = {**ch.env, **extra}
        assert faked(ch, None, "install", "--key-provider", "keyring").returncode == 0
        seed(ch)
        assert not ch.key.exists()
        young = faked(ch, "+1 hour", "rotate", "--if-older-than", "2h", "--yes", "--json")
        assert young.returncode == 0, young.stderr
        assert one_json_line(young.stdout)["rotated"] is False
        old = faked(
            ch, "+3 hours", "rotate", "--if-older-than", "2h", "--yes", "--json", "--reencrypt"
        )
        assert old.returncode == 0, old.stderr
        result = one_json_line(old.stdout)
        assert result["rotated"] is True and result["keyProvider"] == "keyring"
        assert json.loads(ch.helper("get", b"a.example").stdout)["Secret"] == "SECRET-A-1"
        assert not ch.key.exists()


def _seed_two(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "SECRET-A-123")
    ch.store_creds("b.example", "bob", "SECRET-B-456")


class Stop(Exception):
    pass


@pytest.mark.parametrize("step", ["store-written", "key-promoted"])
def test_forced_rotation_killed_and_finished_still_removes_old_key_backups(
    ch: Env, step: str
) -> None:
    """A forced rotation killed after its store write is finished by `doctor --fix`
    or the next writer; the backups the old (maybe leaked) key opens must go then
    too (store-dir backups and sealed Docker-config backups), as after an
    uninterrupted forced rotation: one purge serves both paths."""
    from credhelper import backups
    from credhelper import rotate as rotate_mod

    _seed_two(ch)
    backup = ch.home / "config.json.bak-20260101T000000Z"
    fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ch.store.read_bytes())
    os.close(fd)
    old_key = ch.key.read_bytes()
    # A sealed backup of Docker's config under the old key (an old stamp: doctor --fix
    # may write backups of its own this second).
    sealed = ch.docker_config / "config.json.bak-20260101T000000Z"
    sealed.write_bytes(backups.seal(b'{"auths":{}}', "config.json", crypto.Sealer(old_key)))

    def stop_at(name: str) -> None:
        if name == step:
            raise Stop(name)

    with pytest.raises(Stop):
        rotate_mod.rotate(reencrypt=False, on_step=stop_at)
    assert backup.exists() and sealed.exists()  # killed before its purge
    fixed = ch.cli("doctor", "--fix")
    ch.store_creds("c.example", "carol", "SECRET-C")
    assert ch.key.read_bytes() != old_key
    assert "keyRotation" not in json.loads(ch.store.read_bytes())
    assert not backup.exists(), (
        "a backup sealed by the rotated-out key survived the forced rotation: "
        + fixed.stdout[-400:]
    )
    assert not sealed.exists(), "a sealed Docker-config backup of the old key survived"


def test_reencrypting_rotation_killed_and_finished_keeps_backups(ch: Env) -> None:
    """Only a forced rotation purges: a killed --reencrypt one, finished, keeps them."""
    from credhelper import rotate as rotate_mod

    _seed_two(ch)
    backup = ch.home / "config.json.bak-20260101T000000Z"
    backup.write_bytes(ch.store.read_bytes())

    def stop_at(name: str) -> None:
        if name == "store-written":
            raise Stop(name)

    with pytest.raises(Stop):
        rotate_mod.rotate(reencrypt=True, on_step=stop_at)
    ch.store_creds("c.example", "carol", "SECRET-C")
    assert backup.exists()
    assert b"SECRET-A-123" in ch.helper("get", b"a.example").stdout


def _plant_forged_rotation(ch: Env, mode: str) -> bytes:
    planted = os.urandom(32)
    fd = os.open(ch.home / "aeskey.pending", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, planted)
    os.close(fd)
    doc = json.loads(ch.store.read_bytes())
    doc["keyRotation"] = {"newKeyId": crypto.key_id(planted), "mode": mode}
    ch.store.write_bytes(json.dumps(doc).encode())
    return planted


@pytest.mark.parametrize("writer", ["store", "erase"])
def test_forged_rotation_mark_with_a_planted_pending_key_never_replaces_the_key(
    ch: Env, writer: str
) -> None:
    """A forged (unauthenticated) `keyRotation` mark naming a planted `aeskey.pending`:
    the next writer must not promote it over the real key (every login would be lost);
    the store's header, which a genuine rotation seals with the new key, does not
    vouch for it, so it is discarded and the mark dropped."""
    _seed_two(ch)
    real_key = ch.key.read_bytes()
    _plant_forged_rotation(ch, "forced")
    backup = ch.home / "config.json.bak-20260101T000000Z"
    backup.write_bytes(ch.store.read_bytes())
    if writer == "store":
        ch.helper("store", b'{"ServerURL":"c.example","Username":"c","Secret":"S"}')
    else:
        ch.helper("erase", b"b.example")
    assert ch.key.read_bytes() == real_key, "the real key was replaced by a planted one"
    assert not (ch.home / "aeskey.pending").exists()
    assert "keyRotation" not in json.loads(ch.store.read_bytes())
    assert backup.exists()  # a forged "forced" mark purges nothing
    got = ch.helper("get", b"a.example")
    assert b"SECRET-A-123" in got.stdout


def test_doctor_does_not_call_a_forged_rotation_mark_finishable(ch: Env) -> None:
    """With a planted pending key and a forged mark, `doctor` reports the mark as
    forged (not store.rotation-unfinished, "every login is usable"), and
    `doctor --fix` drops it and keeps the real key: every login stays usable."""
    _seed_two(ch)
    real_key = ch.key.read_bytes()
    _plant_forged_rotation(ch, "reencrypt")
    proc = ch.cli("doctor", "--json")
    ids = {f["id"] for f in json.loads(proc.stdout)["findings"]}
    assert "store.rotation-unfinished" not in ids
    assert "store.rotation-forged" in ids
    text = ch.cli("doctor")
    assert "every login is usable" not in text.stdout
    fixed = ch.cli("doctor", "--fix")
    assert "dropped the unverifiable key-rotation mark" in fixed.stdout, fixed.stdout
    assert ch.key.read_bytes() == real_key
    got = ch.helper("get", b"a.example")
    assert b"SECRET-A-123" in got.stdout, (got.stdout, got.stderr)
    after = json.loads(ch.cli("doctor", "--json").stdout)
    assert "store.rotation-forged" not in {f["id"] for f in after["findings"]}
