"""File safety: planted symlinks are never followed, foreign-owned or open directories and
files are refused, and umask 000 still gives 0700 directories and 0600 files.

The tests run as root, which ignores file modes, so ownership is tested by
chowning to another uid (nobody) and symlink safety by checking that the
symlink's target is never created, read into the store or changed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from credhelper import fsutil
from credhelper.errors import StoreError
from tests.conftest import CLI, HELPER, Env
from tests.stress.fsprobe import tree

SERVER = "registry.example:5000"
OTHER_UID = 65534  # nobody
REQUEST = json.dumps({"ServerURL": SERVER, "Username": "u", "Secret": "s3cret"}).encode()
NEW = json.dumps({"ServerURL": "new.example", "Username": "u", "Secret": "s"}).encode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _refused(proc: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    assert proc.returncode == 1, proc.stdout[:300]
    text = proc.stdout.decode()
    assert text.count("\n") == 1, text
    assert "Traceback" not in text + proc.stderr.decode()
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of 'another user' that a planted symlink points at."""
    path = tmp_path / "victim" / "file"
    path.parent.mkdir()
    path.write_bytes(b"precious\n")
    return path


def test_symlink_at_the_store_is_not_followed(ch: Env, victim: Path) -> None:
    ch.store_creds(SERVER, "u", "s")
    real = ch.store.read_bytes()
    victim.write_bytes(real)  # even a valid-looking store behind a link is refused
    ch.store.unlink()
    ch.store.symlink_to(victim)
    for action, data in (("get", SERVER.encode()), ("list", b""), ("store", NEW)):
        _refused(ch.helper(action, data), str(ch.store), "symbolic link")
    _refused(ch.helper("erase", SERVER.encode()), "symbolic link")
    assert victim.read_bytes() == real and ch.store.is_symlink()


def test_dangling_symlink_at_the_store_is_not_created_through(ch: Env, victim: Path) -> None:
    ch.home.mkdir(mode=0o700)
    target = victim.parent / "created-by-store"
    ch.store.symlink_to(target)
    _refused(ch.helper("store", REQUEST), "symbolic link")
    assert not target.exists()


def test_symlink_at_the_key_is_not_followed(ch: Env, victim: Path) -> None:
    ch.store_creds(SERVER, "u", "s")
    key = ch.key.read_bytes()
    victim.write_bytes(key)
    victim.chmod(0o600)
    ch.key.unlink()
    ch.key.symlink_to(victim)
    for action, data in (("get", SERVER.encode()), ("store", NEW)):
        _refused(ch.helper(action, data), str(ch.key), "symbolic link")
    assert victim.read_bytes() == key


def test_dangling_symlink_at_the_key_is_not_created_through(ch: Env, victim: Path) -> None:
    ch.home.mkdir(mode=0o700)
    target = victim.parent / "key-created-through-link"
    ch.key.symlink_to(target)
    _refused(ch.helper("store", REQUEST), "symbolic link")
    assert not target.exists(), "the first store wrote a key through a planted symlink"


def test_symlink_at_the_lock_is_not_followed(ch: Env, victim: Path) -> None:
    ch.store_creds(SERVER, "u", "s")
    lock = ch.home / "config.json.lock"
    lock.unlink()
    lock.symlink_to(victim)
    before = victim.read_bytes()
    _refused(ch.helper("store", NEW), str(lock), "symbolic link")
    _refused(ch.helper("erase", SERVER.encode()), "symbolic link")
    dangling = victim.parent / "lock-through-link"
    lock.unlink()
    lock.symlink_to(dangling)
    _refused(ch.helper("store", NEW), "symbolic link")
    assert victim.read_bytes() == before and not dangling.exists()


def test_directory_at_the_lock_fails_cleanly(ch: Env) -> None:
    ch.store_creds(SERVER, "u", "s")
    lock = ch.home / "config.json.lock"
    lock.unlink()
    lock.mkdir()
    proc = subprocess.run(
        [HELPER, "store"], input=NEW, capture_output=True,
        env={**ch.env, "CREDHELPER_LOCK_TIMEOUT": "2"}, timeout=60,
    )  # fmt: skip
    _refused(proc, str(lock))


def test_planted_temp_file_symlinks_are_removed_not_followed(ch: Env, victim: Path) -> None:
    """A leftover-looking temp name that is a symlink: the stale-temp sweep unlinks the
    link itself; the target survives."""
    ch.store_creds(SERVER, "u", "s")
    planted = ch.home / f".config.json{fsutil.TEMP_MARK}1-deadbeef"
    planted.symlink_to(victim)
    ch.store_creds("new.example", "u", "s")
    assert not planted.is_symlink() and victim.read_bytes() == b"precious\n"


def test_temp_file_creation_refuses_a_planted_symlink(
    ch: Env, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file is created O_EXCL|O_NOFOLLOW: a symlink at its name (were it ever
    guessed) makes the write fail; nothing is written through it."""
    ch.home.mkdir(mode=0o700)
    planted = ch.home / ".config.json.tmp-guessed"
    planted.symlink_to(victim)
    monkeypatch.setattr(fsutil, "_temp_path", lambda path: str(planted))
    with pytest.raises(StoreError) as err:
        fsutil.atomic_write(str(ch.store), b"{}", what="store")
    assert "cannot write store" in str(err.value)
    assert victim.read_bytes() == b"precious\n"
    assert not ch.store.exists()


def test_symlink_at_the_pending_rotation_key_is_not_followed(ch: Env, victim: Path) -> None:
    ch.store_creds(SERVER, "u", "s")
    pending = ch.home / "aeskey.pending"
    pending.symlink_to(victim)
    before = tree(ch.home)
    proc = subprocess.run(
        [CLI, "rotate", "--reencrypt", "--yes"], capture_output=True, text=True, env=ch.env,
        timeout=60,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr
    assert victim.read_bytes() == b"precious\n"
    if proc.returncode != 0:
        assert tree(ch.home) == before, "a refused rotation changed the store"
    else:
        got = ch.helper("get", SERVER)
        assert json.loads(got.stdout)["Secret"] == "s"


def test_symlinked_store_directory_is_refused(ch: Env, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    ch.home.symlink_to(real)
    _refused(ch.helper("store", REQUEST), str(ch.home), "symbolic link")
    assert list(real.iterdir()) == []


def test_store_directory_owned_by_someone_else_is_refused(ch: Env) -> None:
    ch.store_creds(SERVER, "u", "s")
    os.chown(ch.home, OTHER_UID, -1)
    before = tree(ch.home)
    _refused(ch.helper("store", NEW), str(ch.home), f"uid {OTHER_UID}")
    _refused(ch.helper("erase", SERVER.encode()), f"uid {OTHER_UID}")
    assert tree(ch.home) == before


def test_store_and_key_owned_by_someone_else_are_refused(ch: Env) -> None:
    ch.store_creds(SERVER, "u", "s")
    os.chown(ch.store, OTHER_UID, -1)
    for action, data in (("get", SERVER.encode()), ("list", b""), ("store", NEW)):
        _refused(ch.helper(action, data), str(ch.store), f"uid {OTHER_UID}")
    os.chown(ch.store, os.geteuid(), -1)
    os.chown(ch.key, OTHER_UID, -1)
    for action, data in (("get", SERVER.encode()), ("store", NEW)):
        _refused(ch.helper(action, data), str(ch.key), f"uid {OTHER_UID}")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_readable_by_others_is_refused_with_the_fix(ch: Env, mode: int) -> None:
    ch.store_creds(SERVER, "u", "s")
    ch.key.chmod(mode)
    _refused(ch.helper("get", SERVER.encode()), str(ch.key), f"chmod 600 {ch.key}")


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o770, 0o701])
def test_open_store_directory_is_refused_for_writes(ch: Env, mode: int) -> None:
    ch.store_creds(SERVER, "u", "s")
    ch.home.chmod(mode)
    before = tree(ch.home)
    _refused(ch.helper("store", NEW), str(ch.home), "chmod 700")
    assert tree(ch.home) == before


def _umask_000() -> None:
    os.umask(0)


def test_umask_000_still_gives_private_modes(ch: Env) -> None:
    deep = ch.root / "a" / "b" / "store"
    env = {**ch.env, "CREDHELPER_HOME": str(deep)}
    proc = subprocess.run(
        [HELPER, "store"], input=REQUEST, capture_output=True, env=env, timeout=60,
        preexec_fn=_umask_000,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    for directory in (ch.root / "a", ch.root / "a" / "b", deep):
        assert _mode(directory) == 0o700, f"{directory.name}: {oct(_mode(directory))}"
    for name in ("config.json", "aeskey", "config.json.lock"):
        assert _mode(deep / name) == 0o600, f"{name}: {oct(_mode(deep / name))}"
    # A rewrite, a rotation and a login under umask 000 keep the modes.
    for argv, data in (
        ([HELPER, "store"], NEW),
        ([CLI, "rotate", "--yes"], b""),
        ([CLI, "login", "x.example", "-u", "u", "--password-stdin", "--no-verify"], b"pw\n"),
        ([CLI, "install"], b""),
    ):
        proc = subprocess.run(
            argv, input=data, capture_output=True, env=env, timeout=60, preexec_fn=_umask_000
        )
        assert proc.returncode == 0, (argv[1:], proc.stdout[:300], proc.stderr[:300])
    for path in sorted(deep.iterdir()):
        assert _mode(path) == 0o600, f"{path.name}: {oct(_mode(path))}"
    for path in sorted(ch.docker_config.iterdir()):
        if path.is_file():
            assert _mode(path) & 0o077 == 0, f"docker {path.name}: {oct(_mode(path))}"
