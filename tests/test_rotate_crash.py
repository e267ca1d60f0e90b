"""SIGKILL `credhelper rotate` at many different moments on a large store.

After every kill, before any writer runs: every entry still opens with its own
credentials, or (forced mode) every entry reports needs-relogin — never corrupt,
never a key missing for entries that still need it. Then a writer must get the
lock at once (no stale lock) and leave no pending key or rotation mark behind.

Kill moments are varied two ways: a random delay over the whole run, and "just
after step X" using the rotation's trace file (CREDHELPER_ROTATE_TRACE), so that
the short windows inside the rotation are hit on every run, not by luck.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credhelper.errors import CorruptEntry, Invalidated
from credhelper.store import Store
from tests.conftest import CLI, HELPER, Env
from tests.test_rotate import seed

CANARY = "canary.example"
CANARY_CREDS = ("c", "pw")
STEPS = ("pending-written", "store-written", "key-promoted", "done")


def put_all(creds: dict[str, tuple[str, str]]) -> None:
    with Store().transaction() as txn:
        for server, (user, secret) in creds.items():
            txn.put(server, user, secret)


def _kill_rotation(ch: Env, reencrypt: bool, rng: random.Random, budget: float, trace: Path) -> str:
    """Start a rotation and SIGKILL it at a chosen moment; returns how it ended."""
    trace.unlink(missing_ok=True)
    args = [CLI, "rotate", "--yes", *(["--reencrypt"] if reencrypt else [])]
    env = {**ch.env, "CREDHELPER_ROTATE_TRACE": str(trace)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0, budget))
        else:
            step = rng.choice(STEPS[:3])
            extra = rng.choice([0.0, 0.0, rng.uniform(0, 0.004)])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if trace.exists() and step in trace.read_text():
                    break
                time.sleep(0.0005)
            if extra:
                time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        stderr = proc.stderr.read() if proc.stderr else b""
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), stderr
    return "finished" if proc.returncode == 0 else "killed"


def _check_readers(
    ch: Env, creds: dict[str, tuple[str, str]], reencrypt: bool, rng: random.Random
) -> str:
    """Reader-side invariants; returns "before-or-kept" or "invalidated"."""
    snap = Store().snapshot()
    ok = relogin = 0
    for server, (user, secret) in creds.items():
        try:
            got = snap.get(server)
        except Invalidated:
            relogin += 1
            continue
        except CorruptEntry as err:  # pragma: no cover - the failure being tested for
            raise AssertionError(f"{server} corrupt after a kill: {err.cause}") from None
        assert (got.username, got.secret) == (user, secret)
        ok += 1
    if reencrypt:
        assert ok == len(creds), f"{relogin} logins lost by a killed --reencrypt"
    else:
        assert (ok, relogin) in ((len(creds), 0), (0, len(creds))), (ok, relogin)
    # The protocol agrees, for a few servers. In this process (ch.call: the executable's
    # bytes, stderr and exit code, tests/test_protocol_equivalence.py): this only reads
    # back what the killed rotation left, and the test process holds no lock.
    server = rng.choice(sorted(creds))
    proc = ch.call("get", server)
    if ok:
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert json.loads(proc.stdout)["Secret"] == creds[server][1]
    else:
        assert proc.returncode == 1
        assert b"invalidated by key rotation" in proc.stderr
    listing = ch.call("list")
    assert listing.returncode == 0
    assert len(json.loads(listing.stdout)) == (len(creds) if ok else 0)
    return "before-or-kept" if ok else "invalidated"


def _check_writer_finishes(ch: Env, state: str, n: int) -> None:
    env = {**ch.env, "CREDHELPER_LOCK_TIMEOUT": "5"}
    # In this process: the killed rotation is gone, so a lock or pending key it left is
    # what this store meets, in this process as in a new one (see _check_readers).
    proc = ch.call("store", b'{"ServerURL":"canary.example","Username":"c","Secret":"pw"}', env=env)
    assert proc.returncode == 0, proc.stdout  # a stale lock would time out here
    assert not (ch.home / "aeskey.pending").exists()
    doc = json.loads(ch.store.read_text())
    assert "keyRotation" not in doc
    sealed_ids = {e["keyId"] for e in doc["auths"].values() if "sealed" in e}
    from credhelper.crypto import key_id

    assert sealed_ids == {key_id(ch.key.read_bytes())}
    if state == "invalidated":
        assert sum("invalidated" in e for e in doc["auths"].values()) == n  # canary is new


@pytest.mark.slow
def test_sigkill_rotation_at_many_moments(ch: Env, big: bool, tmp_path: Path) -> None:
    n = 3000 if big else 1000
    iterations = 300 if big else 40
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    creds = seed(n)
    creds[CANARY] = CANARY_CREDS
    put_all(creds)
    trace = tmp_path / "trace"

    # Measure one whole rotation so random delays span all of it: of the executable,
    # as the killed rotations are (in this process a rotation skips the start-up and,
    # once credhelper is imported, takes ~0.03 s of the executable's ~0.19 s).
    started = time.monotonic()
    assert ch.cli_exe("rotate", "--reencrypt", "--yes").returncode == 0
    budget = (time.monotonic() - started) * 1.2

    outcomes: dict[str, int] = {}
    for i in range(iterations):
        reencrypt = i % 2 == 0
        ended = _kill_rotation(ch, reencrypt, rng, budget, trace)
        state = _check_readers(ch, creds, reencrypt, rng)
        _check_writer_finishes(ch, state, n)
        key = f"{'reencrypt' if reencrypt else 'forced'}/{ended}/{state}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if state == "invalidated":
            put_all(creds)  # start the next kill from a full store again
    print(outcomes)
    # The loop must really have interrupted rotations, in both modes.
    assert any(k.startswith("reencrypt/killed") for k in outcomes), outcomes
    assert any(k.startswith("forced/killed") for k in outcomes), outcomes


# ---------------------------------------------------------------- stopped at one exact step

WANT = {f"r{i}.example": f"pw-{i}-secret" for i in range(3)}


def stopped_at_first_step(
    argv: list[str], env: dict[str, str], fifo: Path, home: Path
) -> subprocess.Popen[bytes]:
    """`argv` (a rotation tracing to the FIFO `fifo`) started and held after its first
    step, "pending-written": its open() of the FIFO for the next step blocks, since no
    reader comes. On a loaded machine our read can come only after the rotation
    reopened the FIFO (our reader still open) and went on: such a run does not count;
    it is killed, `home` put back as it was and the rotation started again (bounded)."""
    before = home.with_name(home.name + ".before")
    shutil.copytree(home, before, symlinks=True)
    try:
        for _attempt in range(10):
            proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            fd = os.open(fifo, os.O_RDONLY)
            try:
                first = os.read(fd, 100)
            finally:
                os.close(fd)
            if first == b"pending-written\n":
                return proc
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            shutil.rmtree(home)
            shutil.copytree(before, home, symlinks=True)
        pytest.fail(f"the rotation never stopped after its first step (last read {first!r})")
    finally:
        shutil.rmtree(before)


def _stopped_after_store_write(ch: Env, tmp_path: Path, *, forced: bool = False) -> None:
    """`rotate --reencrypt` SIGKILLed after its store write, before the key's promotion.

    The trace file is a FIFO. The rotation's open() of it for "pending-written"
    meets our reader; its open() for "store-written", right after the store (with
    the rotation mark) is renamed into place, blocks for good, since no reader
    comes (stopped_at_first_step). Once the mark is on disk it is killed.
    """
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo, 0o600)
    env = {**ch.env, "CREDHELPER_ROTATE_TRACE": str(fifo)}
    argv = [CLI, "rotate", *(() if forced else ("--reencrypt",)), "--yes"]
    proc = stopped_at_first_step(argv, env, fifo, ch.home)
    try:
        deadline = time.monotonic() + 30  # the store write comes before the blocking open
        while time.monotonic() < deadline and "keyRotation" not in ch.store.read_text():
            time.sleep(0.01)
        assert "keyRotation" in ch.store.read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (ch.home / "aeskey.pending").exists()


def _secrets(ch: Env) -> dict[str, str | None]:
    """What `get` gives for each server: in this process (ch.call, the executable's bytes
    and exit code), reading back what a killed rotation or a writer left."""
    out: dict[str, str | None] = {}
    for server in WANT:
        got = ch.call("get", server)
        out[server] = json.loads(got.stdout)["Secret"] if got.returncode == 0 else None
    return out


def _ordinary_write(ch: Env) -> None:
    body = json.dumps({"ServerURL": "w.example", "Username": "u", "Secret": "pw-w-secret"})
    proc = ch.helper("store", body)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("override", ["CREDHELPER_AESKEY", "CREDHELPER_KEY_PROVIDER"])
def test_an_override_writer_mid_rotation_is_refused_and_changes_nothing(
    ch: Env, tmp_path: Path, override: str
) -> None:
    """A CI job's CREDHELPER_AESKEY (or CREDHELPER_KEY_PROVIDER=env) on a file store whose
    rotation was killed: refused in one line before any write, the rotation mark and
    the pending key stay, and the next ordinary writer finishes the rotation. (It used
    to drop the mark, and that next writer discarded the only key opening the store.)"""
    _stopped_after_store_write(ch, tmp_path)
    before = ch.store.read_bytes()
    env = {**ch.env, "CREDHELPER_AESKEY": base64.b64encode(os.urandom(32)).decode()}
    if override == "CREDHELPER_KEY_PROVIDER":
        env[override] = "env"
    body = b'{"ServerURL":"z.example","Username":"u","Secret":"pw-z-secret"}'
    refused = subprocess.run(
        [HELPER, "store"], input=body, env=env, capture_output=True, timeout=60, check=False
    )
    assert refused.returncode == 1, refused.stdout
    line = refused.stdout.decode().strip()
    assert "\n" not in line and "credhelper install --key-provider env" in line, line
    assert ch.store.read_bytes() == before
    assert (ch.home / "aeskey.pending").exists()
    rotate = ch.cli("rotate", "--key-from-env", "--yes", env=env)
    assert rotate.returncode == 1 and ch.store.read_bytes() == before, rotate.stderr
    _ordinary_write(ch)
    assert _secrets(ch) == WANT
    assert not (ch.home / "aeskey.pending").exists()
    assert "keyRotation" not in json.loads(ch.store.read_text())


def test_a_lost_rotation_mark_never_discards_the_key_the_store_needs(
    ch: Env, tmp_path: Path
) -> None:
    """The mark is not authenticated, the header is: a store whose header the pending
    key sealed needs that key, mark or not (a store left so by an older credhelper's
    refused writer). The next writer promotes it instead of discarding it."""
    _stopped_after_store_write(ch, tmp_path)
    doc = json.loads(ch.store.read_text())
    del doc["keyRotation"]
    ch.store.write_text(json.dumps(doc, indent=1) + "\n")
    pending = (ch.home / "aeskey.pending").read_bytes()
    _ordinary_write(ch)
    assert _secrets(ch) == WANT
    assert ch.key.read_bytes() == pending and not (ch.home / "aeskey.pending").exists()


def test_a_planted_pending_key_without_a_mark_is_discarded(ch: Env) -> None:
    """A pending key that sealed nothing in the store is removed, never promoted."""
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    key = ch.key.read_bytes()
    fd = os.open(ch.home / "aeskey.pending", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    _ordinary_write(ch)
    assert ch.key.read_bytes() == key and not (ch.home / "aeskey.pending").exists()
    assert _secrets(ch) == WANT


def test_readers_use_the_pending_key_mid_rotation_and_a_writer_finishes(
    ch: Env, tmp_path: Path
) -> None:
    _stopped_after_store_write(ch, tmp_path)
    assert _secrets(ch) == WANT
    _ordinary_write(ch)
    assert _secrets(ch) == WANT and not (ch.home / "aeskey.pending").exists()


# The env fleet rotation is one atomic store write: a process dying just before or just
# after it (os._exit in place of, or after, that write: a SIGKILL at exactly that point).
FLEET_ROTATION = (
    "import os, sys\n"
    "from credhelper import fsutil\n"
    "real = fsutil.atomic_write\n"
    "def write(*args, **kwargs):\n"
    "    if sys.argv[1] == 'after':\n"
    "        real(*args, **kwargs)\n"
    "    os._exit(137)\n"
    "fsutil.atomic_write = write\n"
    "from credhelper.rotate import rotate_from_env\n"
    "rotate_from_env(reencrypt=True)\n"
)


@pytest.mark.parametrize("moment", ["before", "after"])
def test_env_fleet_rotation_killed_around_its_one_write_is_all_or_nothing(
    ch: Env, moment: str
) -> None:
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    env_old = {**ch.env, "CREDHELPER_AESKEY": old}
    for server, secret in WANT.items():  # set-up, in this process (ch.call)
        body = json.dumps({"ServerURL": server, "Username": "u", "Secret": secret}).encode()
        stored = ch.call("store", body, env=env_old)
        assert stored.returncode == 0, stored.stdout
    env_new = {**ch.env, "CREDHELPER_AESKEY": new, "CREDHELPER_OLD_AESKEY": old}
    died = subprocess.run(
        [sys.executable, "-c", FLEET_ROTATION, moment],
        env=env_new,
        capture_output=True,
        timeout=60,
    )
    assert died.returncode == 137, died.stderr
    want_key = {"before": old, "after": new}[moment]
    for key in (old, new):  # read back in this process (ch.call): the dead one left this
        env = {**ch.env, "CREDHELPER_AESKEY": key}
        for server, secret in WANT.items():
            got = ch.call("get", server, env=env)
            if key == want_key:
                assert json.loads(got.stdout)["Secret"] == secret, got.stdout
            else:
                assert got.returncode == 1, got.stdout
    assert not [p.name for p in ch.home.iterdir() if ".tmp-" in p.name]


# ------------------------------------------ hostile pending keys and rotation marks


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def test_planted_pending_key_with_a_transplanted_header_never_replaces_the_needed_key(
    ch: Env, tmp_path: Path
) -> None:
    """An editor plants aeskey.pending (key P) and pastes into config.json the header of
    another store sealed by P. The next ordinary writer must not promote P over aeskey
    (the only key the logins need): it keeps both keys and refuses in one line."""
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    planted = os.urandom(32)
    _private(other / "aeskey", planted)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDHELPER_HOME", str(other))
        put_all({"x.example": ("u", "pw-x")})
    doc = json.loads(ch.store.read_text())
    doc["header"] = json.loads((other / "config.json").read_text())["header"]
    ch.store.write_text(json.dumps(doc, indent=1) + "\n")
    _private(ch.home / "aeskey.pending", planted)
    key = ch.key.read_bytes()
    body = json.dumps({"ServerURL": "w.example", "Username": "u", "Secret": "pw-w"})
    writer = ch.helper("store", body)
    assert writer.returncode != 0
    assert ch.key.read_bytes() == key, "the planted key replaced the store's key"
    assert (ch.home / "aeskey.pending").read_bytes() == planted  # in doubt: both kept
    assert "w.example" not in json.loads(ch.store.read_text())["auths"]


def _kid(ch: Env) -> str:
    kid = json.loads(ch.store.read_text())["header"]["keyId"]
    assert isinstance(kid, str)
    return kid


def test_a_forged_forced_rotation_mark_does_not_purge_the_stores_backups(ch: Env) -> None:
    """The rotation mark is plaintext and its newKeyId is the public header keyId: an
    editor's {"mode": "forced", "newKeyId": <header keyId>} must not make the next writer
    delete config.json.bak-* (the user's way back); the forged mark is dropped."""
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    backup = ch.home / "config.json.bak-20261201T000000Z"
    _private(backup, ch.store.read_bytes())
    doc = json.loads(ch.store.read_text())
    doc["keyRotation"] = {"mode": "forced", "oldKeyId": "0" * 16, "newKeyId": _kid(ch)}
    ch.store.write_text(json.dumps(doc, indent=1) + "\n")
    _ordinary_write(ch)
    assert backup.exists(), "a forged rotation mark made the writer delete the store's backup"
    assert "keyRotation" not in ch.store.read_text()
    assert _secrets(ch) == WANT


def test_a_killed_forced_rotation_still_purges_the_old_keys_copies(ch: Env, tmp_path: Path) -> None:
    """The genuine mark (tagged under the new key) still lets the next writer finish a
    forced rotation killed after its store write: the store's backups go."""
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    backup = ch.home / "config.json.bak-20261201T000000Z"
    _private(backup, ch.store.read_bytes())
    _stopped_after_store_write(ch, tmp_path, forced=True)
    assert "tag" in json.loads(ch.store.read_text())["keyRotation"]
    _ordinary_write(ch)
    assert not backup.exists()
    assert not (ch.home / "aeskey.pending").exists()


def test_rotate_never_starts_over_while_a_pending_key_the_logins_need_is_held(
    ch: Env, tmp_path: Path
) -> None:
    """Records sealed by the pending key, a header (the store's earlier one) not sealed by
    it: the writer keeps the pending key, and `credhelper rotate` must refuse rather than
    write a new pending key over the only key of the logins."""
    for server, secret in WANT.items():
        ch.store_creds(server, "u", secret)
    old_header = json.loads(ch.store.read_text())["header"]
    _stopped_after_store_write(ch, tmp_path)
    pending = (ch.home / "aeskey.pending").read_bytes()
    doc = json.loads(ch.store.read_text())
    doc["header"] = old_header
    del doc["keyRotation"]
    ch.store.write_text(json.dumps(doc, indent=1) + "\n")
    rotate = subprocess.run(
        [CLI, "rotate", "--yes"], env=ch.env, capture_output=True, text=True, timeout=60
    )
    assert rotate.returncode == 4, rotate.stdout
    assert len(rotate.stderr.strip().splitlines()) == 1 and "pending key" in rotate.stderr
    assert (ch.home / "aeskey.pending").read_bytes() == pending
