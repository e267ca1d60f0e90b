"""Logins that expire (#13): the expiry is authenticated, `get` then answers not-found.

Logins are written through the store API (the CLI's --expires-in is tested with
the login command); every read is the real executable, with the clock moved by
faketime (libfaketime) rather than by editing files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from credhelper import durations
from credhelper.errors import NOT_FOUND_MESSAGE
from credhelper.store import STATE_EXPIRED, STATE_OK, Store
from tests.conftest import CLI, HELPER, Env, require_tool

NOT_FOUND = (NOT_FOUND_MESSAGE + "\n").encode()


# The `faketime` wrapper (0.9.10) first creates /dev/shm/sem.faketime_sem_<its pid>
# and faketime_shm_<its pid> with O_EXCL; if either exists it prints this and exits 1
# before it starts the program. libfaketime names those after the pid of any process
# it runs in without the wrapper, and a process that ends without running its
# destructor (SIGKILL, os._exit) leaves them: tests/test_schedule_run.py SIGKILLs
# jobs so. Once PIDs wrap, a wrapper that draws such a pid fails: the rare
# "empty stdout" failures of the faketime tests. The program never ran, so running
# the same command again (another pid) is the same test, not a second chance for it.
_STALE_NAME = re.compile(rb"\Afaketime: (sem|shm)_open: File exists\n")
WRAPPER_ATTEMPTS = 5


def wrapper_refused(proc: subprocess.CompletedProcess[bytes]) -> bool:
    """Whether `faketime` refused to start (a stale /dev/shm name for its pid)."""
    return proc.returncode == 1 and not proc.stdout and bool(_STALE_NAME.match(proc.stderr))


def run_faked(
    offset: str, argv: list[str], env: dict[str, str], stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`argv` under `faketime offset`, started again (bounded) only if faketime refused
    to start it (see _STALE_NAME); that refusal, if it persists, is the result."""
    command = [require_tool("faketime"), offset, *argv]
    for _ in range(WRAPPER_ATTEMPTS):
        proc = subprocess.run(
            command, input=stdin, capture_output=True, env=env, timeout=timeout, check=False
        )
        if not wrapper_refused(proc):
            break
    return proc


def faked(
    ch: Env, offset: str, argv: list[str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run a real executable with the clock moved by `offset` (e.g. "+2 hours")."""
    return run_faked(offset, argv, ch.env, stdin)


@pytest.mark.parametrize("message", [b"faketime: sem_open: File exists\n", b"other\n"])
def test_only_faketimes_refusal_is_started_again_and_a_bounded_number_of_times(
    ch: Env, tmp_path: Path, message: bytes
) -> None:
    """A refusal that persists is the result (the test fails); any other failure is
    the result at once. (The program here prints the refusal itself.)"""
    runs = tmp_path / "runs"
    code = (
        "import sys; open(sys.argv[1], 'a').write('x'); "
        f"sys.stderr.buffer.write({message!r}); sys.exit(1)"
    )
    proc = faked(ch, "+2 hours", [sys.executable, "-c", code, str(runs)])
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", message)
    assert wrapper_refused(proc) is message.startswith(b"faketime:")
    assert len(runs.read_text()) == (WRAPPER_ATTEMPTS if wrapper_refused(proc) else 1)


def in_an_hour() -> str:
    return durations.after(3600)


def seed(ch: Env, expires: str | None) -> Store:
    store = Store()
    store.put("reg.example", "alice", "pw-reg-secret", expires=expires)
    store.put("other.example", "bob", "pw-other-secret")
    return store


def load(ch: Env) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ch.store.read_bytes())
    return doc


def save(ch: Env, doc: dict[str, Any]) -> None:
    ch.store.write_bytes(json.dumps(doc).encode())


def test_before_expiry_the_login_works(ch: Env) -> None:
    seed(ch, in_an_hour())
    proc = faked(ch, "+30 minutes", [HELPER, "get"], b"reg.example")
    assert proc.returncode == 0 and json.loads(proc.stdout)["Secret"] == "pw-reg-secret"


def test_after_expiry_get_is_not_found_with_one_line_naming_registry_and_time(ch: Env) -> None:
    expires = in_an_hour()
    seed(ch, expires)
    proc = faked(ch, "+2 hours", [HELPER, "get"], b"reg.example")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)
    assert proc.stderr.count(b"\n") == 1
    line = proc.stderr.decode()
    assert "reg.example" in line and f"expired at {expires}" in line
    assert "credhelper login reg.example" in line and b"pw-reg" not in proc.stderr
    # Others are untouched; docker's `list` leaves the expired one out.
    assert faked(ch, "+2 hours", [HELPER, "get"], b"other.example").returncode == 0
    listed = faked(ch, "+2 hours", [HELPER, "list"])
    assert listed.returncode == 0, (listed.returncode, listed.stderr)
    assert json.loads(listed.stdout) == {"other.example": "bob"}


def test_list_shows_expired_and_the_expiry(ch: Env) -> None:
    expires = in_an_hour()
    seed(ch, expires)
    before = json.loads(faked(ch, "+1 minute", [CLI, "list", "--json"]).stdout)
    after = json.loads(faked(ch, "+2 hours", [CLI, "list", "--json"]).stdout)
    states = {e["server"]: (e["state"], e["expires"], e["username"]) for e in after}
    assert states == {
        "reg.example": (STATE_EXPIRED, expires, "alice"),
        "other.example": (STATE_OK, None, "bob"),
    }
    assert {e["server"]: e["state"] for e in before} == {
        "reg.example": STATE_OK,
        "other.example": STATE_OK,
    }
    human = faked(ch, "+2 hours", [CLI, "list"]).stdout.decode()
    assert "expired" in human and expires in human


def test_the_next_write_drops_expired_logins(ch: Env) -> None:
    seed(ch, in_an_hour())
    store = json.dumps({"ServerURL": "new.example", "Username": "u", "Secret": "p"}).encode()
    assert faked(ch, "+2 hours", [HELPER, "store"], store).returncode == 0
    assert set(load(ch)["auths"]) == {"other.example", "new.example"}


def test_a_write_before_expiry_keeps_the_login(ch: Env) -> None:
    seed(ch, in_an_hour())
    store = json.dumps({"ServerURL": "new.example", "Username": "u", "Secret": "p"}).encode()
    assert faked(ch, "+10 minutes", [HELPER, "store"], store).returncode == 0
    assert set(load(ch)["auths"]) == {"reg.example", "other.example", "new.example"}


def in_faked_process(ch: Env, offset: str, code: str) -> Any:
    """Run `code` (which prints JSON) in a real Python process under faketime."""
    proc = faked(ch, offset, [sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_purge_expired_removes_only_expired(ch: Env) -> None:
    seed(ch, in_an_hour())
    purge = (
        "import json; from credhelper.store import Store; "
        "print(json.dumps(Store().purge_expired()))"
    )
    assert in_faked_process(ch, "+10 minutes", purge) == []
    assert in_faked_process(ch, "+2 hours", purge) == ["reg.example"]
    assert set(load(ch)["auths"]) == {"other.example"}
    assert in_faked_process(ch, "+2 hours", purge) == []


def test_status_and_remembered_username_of_an_expired_login(ch: Env) -> None:
    expires = in_an_hour()
    seed(ch, expires)
    code = (
        "import json; from credhelper.store import Store; s = Store().snapshot(); "
        "st = s.status('reg.example'); "
        "print(json.dumps([st.state, st.expires, st.username, "
        "s.remembered_username('reg.example')]))"
    )
    assert in_faked_process(ch, "+2 hours", code) == [STATE_EXPIRED, expires, "alice", "alice"]


def test_a_login_stored_already_expired_is_dropped_by_its_own_write(ch: Env) -> None:
    seed(ch, "2000-01-01T00:00:00Z")
    assert set(load(ch)["auths"]) == {"other.example"}


HOSTILE = [
    ("later", lambda e: e.update(expires="2999-01-01T00:00:00Z")),
    ("earlier", lambda e: e.update(expires="2000-01-01T00:00:00Z")),
    ("removed", lambda e: e.pop("expires")),
    ("not a time", lambda e: e.update(expires="tomorrow")),
    ("as v1", lambda e: e.update(v=1)),
    ("as v1 without expiry", lambda e: (e.pop("expires"), e.update(v=1))),
    ("v removed", lambda e: e.pop("v")),
]


@pytest.mark.parametrize(("name", "edit"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_an_edited_expiry_is_corrupt_never_longer_lived(ch: Env, name: str, edit: Any) -> None:
    seed(ch, in_an_hour())
    doc = load(ch)
    edit(doc["auths"]["reg.example"])
    save(ch, doc)
    for offset in ("+1 minute", "+2 hours"):
        proc = faked(ch, offset, [HELPER, "get"], b"reg.example")
        assert proc.returncode == 1 and proc.stdout != NOT_FOUND, (name, offset)
        assert b"corrupt" in proc.stdout and b"pw-reg" not in proc.stdout + proc.stderr


def test_an_expiry_added_to_a_login_without_one_is_corrupt(ch: Env) -> None:
    seed(ch, None)
    doc = load(ch)
    doc["auths"]["other.example"]["expires"] = "2000-01-01T00:00:00Z"
    save(ch, doc)
    proc = faked(ch, "+1 minute", [HELPER, "get"], b"other.example")
    assert proc.returncode == 1 and b"corrupt" in proc.stdout
    # ...and a write does not drop it as "expired": only an authenticated expiry counts.
    Store().put("new.example", "u", "p")
    assert "other.example" in load(ch)["auths"]
