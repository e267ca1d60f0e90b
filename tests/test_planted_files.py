"""Planted files at the key, the pending key and the lock; concurrency.

Claims: SECURITY.md "symlinks planted at the store, the key, the lock, a temp-file
name or the rotation's pending key are never followed (a dangling one is not
created through)"; "FIFOs planted at the store or key: exit 0 or 1, one line";
"The lock is a flock(2), released by the kernel when its holder dies"; README
"the next writer finishes or rolls back an interrupted rotation"; 0 lost writes
under concurrency.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HELPER, Env


def _seed(ch: Env, n: int = 3) -> None:
    for i in range(n):
        ch.store_creds(f"r{i}.example", "u", f"pw-{i}-secret")


def _all_open(ch: Env, n: int = 3) -> None:
    for i in range(n):
        got = ch.helper("get", f"r{i}.example")
        assert got.returncode == 0, (got.stdout, got.stderr)
        assert json.loads(got.stdout)["Secret"] == f"pw-{i}-secret"


def test_fifo_at_pending_key_does_not_hang_rotate(ch: Env) -> None:
    _seed(ch)
    os.mkfifo(ch.home / "aeskey.pending", 0o600)
    proc = ch.cli("rotate", "--reencrypt", "--yes")  # timeout=120 in ch.cli: a hang fails
    assert proc.returncode in (0, 1, 4), proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr
    _all_open(ch)


@pytest.mark.parametrize("exists", [False, True])
def test_symlink_at_pending_key_is_not_written_through(
    ch: Env, tmp_path: Path, exists: bool
) -> None:
    _seed(ch)
    target = tmp_path / "outside-target"
    if exists:
        target.write_bytes(b"attacker's file")
    os.symlink(target, ch.home / "aeskey.pending")
    proc = ch.cli("rotate", "--reencrypt", "--yes")
    assert proc.returncode in (0, 1, 4), proc.stderr
    assert target.exists() == exists
    if exists:
        assert target.read_bytes() == b"attacker's file"
    _all_open(ch)


@pytest.mark.parametrize("exists", [False, True])
def test_symlink_at_lock_is_not_followed(ch: Env, tmp_path: Path, exists: bool) -> None:
    _seed(ch)
    target = tmp_path / "lock-target"
    if exists:
        target.write_bytes(b"keep me")
    lock = ch.home / "config.json.lock"
    lock.unlink(missing_ok=True)
    os.symlink(target, lock)
    proc = ch.helper(
        "store",
        json.dumps({"ServerURL": "new.example", "Username": "u", "Secret": "pw-new-secret"}),
    )
    assert proc.returncode in (0, 1), proc.stdout
    assert len(proc.stdout.splitlines()) <= 1
    assert target.exists() == exists
    if exists:
        assert target.read_bytes() == b"keep me"
    _all_open(ch)


def test_lock_of_a_killed_holder_does_not_block(ch: Env) -> None:
    _seed(ch)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(ch.home / 'config.json.lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    env = dict(ch.env, CREDHELPER_LOCK_TIMEOUT="5")
    proc = subprocess.run(
        [HELPER, "store"],
        input=json.dumps(
            {"ServerURL": "x.example", "Username": "u", "Secret": "pw-x-secret"}
        ).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    fd = os.open(ch.home / "config.json.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it now
    finally:
        os.close(fd)


def test_pending_key_left_behind_is_cleaned_by_next_writer(ch: Env) -> None:
    _seed(ch)
    pending = ch.home / "aeskey.pending"
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    before = (ch.home / "aeskey").read_bytes()
    ch.store_creds("w.example", "u", "pw-w-secret")
    assert (ch.home / "aeskey").read_bytes() == before  # a stray pending key is never promoted
    assert not pending.exists()
    _all_open(ch)


def test_key_open_to_others_is_refused_and_nothing_changes(ch: Env) -> None:
    _seed(ch)
    os.chmod(ch.home / "aeskey", 0o644)
    before = (ch.home / "config.json").read_bytes()
    got = ch.helper("get", "r0.example")
    assert got.returncode == 1 and b"chmod 600" in got.stdout + got.stderr
    rot = ch.cli("rotate", "--yes")
    assert rot.returncode != 0
    assert (ch.home / "config.json").read_bytes() == before


def test_concurrent_store_erase_get_lose_nothing(ch: Env) -> None:
    _seed(ch, 10)
    procs = []
    for i in range(24):
        body = json.dumps(
            {"ServerURL": f"c{i}.example", "Username": "u", "Secret": f"pw-c{i}-secret"}
        ).encode()
        procs.append(("store", i, body))
    for i in range(5):
        procs.append(("erase", i, f"r{i}.example".encode()))
    for i in range(5, 10):
        procs.append(("get", i, f"r{i}.example".encode()))
    running = []
    for action, i, body in procs:
        p = subprocess.Popen(
            [HELPER, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ch.env,
        )
        running.append((action, i, p, body))
    results = []
    for action, i, p, body in running:
        out, err = p.communicate(body, timeout=120)
        results.append((action, i, p.returncode, out, err))
    for action, i, rc, out, _err in results:
        assert rc == 0, (action, i, out)
        if action == "get":
            assert json.loads(out)["Secret"] == f"pw-{i}-secret"
    listed = json.loads(ch.helper("list").stdout)
    assert {f"c{i}.example" for i in range(24)} <= set(listed)
    assert not {f"r{i}.example" for i in range(5)} & set(listed)
    assert {f"r{i}.example" for i in range(5, 10)} <= set(listed)
