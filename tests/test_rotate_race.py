"""`get` and `store` racing `credhelper rotate`.

A get returns the old credentials, the new ones, or (forced mode) not-found with
the "invalidated by key rotation" hint — never an error, never garbage. Every
store succeeds and none is lost. Readers run both as the real executable and
in-process in a tight loop (which hits the short windows far more often).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter

import pytest

from credhelper.errors import NOT_FOUND_MESSAGE, Invalidated
from credhelper.store import Store
from tests.conftest import Env
from tests.test_rotate import seed, states

ROTATIONS = {"reencrypt": 4, "forced": 2}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reencrypt", "forced"])
def test_gets_and_stores_racing_rotation(ch: Env, mode: str) -> None:
    creds = seed(200)
    servers = sorted(creds)
    stop = threading.Event()
    failures: list[str] = []
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    forced = mode == "forced"

    def record(kind: str) -> None:
        with lock:
            seen[kind] += 1

    def fail(text: str) -> None:
        with lock:
            failures.append(text)

    def in_process_reader(seed_value: int) -> None:
        rng = random.Random(seed_value)
        for _ in range(200_000):  # bounded; stops long before
            if stop.is_set():
                return
            server = rng.choice(servers)
            try:
                got = Store().get(server)
            except Invalidated as err:
                if forced and "invalidated by key rotation" in err.hint:
                    record("invalidated")
                else:
                    fail(f"in-process get {server}: {err.hint}")
                continue
            except Exception as err:
                fail(f"in-process get {server}: {type(err).__name__}: {err}")
                continue
            if (got.username, got.secret) != creds[server]:
                fail(f"in-process get {server}: wrong credentials")
            record("ok")

    def helper_reader(seed_value: int) -> None:
        rng = random.Random(seed_value)
        for _ in range(10_000):
            if stop.is_set():
                return
            server = rng.choice(servers)
            proc = ch.helper("get", server)
            if proc.returncode == 0:
                body = json.loads(proc.stdout)
                if (body["Username"], body["Secret"]) != creds[server]:
                    fail(f"helper get {server}: wrong credentials")
                record("helper-ok")
            elif (
                forced
                and proc.stdout == (NOT_FOUND_MESSAGE + "\n").encode()
                and b"invalidated by key rotation" in proc.stderr
            ):
                record("helper-invalidated")
            else:
                fail(f"helper get {server}: rc={proc.returncode} {proc.stdout!r} {proc.stderr!r}")

    stored: list[str] = []

    def writer() -> None:
        for i in range(10_000):
            if stop.is_set():
                return
            server = f"new{i:04d}.example"
            proc = ch.helper(
                "store", json.dumps({"ServerURL": server, "Username": "w", "Secret": f"pw{i}"})
            )
            if proc.returncode != 0:
                fail(f"store {server}: {proc.stdout!r}")
            else:
                with lock:
                    stored.append(server)

    threads = [
        threading.Thread(target=in_process_reader, args=(1,)),
        threading.Thread(target=in_process_reader, args=(2,)),
        threading.Thread(target=helper_reader, args=(3,)),
        threading.Thread(target=helper_reader, args=(4,)),
        threading.Thread(target=writer),
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(ROTATIONS[mode]):
            args = ["rotate", "--yes"] + (["--reencrypt"] if not forced else [])
            # Its own process: not the readers' GIL, and it never swaps their environment.
            proc = ch.cli_exe(*args)
            assert proc.returncode == 0, proc.stderr
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[:5]
    assert seen["ok"] > 0 and seen["helper-ok"] + seen["helper-invalidated"] > 0, seen
    assert stored, "the writer never got a store through"

    final = states(ch)
    assert set(final) == set(creds) | set(stored)  # no store lost
    if forced:
        assert set(final.values()) <= {"ok", "needs-relogin"}
        assert all(final[s] == "needs-relogin" for s in creds)
    else:
        assert set(final.values()) == {"ok"}
        snap = Store().snapshot()
        for server, (user, secret) in creds.items():
            got = snap.get(server)
            assert (got.username, got.secret) == (user, secret)
