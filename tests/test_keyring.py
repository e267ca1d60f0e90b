"""The `keyring` key provider against a real Secret Service (gnome-keyring-daemon on a
private D-Bus session bus, see tests/keyring_session.py): choosing it moves the key,
rotation works with it, the hot path never runs keyring's backend detection, and a
locked or missing keyring is one clear line with no plaintext fallback."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from credhelper.crypto import key_id
from credhelper.errors import NOT_FOUND_MESSAGE
from tests.conftest import CLI, HELPER, Env, require_tool
from tests.keyring_session import secret_service

pytestmark = pytest.mark.e2e
BACKEND = "keyring.backends.SecretService.Keyring"


@pytest.fixture
def kr(ch: Env, tmp_path: Path) -> Iterator[Env]:
    """`ch` with a running, unlocked Secret Service in its environment."""
    require_tool("secret-tool")
    with secret_service(tmp_path / "ss") as extra:
        ch.env = {**ch.env, **extra}
        yield ch


def configure(ch: Env, name: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        "from credhelper.errors import CredhelperError\n"
        "from credhelper.keys.setup import configure_provider\n"
        "try:\n"
        f"    configure_provider({name!r})\n"
        "except CredhelperError as err:\n"
        "    print(err, file=sys.stderr); sys.exit(1)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=ch.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def keyring_item(ch: Env, pending: bool = False) -> bytes | None:
    account = f"aeskey{'.pending' if pending else ''}:{os.path.abspath(ch.home)}"
    proc = subprocess.run(
        ["secret-tool", "lookup", "service", "credhelper", "username", account],
        env=ch.env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        return None
    return base64.b64decode(proc.stdout)


def get(ch: Env, server: str) -> subprocess.CompletedProcess[bytes]:
    return ch.helper("get", server)


def assert_creds(ch: Env, server: str, user: str, secret: str) -> None:
    proc = get(ch, server)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert json.loads(proc.stdout) == {"ServerURL": server, "Username": user, "Secret": secret}


def test_choosing_keyring_moves_the_key_and_keeps_logins(kr: Env) -> None:
    kr.store_creds("a.example", "alice", "pw-a")
    kr.store_creds("b.example", "bob", "pw-b")
    file_key = kr.key.read_bytes()

    proc = configure(kr, "keyring")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(kr.store.read_text())
    assert doc["keyProvider"] == {"name": "keyring", "backend": BACKEND}
    assert not kr.key.exists()  # moved, not copied: no key file left behind
    assert keyring_item(kr) == file_key
    assert_creds(kr, "a.example", "alice", "pw-a")
    kr.store_creds("c.example", "carol", "pw-c")
    assert_creds(kr, "c.example", "carol", "pw-c")
    assert not kr.key.exists()
    assert configure(kr, "keyring").returncode == 0  # idempotent
    assert keyring_item(kr) == file_key

    # And back to a file: same key, logins still readable, keyring item gone.
    assert configure(kr, "file").returncode == 0
    assert kr.key.read_bytes() == file_key
    assert (kr.key.stat().st_mode & 0o777) == 0o600
    assert keyring_item(kr) is None
    assert_creds(kr, "b.example", "bob", "pw-b")


def test_fresh_store_with_keyring_creates_key_there(kr: Env) -> None:
    assert configure(kr, "keyring").returncode == 0
    key = keyring_item(kr)
    assert key is not None and len(key) == 32
    kr.store_creds("a.example", "alice", "pw")
    assert_creds(kr, "a.example", "alice", "pw")
    assert not kr.key.exists()
    doc = json.loads(kr.store.read_text())
    assert doc["auths"]["a.example"]["keyId"] == key_id(key)


@pytest.mark.parametrize("reencrypt", [True, False])
def test_rotation_with_keyring(kr: Env, reencrypt: bool) -> None:
    assert configure(kr, "keyring").returncode == 0
    kr.store_creds("a.example", "alice", "pw")
    before = keyring_item(kr)
    args = ["rotate", "--yes", "--json", *(["--reencrypt"] if reencrypt else [])]
    proc = kr.cli(*args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    after = keyring_item(kr)
    assert after is not None and after != before
    assert key_id(after) == result["newKeyId"]
    assert keyring_item(kr, pending=True) is None
    assert not kr.key.exists()
    if reencrypt:
        assert_creds(kr, "a.example", "alice", "pw")
    else:
        proc2 = get(kr, "a.example")
        assert proc2.returncode == 1 and proc2.stdout == (NOT_FOUND_MESSAGE + "\n").encode()
        assert b"invalidated by key rotation" in proc2.stderr


def test_hot_path_imports_recorded_backend_without_detection(kr: Env) -> None:
    assert configure(kr, "keyring").returncode == 0
    kr.store_creds("a.example", "alice", "pw")
    # A keyring property makes the provider use the keyring library (the plain
    # case reads the Secret Service directly: tests/test_secretservice.py).
    kr.env = {**kr.env, "KEYRING_PROPERTY_SCHEME": "default"}
    for action, stdin in (("get", b"a.example"), ("list", b"")):
        # The executable itself (a Python script), under -X importtime: a
        # PYTHONPROFILEIMPORTTIME variable would make it re-exec isolated.
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", HELPER, action],
            input=stdin,
            env=kr.env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout
        modules = {
            line.rsplit("|", 1)[-1].strip()
            for line in proc.stderr.decode().splitlines()
            if line.startswith("import time:")
        }
        assert "keyring.backends.SecretService" in modules  # the recorded class, directly
        # Detection (keyring.core.init_backend) imports every backend via entry
        # points and probes them; none of those may appear.
        for detected in (
            "keyring.backends.kwallet",
            "keyring.backends.chainer",
            "keyring.backends.macOS",
            "keyring.backends.Windows",
            "keyring.backends.libsecret",
        ):
            assert detected not in modules, f"{action} ran keyring backend detection"
        for banned in ("click", "filelock", "requests"):
            assert banned not in modules, f"{action} imported {banned}"

    # The same code in-process: keyring's detected-backend slot stays empty.
    probe = (
        "import sys, io\n"
        "sys.argv = ['docker-credential-credhelper', 'get']\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b'a.example'))\n"
        "from credhelper.protocol import main\n"
        "rc = main()\n"
        "import keyring.core\n"
        "assert rc == 0, rc\n"
        "assert keyring.core._keyring_backend is None, 'backend detection ran'\n"
        "assert 'keyring.backends.SecretService' in sys.modules\n"
        "assert 'keyring.backends.kwallet' not in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=kr.env, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_locked_keyring_is_one_clear_line(kr: Env) -> None:
    assert configure(kr, "keyring").returncode == 0
    kr.store_creds("a.example", "alice", "pw")
    before = kr.store.read_bytes()
    lock = (
        "import secretstorage\n"
        "c = secretstorage.dbus_init()\n"
        "secretstorage.get_default_collection(c).lock()\n"
    )
    subprocess.run([sys.executable, "-c", lock], env=kr.env, check=True, timeout=30)
    for action, stdin in (
        ("get", b"a.example"),
        ("store", b'{"ServerURL":"b.example","Username":"u","Secret":"s"}'),
    ):
        proc = kr.helper(action, stdin)
        assert proc.returncode == 1
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == 1, proc.stdout
        assert "keyring" in lines[0] and "locked" in lines[0] and "unlock" in lines[0]
        assert b"Traceback" not in proc.stdout + proc.stderr
    assert kr.store.read_bytes() == before
    assert not kr.key.exists()  # never a plaintext fallback


def test_unavailable_keyring_is_one_clear_line(kr: Env, tmp_path: Path) -> None:
    assert configure(kr, "keyring").returncode == 0
    kr.store_creds("a.example", "alice", "pw")
    before = kr.store.read_bytes()
    env = {**kr.env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus"}
    for action, stdin in (
        ("get", b"a.example"),
        ("store", b'{"ServerURL":"b.example","Username":"u","Secret":"s"}'),
        ("list", b""),
    ):
        proc = subprocess.run(
            [HELPER, action], input=stdin, env=env, capture_output=True, timeout=60, check=False
        )
        assert proc.returncode == 1
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == 1, proc.stdout
        assert "keyring" in lines[0] and "unavailable" in lines[0]
        assert "install --key-provider file" in lines[0]
        assert b"Traceback" not in proc.stdout + proc.stderr
    assert kr.store.read_bytes() == before
    assert not kr.key.exists()
    rotate = subprocess.run(
        [HELPER.replace("docker-credential-credhelper", "credhelper"), "rotate", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotate.returncode != 0 and "unavailable" in rotate.stderr
    assert kr.store.read_bytes() == before


def test_switching_to_env_reseals_under_the_env_key(kr: Env) -> None:
    kr.store_creds("a.example", "alice", "pw")
    env_key = os.urandom(32)
    kr.env = {**kr.env, "CREDHELPER_AESKEY": base64.b64encode(env_key).decode()}
    proc = configure(kr, "env")
    assert proc.returncode == 0, proc.stderr
    assert not kr.key.exists()
    doc = json.loads(kr.store.read_text())
    assert doc["keyProvider"] == {"name": "env"}
    assert doc["auths"]["a.example"]["keyId"] == key_id(env_key)
    assert_creds(kr, "a.example", "alice", "pw")


def test_switching_to_env_without_key_refuses(kr: Env) -> None:
    kr.store_creds("a.example", "alice", "pw")
    before = kr.store.read_bytes()
    proc = configure(kr, "env")
    assert proc.returncode == 1
    assert "CREDHELPER_AESKEY" in proc.stderr and proc.stderr.count("\n") == 1
    assert kr.store.read_bytes() == before
    assert kr.key.exists()


def test_no_secret_service_refuses_keyring_choice(ch: Env, tmp_path: Path) -> None:
    ch.store_creds("a.example", "alice", "pw")
    key = ch.key.read_bytes()
    ch.env = {
        **{k: v for k, v in ch.env.items() if not k.startswith("DBUS_")},
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus",
    }
    proc = configure(ch, "keyring")
    assert proc.returncode == 1
    assert "no usable OS keyring" in proc.stderr and proc.stderr.count("\n") == 1
    assert "keyProvider" not in json.loads(ch.store.read_text())
    assert ch.key.read_bytes() == key  # nothing moved, nothing lost
    assert_creds(ch, "a.example", "alice", "pw")


def _plant_key_file(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, key)
    os.close(fd)


def test_key_file_left_by_a_killed_switch_is_removed_by_the_next_writer(kr: Env) -> None:
    """`install --key-provider keyring` killed after the store names the keyring, before
    the plaintext key file is removed: that state, then one ordinary writer removes the
    copy (and a pending copy), because the keyring's key opens the store's header."""
    kr.store_creds("a.example", "alice", "pw-a")
    file_key = kr.key.read_bytes()
    assert configure(kr, "keyring").returncode == 0
    _plant_key_file(kr.key, file_key)  # what the kill leaves
    _plant_key_file(kr.home / "aeskey.pending", file_key)
    assert_creds(kr, "a.example", "alice", "pw-a")
    kr.store_creds("b.example", "bob", "pw-b")
    assert not kr.key.exists() and not (kr.home / "aeskey.pending").exists()
    assert keyring_item(kr) == file_key
    assert_creds(kr, "a.example", "alice", "pw-a")
    assert_creds(kr, "b.example", "bob", "pw-b")


def test_key_file_is_kept_unless_it_copies_the_key_that_opens_the_store(kr: Env) -> None:
    """Never the only key that opens the logins: with the keyring item gone, the file
    copy stays (the next login starts a new keyring key); another key's file stays."""
    kr.store_creds("a.example", "alice", "pw-a")
    file_key = kr.key.read_bytes()
    assert configure(kr, "keyring").returncode == 0
    _plant_key_file(kr.key, os.urandom(32))
    kr.store_creds("b.example", "bob", "pw-b")
    assert kr.key.exists(), "a key file that is not the store's key was removed"
    kr.key.unlink()
    _plant_key_file(kr.key, file_key)
    account = f"aeskey:{os.path.abspath(kr.home)}"
    cleared = subprocess.run(
        ["secret-tool", "clear", "service", "credhelper", "username", account],
        env=kr.env,
        timeout=30,
        check=False,
    )
    assert cleared.returncode == 0 and keyring_item(kr) is None
    for server in ("c.example", "d.example"):
        kr.store_creds(server, "carol", "pw-c")
    assert kr.key.read_bytes() == file_key


def test_install_again_keeps_the_keyring(kr: Env) -> None:
    """A plain `credhelper install` on a keyring store never moves the key to a file."""
    kr.store_creds("a.example", "alice", "pw-a")
    assert configure(kr, "keyring").returncode == 0
    key = keyring_item(kr)
    proc = kr.cli("install")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "keyring key provider" in proc.stdout
    assert json.loads(kr.store.read_text())["keyProvider"]["name"] == "keyring"
    assert not kr.key.exists() and keyring_item(kr) == key
    assert_creds(kr, "a.example", "alice", "pw-a")


# ------------------------------------------------ switches and rotations left half-done


def _secret(ch: Env, server: str) -> str | None:
    got = ch.helper("get", server)
    return json.loads(got.stdout)["Secret"] if got.returncode == 0 else None


def _clear_keyring_item(ch: Env) -> None:
    account = f"aeskey:{os.path.abspath(ch.home)}"
    cleared = subprocess.run(
        ["secret-tool", "clear", "service", "credhelper", "username", account],
        env=ch.env,
        timeout=30,
        check=False,
    )
    assert cleared.returncode == 0 and keyring_item(ch) is None


def test_switching_back_to_file_never_overwrites_the_key_file_logins_need(kr: Env) -> None:
    """A switch to keyring killed before aeskey's removal, then the keyring item deleted:
    the next login makes a new keyring key, and aeskey (a.example's only key) is kept.
    `install --key-provider file` then must not install the keyring key over aeskey: both
    keys seal logins, so it refuses in one line naming the fix and changes nothing."""
    kr.store_creds("a.example", "alice", "pw-a")
    file_key = kr.key.read_bytes()
    assert configure(kr, "keyring").returncode == 0
    _plant_key_file(kr.key, file_key)  # what the killed switch leaves
    _clear_keyring_item(kr)
    kr.store_creds("c.example", "carol", "pw-c")
    ring_key = keyring_item(kr)
    assert kr.key.read_bytes() == file_key and ring_key not in (None, file_key)
    before = kr.store.read_bytes()
    proc = kr.cli("install", "--key-provider", "file")
    assert proc.returncode == 4, proc.stdout
    assert "a.example" in proc.stderr and "log in again" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert kr.key.read_bytes() == file_key, "a.example's only key is gone"
    assert keyring_item(kr) == ring_key and kr.store.read_bytes() == before
    assert _secret(kr, "c.example") == "pw-c"
    # The named fix works: log in again to a.example, then the switch goes through.
    kr.store_creds("a.example", "alice", "pw-a2")
    assert kr.cli("install", "--key-provider", "file").returncode == 0
    assert _secret(kr, "a.example") == "pw-a2" and _secret(kr, "c.example") == "pw-c"


def test_keyring_rotation_killed_after_its_store_write_without_the_mark(
    kr: Env, tmp_path: Path
) -> None:
    """Keyring store, rotate --reencrypt SIGKILLed after its store write, the (plaintext)
    mark removed: the pending key sealed the header and every login, so the next writer
    promotes it, as for a file; a second rotation keeps every login."""
    from tests.test_rotate_crash import WANT, _stopped_after_store_write

    assert configure(kr, "keyring").returncode == 0
    with contextlib.suppress(AssertionError):  # its last check is for aeskey.pending
        _stopped_after_store_write(kr, tmp_path)
    assert keyring_item(kr, pending=True) is not None  # the key the logins now need
    doc = json.loads(kr.store.read_text())
    del doc["keyRotation"]
    kr.store.write_text(json.dumps(doc, indent=1) + "\n")
    body = json.dumps({"ServerURL": "w.example", "Username": "u", "Secret": "pw-w"})
    writer = kr.helper("store", body)
    assert writer.returncode == 0, "a pending key that sealed the header was not promoted"
    assert keyring_item(kr, pending=True) is None
    for server, secret in WANT.items():
        assert _secret(kr, server) == secret, "the only key of the logins was lost"
    rotate = kr.cli("rotate", "--reencrypt", "--yes")
    assert rotate.returncode == 0, rotate.stderr
    for server, secret in {**WANT, "w.example": "pw-w"}.items():
        assert _secret(kr, server) == secret


def test_switching_env_to_keyring_leaves_no_env_key_file(kr: Env) -> None:
    """An env store whose aeskey holds a copy of the env key (an older credhelper wrote
    it there): switching to keyring removes that plaintext copy of the fleet's key."""
    fleet = os.urandom(32)
    env = dict(kr.env, CREDHELPER_AESKEY=base64.b64encode(fleet).decode())
    done = subprocess.run(
        [CLI, "install", "--key-provider", "env"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body = json.dumps({"ServerURL": "a.example", "Username": "u", "Secret": "pw-a"})
    stored = subprocess.run(
        [HELPER, "store"], input=body.encode(), env=env, timeout=60, check=False
    )
    assert stored.returncode == 0
    _plant_key_file(kr.key, fleet)
    switched = subprocess.run(
        [CLI, "install", "--key-provider", "keyring"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert switched.returncode == 0, switched.stderr
    assert not kr.key.exists(), "the env key stays in aeskey"
    kr.store_creds("b.example", "u", "pw-b")
    assert _secret(kr, "a.example") == "pw-a" and _secret(kr, "b.example") == "pw-b"


@pytest.mark.parametrize("args", [(), ("--key-provider", "file"), ("--key-provider", "env")])
def test_install_with_the_secret_service_unreachable_changes_nothing(
    kr: Env, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A keyring store; `credhelper install [...]` while the session bus is unreachable:
    refused or a no-op; the keyring key, the store and every login survive."""
    kr.store_creds("a.example", "alice", "pw-a")
    assert configure(kr, "keyring").returncode == 0
    key = keyring_item(kr)
    before = kr.store.read_bytes()
    dead = dict(kr.env, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus")
    if "env" in args:
        dead["CREDHELPER_AESKEY"] = base64.b64encode(os.urandom(32)).decode()
    proc = subprocess.run(
        [CLI, "install", *args], env=dead, capture_output=True, text=True, timeout=60, check=False
    )
    assert keyring_item(kr) == key
    if proc.returncode != 0:
        assert kr.store.read_bytes() == before
    if "env" not in args:
        assert _secret(kr, "a.example") == "pw-a"
