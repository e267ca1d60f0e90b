"""`credhelper login` sends Basic credentials in UTF-8, as docker does, to real registries.

docker-registry's htpasswd (bcrypt over the UTF-8 bytes) and the token server
fixture both expect UTF-8; requests' default (Latin-1) made a correct `pässwörd`
"rejected" and `pa€ss` an internal error. Text that cannot be UTF-8 (undecodable
argv bytes, invalid stdin) is refused with one line and exit 2, nothing stored.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import CLI, Env
from tests.registry_server import RegistryServer, start_registry

pytestmark = pytest.mark.e2e

USERS = {"carol": "pässwörd", "dave": "pa€ss", "erin": "日本語 パス\tword"}


@pytest.fixture(scope="module", params=["htpasswd", "token"])
def unicode_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    with start_registry(
        tmp_path_factory.mktemp("reg-utf8"), auth=request.param, tls=True, users=USERS
    ) as server:
        yield server


def _login(
    ch: Env, reg: RegistryServer, user: str, password: bytes
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CLI, "login", reg.host, "-u", user, "--password-stdin"],
        input=password,
        capture_output=True,
        env=reg.client_env(ch.env),
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("user", sorted(USERS))
def test_non_ascii_password_is_accepted(
    ch: Env, unicode_registry: RegistryServer, user: str
) -> None:
    proc = _login(ch, unicode_registry, user, USERS[user].encode())
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr and b"internal error" not in proc.stderr
    got = ch.helper("get", unicode_registry.host)
    assert got.returncode == 0, got.stdout
    creds = json.loads(got.stdout)
    if creds["Username"] != "<token>":  # the token server may hand out an identity token
        assert (creds["Username"], creds["Secret"]) == (user, USERS[user])


def test_wrong_non_ascii_password_is_rejected(ch: Env, unicode_registry: RegistryServer) -> None:
    proc = _login(ch, unicode_registry, "carol", "päss€wrong".encode())
    assert proc.returncode == 5, proc.stderr.decode()
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert not ch.store.exists() or ch.helper("get", unicode_registry.host).returncode == 1


@pytest.mark.parametrize(
    "argv_tail",
    [
        [b"-u", b"carol", b"-p", b"p\xe4ss"],  # Latin-1 bytes on argv
        [b"-u", b"car\xffol", b"-p", b"pass"],
        [b"-u", b"carol", b"-p", b"\xed\xa0\x80"],  # an encoded lone surrogate
    ],
)
def test_undecodable_argv_is_refused(ch: Env, argv_tail: list[bytes]) -> None:
    proc = subprocess.run(
        [CLI.encode(), b"login", b"127.0.0.1:9", *argv_tail],
        capture_output=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("WARNING!")]
    assert len(lines) == 1 and "not valid UTF-8" in lines[0]
    assert not ch.store.exists()


@pytest.mark.parametrize("data", [b"p\xe4ss\n", b"\xed\xa0\x80\n", b"\xff"])
def test_invalid_utf8_on_stdin_is_refused(ch: Env, data: bytes) -> None:
    proc = subprocess.run(
        [CLI, "login", "127.0.0.1:9", "-u", "carol", "--password-stdin"],
        input=data,
        capture_output=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == [
        "credhelper: the password on stdin is not UTF-8 text"
    ]
    assert not ch.store.exists()
