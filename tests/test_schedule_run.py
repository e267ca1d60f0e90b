"""The scheduled job itself, read back from the real crontab or unit file and run as cron
or systemd would run it, with time moved by faketime (libfaketime), not by editing files:

- `--schedule 30d`: under `faketime '+31 days'` the job rotates, under `+29 days` not;
- the keyring provider's job reaches its Secret Service from cron's bare environment;
- several jobs started at once rotate once;
- a job SIGKILLed at varied moments leaves the store as before or after, and the next
  run finishes the work exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credhelper.errors import CorruptEntry, Invalidated
from credhelper.store import Store
from tests.conftest import CLI, Env, require_tool
from tests.schedule_support import (
    at_offset,
    cron_command,
    cron_env,
    crontab_kept,
    crontab_list,
    our_lines,
    unit_exec,
)

pytestmark = pytest.mark.e2e

LOGINS = {"a.example": ("alice", "pw-a"), "b.example:5000": ("bob", "pw-b")}
LOG = "config.json.rotate.log"
STEPS = ("pending-written", "store-written", "key-promoted", "done")


@pytest.fixture
def sched(ch: Env) -> Iterator[Env]:
    """`ch` with two logins, a key, and the real crontab restored afterwards."""
    require_tool("faketime")
    with crontab_kept():
        for server, (user, secret) in LOGINS.items():
            ch.store_creds(server, user, secret)
        yield ch


def schedule_cron(ch: Env, *args: str) -> str:
    """Install `rotate --schedule ARGS`; the shell command cron would run for it."""
    proc = ch.cli("rotate", "--schedule", *args)
    assert proc.returncode == 0, proc.stderr
    (line,) = our_lines(crontab_list())
    return cron_command(line)


def run_as_cron(
    ch: Env, command: str, offset: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` as cron does (/bin/sh -c, cron's bare environment) at now+offset;
    `extra_env` reaches the job itself (see schedule_support.at_offset)."""
    return subprocess.Popen(
        ["/bin/sh", "-c", at_offset(command, offset, extra_env)],
        env=cron_env(str(ch.root)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[bytes]) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)


def last_result(ch: Env) -> dict[str, object]:
    lines = (ch.home / LOG).read_text().splitlines()
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    return result


def key_bytes(ch: Env) -> bytes:
    return ch.key.read_bytes()


def assert_logins(ch: Env, *, usable: bool) -> None:
    for server, (user, secret) in LOGINS.items():
        proc = ch.helper("get", server)
        if usable:
            assert proc.returncode == 0, (proc.stdout, proc.stderr)
            assert json.loads(proc.stdout) == {
                "ServerURL": server,
                "Username": user,
                "Secret": secret,
            }
        else:
            assert proc.returncode == 1 and b"invalidated by key rotation" in proc.stderr


@pytest.mark.parametrize("reencrypt", [True, False])
def test_cron_job_rotates_after_the_period_and_not_before(sched: Env, reencrypt: bool) -> None:
    command = schedule_cron(sched, "30d", *(["--reencrypt"] if reencrypt else []))
    before = key_bytes(sched)

    finish(run_as_cron(sched, command, "+29 days"))
    assert last_result(sched)["rotated"] is False
    assert key_bytes(sched) == before
    assert_logins(sched, usable=True)

    finish(run_as_cron(sched, command, "+31 days"))
    result = last_result(sched)
    assert result["rotated"] is True
    assert key_bytes(sched) != before
    assert_logins(sched, usable=reencrypt)
    if not reencrypt:
        needs = result["needsLogin"]
        assert isinstance(needs, list) and sorted(needs) == sorted(LOGINS)
    # The log holds no secret and is private (the job runs under umask 077).
    text = (sched.home / LOG).read_text()
    assert not any(secret in text for _, secret in LOGINS.values())
    assert (sched.home / LOG).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("scope", ["user", "system"])
def test_systemd_job_rotates_after_the_period_and_not_before(
    sched: Env, tmp_path: Path, scope: str
) -> None:
    units = tmp_path / "units"
    env = {
        **sched.env,
        "CREDHELPER_SCHEDULER": "systemd",
        "CREDHELPER_SYSTEMD_UNIT_DIR": str(units),
        "CREDHELPER_SYSTEMD_SCOPE": scope,
    }
    proc = sched.cli("rotate", "--schedule", "30d", "--reencrypt", env=env)
    assert proc.returncode == 0, proc.stderr
    argv, unit_env = unit_exec(units / "credhelper-rotate.service")
    assert argv[0] == CLI
    before = key_bytes(sched)
    job_env = {**cron_env(str(sched.root)), **unit_env}  # what the manager passes, roughly
    for offset, rotated in (("+29 days", False), ("+31 days", True)):
        run = subprocess.run(
            ["faketime", offset, *argv], env=job_env, capture_output=True, timeout=120, check=False
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["rotated"] is rotated
    assert key_bytes(sched) != before
    assert_logins(sched, usable=True)


def test_keyring_job_reaches_the_secret_service_from_cron(sched: Env, tmp_path: Path) -> None:
    from tests.keyring_session import secret_service
    from tests.test_keyring import configure, keyring_item

    require_tool("secret-tool")
    with secret_service(tmp_path / "ss") as extra:
        sched.env = {**sched.env, **extra}
        assert configure(sched, "keyring").returncode == 0
        before = keyring_item(sched)
        assert before is not None
        command = schedule_cron(sched, "30d", "--reencrypt")
        assert "DBUS_SESSION_BUS_ADDRESS=" in command
        finish(run_as_cron(sched, command, "+31 days"))  # cron's env: no session bus
        assert last_result(sched)["rotated"] is True
        after = keyring_item(sched)
        assert after is not None and after != before
        assert_logins(sched, usable=True)


def test_jobs_started_together_rotate_once(sched: Env) -> None:
    command = schedule_cron(sched, "30d", "--reencrypt")
    before = key_bytes(sched)
    procs = [run_as_cron(sched, command, "+31 days") for _ in range(4)]
    for proc in procs:
        finish(proc)
    results = [json.loads(line) for line in (sched.home / LOG).read_text().splitlines()]
    assert len(results) == 4
    assert sum(r["rotated"] is True for r in results) == 1
    (winner,) = [r for r in results if r["rotated"]]
    from credhelper.crypto import key_id

    assert key_id(key_bytes(sched)) == winner["newKeyId"] != key_id(before)
    assert_logins(sched, usable=True)


def _state(ch: Env, reencrypt: bool) -> str:
    """The store as readers see it now: "before/kept" or "invalidated", never torn."""
    snap = Store(str(ch.home)).snapshot()
    ok = relogin = 0
    for server, (user, secret) in LOGINS.items():
        try:
            got = snap.get(server)
        except Invalidated:
            relogin += 1
            continue
        except CorruptEntry as err:  # pragma: no cover - the failure tested for
            raise AssertionError(f"{server} corrupt after a kill: {err.cause}") from None
        assert (got.username, got.secret) == (user, secret)
        ok += 1
    if reencrypt:
        assert ok == len(LOGINS)
    else:
        assert (ok, relogin) in ((len(LOGINS), 0), (0, len(LOGINS)))
    return "ok" if ok else "invalidated"


def _header_key_id(ch: Env) -> str:
    """The key id the store file's authenticated header names (read as JSON)."""
    doc = json.loads((ch.home / "config.json").read_text())
    key = doc["header"]["keyId"]
    assert isinstance(key, str)
    return key


def _kill_at(ch: Env, command: str, step: str | None, trace: Path) -> str:
    """Run the job, SIGKILL its whole process group once `step` is traced (None: at
    once); the trace's contents at the kill."""
    trace.unlink(missing_ok=True)
    shm_before = _faketime_names()
    proc = run_as_cron(ch, command, "+31 days", extra_env={"CREDHELPER_ROTATE_TRACE": str(trace)})
    try:
        deadline = time.monotonic() + 60
        while step is not None and proc.poll() is None and time.monotonic() < deadline:
            if trace.exists() and step in trace.read_text().split():
                break
            time.sleep(0.001)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # finished before the kill: also a valid moment
    finally:
        proc.communicate(timeout=60)
        _remove_dead_faketime_names(shm_before, proc.pid)
    return trace.read_text() if trace.exists() else ""


def _faketime_names() -> set[str]:
    if not os.path.isdir("/dev/shm"):
        return set()
    return {n for n in os.listdir("/dev/shm") if "faketime_" in n}


def _remove_dead_faketime_names(before: set[str], group: int) -> None:
    """libfaketime names /dev/shm/{sem.faketime_sem_,faketime_shm_}<pid> and removes them
    only when its process exits normally: a SIGKILLed job leaves them, and a later
    `faketime` wrapper that draws the same pid refuses to start ("sem_open: File
    exists"). Remove the ones this kill left: new since `before`, of a process that
    is gone (a process of the killed group still running is waited for, 10 s at most)."""
    deadline = time.monotonic() + 10
    for name in sorted(_faketime_names() - before):
        pid = name.rsplit("_", 1)[-1]
        if not pid.isdigit():
            continue
        while time.monotonic() < deadline and _proc_state(int(pid))[1] == group:
            time.sleep(0.01)
        if _proc_state(int(pid))[0] in (None, "Z"):  # gone, or dead and not yet reaped
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join("/dev/shm", name))


def _proc_state(pid: int) -> tuple[str | None, int | None]:
    """(state letter, process group) of `pid`, (None, None) when there is none; a
    zombie counts as gone (group None): it runs no more code."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None, None
    return fields[0], (None if fields[0] == "Z" else int(fields[2]))


@pytest.mark.parametrize("reencrypt", [True, False])
def test_killed_job_leaves_before_or_after_and_the_next_run_completes(
    sched: Env, tmp_path: Path, reencrypt: bool
) -> None:
    command = schedule_cron(sched, "30d", *(["--reencrypt"] if reencrypt else []))
    trace = tmp_path / "trace"
    moments = set()
    from credhelper.crypto import key_id

    for step in (None, *STEPS[:3]):
        # Each round starts from a fresh, old key and usable logins.
        for server, (user, secret) in LOGINS.items():
            sched.store_creds(server, user, secret)
        assert sched.cli("rotate", "--yes", "--reencrypt").returncode == 0
        before = key_bytes(sched)
        traced = _kill_at(sched, command, step, trace)
        state = _state(sched, reencrypt)
        # What was written is read from the store itself: the trace line follows each
        # durable step, so a kill can land between the two (often, on a loaded machine).
        store_written = _header_key_id(sched) != key_id(before)
        assert store_written or "store-written" not in traced.split(), traced
        # Forced mode invalidates in the same store write that seals under the new key.
        moments.add(store_written)
        assert state == ("invalidated" if store_written and not reencrypt else "ok")
        (sched.home / LOG).unlink(missing_ok=True)
        finish(run_as_cron(sched, command, "+31 days"))
        # A rotation the kill cut short after the store write is finished, not redone.
        assert last_result(sched)["rotated"] is (not store_written), (step, traced)
        assert key_bytes(sched) != before
        assert not (sched.home / "aeskey.pending").exists()
        _state(sched, reencrypt)
    assert moments == {True, False}  # kills landed both before and after the store write
