"""Rotation with the vault provider, on one host and across a fleet ("two hosts").

--reencrypt: a new transit key version and a rewrapped data key, logins unchanged
(and the old version can then be retired); forced: a new data key, logins
invalidated; an admin raising min_decryption_version: every host's `get` says
needs-relogin exactly as after a local forced rotation, and a new login works.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.openbao_server import NOT_FOUND, Host, OpenBao, data_key, make_host, openbao  # noqa: F401 -- the fixture

# What a host running `credhelper rotate --reencrypt` needs beyond the runner policy.
ROTATOR = """
path "transit/keys/{key}" {{ capabilities = ["read"] }}
path "transit/keys/{key}/rotate" {{ capabilities = ["update"] }}
path "transit/rewrap/{key}" {{ capabilities = ["update"] }}
"""


def rotator_token(server: OpenBao, key: str) -> str:
    from credhelper.keys.vault.policy import runner_policy

    return server.token(runner_policy("transit", key) + ROTATOR.format(key=key))


def rotate(host: Host, *args: str) -> dict[str, object]:
    proc = host.ch.cli("rotate", "--yes", "--json", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def creds(host: Host, server: str = "reg.example") -> dict[str, str]:
    code, out, err = host.get(server)
    assert code == 0, out + err
    value: dict[str, str] = json.loads(out)
    return value


def assert_needs_relogin(host: Host, server: str = "reg.example") -> str:
    code, out, err = host.get(server)
    assert (code, out) == (1, NOT_FOUND), out + err
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"run: credhelper login {server}"), lines
    return lines[0]


@pytest.fixture
def fleet(tmp_path: Path, openbao: OpenBao) -> tuple[Host, Host]:  # noqa: F811
    key = openbao.new_key("fleet")
    token = rotator_token(openbao, key)
    a = make_host(tmp_path / "a", openbao, key, token)
    b = make_host(tmp_path / "b", openbao, key, token)
    a.ch.store_creds("reg.example", "alice", "pw-a")
    b.ch.store_creds("reg.example", "bob", "pw-b")
    return a, b


def test_reencrypt_rotates_the_transit_key_and_rewraps(
    fleet: tuple[Host, Host],
    openbao: OpenBao,  # noqa: F811
) -> None:
    a, _b = fleet
    before = data_key(openbao, a)
    result = rotate(a, "--reencrypt")
    assert result["reencrypted"] == ["reg.example"] and result["needsLogin"] == []
    assert openbao.key_info(a.key)["latest_version"] == 2
    assert str(a.record()["wrapped"]).startswith("vault:v2:")
    assert data_key(openbao, a) == before  # the data key itself is unchanged
    assert creds(a)["Secret"] == "pw-a"


def test_fleet_rotates_the_transit_key_once_and_retires_the_old_version(
    fleet: tuple[Host, Host],
    openbao: OpenBao,  # noqa: F811
) -> None:
    a, b = fleet
    rotate(a, "--reencrypt")
    rotate(b, "--reencrypt")  # the key already has a newer version: b only rewraps
    assert openbao.key_info(a.key)["latest_version"] == 2
    assert str(b.record()["wrapped"]).startswith("vault:v2:")
    openbao.api("POST", f"transit/keys/{a.key}/config", {"min_decryption_version": 2})
    assert creds(a)["Username"] == "alice" and creds(b)["Username"] == "bob"


def test_forced_rotate_replaces_the_data_key(
    fleet: tuple[Host, Host],
    openbao: OpenBao,  # noqa: F811
) -> None:
    a, b = fleet
    old_wrapped, old_key = a.record()["wrapped"], data_key(openbao, a)
    result = rotate(a)
    assert result["needsLogin"] == ["reg.example"]
    assert a.record()["wrapped"] != old_wrapped and data_key(openbao, a) != old_key
    assert_needs_relogin(a)
    a.ch.store_creds("reg.example", "alice", "new-pw")  # log in again
    assert creds(a)["Secret"] == "new-pw"
    assert creds(b)["Secret"] == "pw-b"  # the other host is not touched


def test_raised_min_decryption_version_makes_every_host_log_in_again(
    fleet: tuple[Host, Host],
    openbao: OpenBao,  # noqa: F811
    tmp_path: Path,
) -> None:
    a, b = fleet
    # The reference: what a local forced rotation makes `get` say.
    local = make_host(tmp_path / "local", openbao, a.key, a.token)
    local.ch.store_creds("reg.example", "carol", "pw-c")
    rotate(local)
    reference = local.get("reg.example")
    openbao.api("POST", f"transit/keys/{a.key}/rotate", {})
    openbao.api("POST", f"transit/keys/{a.key}/config", {"min_decryption_version": 2})
    for host in (a, b):
        code, out, err = host.get("reg.example")
        assert (code, out) == reference[:2]
        assert len(err.decode().splitlines()) == 1
        assert_needs_relogin(host)
        listed = host.ch.helper("list")
        assert listed.returncode == 0 and json.loads(listed.stdout) == {}
        # A new login makes a new data key (under version 2) and works at once.
        host.ch.store_creds("reg.example", "again", "pw-new")
        assert creds(host) == {"ServerURL": "reg.example", "Username": "again", "Secret": "pw-new"}
        assert str(host.record()["wrapped"]).startswith("vault:v2:")


def test_rotation_never_writes_the_data_key(
    fleet: tuple[Host, Host],
    openbao: OpenBao,  # noqa: F811
) -> None:
    a, _b = fleet
    rotate(a, "--reencrypt")
    rotate(a)
    key = data_key(openbao, a)
    for path in a.ch.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert key not in data and base64.b64encode(key) not in data, path


def test_reencrypt_with_only_the_runner_policy_says_what_it_needs(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    host = make_host(tmp_path / "runner", openbao, openbao.new_key())
    host.ch.store_creds("reg.example", "alice", "pw")
    before = host.ch.store.read_bytes()
    proc = host.ch.cli("rotate", "--reencrypt", "--yes")
    assert proc.returncode == 4
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "/rotate" in lines[0] and "rewrap" in lines[0], lines
    assert host.ch.store.read_bytes() == before  # nothing changed
    assert openbao.key_info(host.key)["latest_version"] == 1
