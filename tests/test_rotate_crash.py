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

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from credhelper.errors import CorruptEntry, Invalidated
from credhelper.store import Store
from tests.conftest import CLI, Env
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
    # The real executable agrees, for a few servers.
    server = rng.choice(sorted(creds))
    proc = ch.helper("get", server)
    if ok:
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert json.loads(proc.stdout)["Secret"] == creds[server][1]
    else:
        assert proc.returncode == 1
        assert b"invalidated by key rotation" in proc.stderr
    listing = ch.helper("list")
    assert listing.returncode == 0
    assert len(json.loads(listing.stdout)) == (len(creds) if ok else 0)
    return "before-or-kept" if ok else "invalidated"


def _check_writer_finishes(ch: Env, state: str, n: int) -> None:
    env = {**ch.env, "CREDHELPER_LOCK_TIMEOUT": "5"}
    proc = subprocess.run(
        [ch.env["PATH"].split(os.pathsep)[0] + "/docker-credential-credhelper", "store"],
        input=b'{"ServerURL":"canary.example","Username":"c","Secret":"pw"}',
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
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

    # Measure one whole rotation so random delays span all of it.
    started = time.monotonic()
    assert ch.cli("rotate", "--reencrypt", "--yes").returncode == 0
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
