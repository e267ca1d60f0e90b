"""Rotation with the vault provider, on one host and across a fleet ("two hosts").

--reencrypt: a new transit key version and a rewrapped data key, logins unchanged
(and the old version can then be retired); forced: a new data key, logins
invalidated; an admin raising min_decryption_version: every host's `get` says
needs-relogin exactly as after a local forced rotation, and a new login works.
Two attacks of the security review are kept here: a restored pre-rotation store
after a forced rotation, and two hosts whose `rotate --reencrypt` runs overlap.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper.keys.vault.rotation import ROUND, round_version, should_rotate
from tests.conftest import HELPER
from tests.hostile_vault import Hostile, forwarder, hostile  # noqa: F401 -- the fixture
from tests.openbao_server import NOT_FOUND, Host, OpenBao, data_key, make_host, openbao  # noqa: F401 -- the fixture

CREDHELPER = str(Path(HELPER).parent / "credhelper")

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


# ------------------------------------------------------------ 7. a restored pre-rotation store


def test_forced_rotation_prints_how_to_revoke_the_old_data_key(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    """A forced `rotate` makes a new data key, but the old wrapped form still unwraps
    while transit accepts its version: no local state can tell a restored copy of the
    store (a snapshot, a CI cache) from the real file. So rotate says, on one line,
    the admin steps that revoke it; following them, the restored file's key is dead
    and the next login is sealed under a new data key, never the leaked one."""
    key = openbao.new_key()
    host = make_host(tmp_path / "h", openbao, key)
    host.ch.store_creds("reg.example.com", "u", "pw")
    before = host.ch.store.read_text()
    leaked = data_key(openbao, host)
    proc = host.ch.cli("rotate", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data_key(openbao, host) != leaked
    advice = proc.stderr.strip().splitlines()
    assert len(advice) == 1, advice
    assert f"bao write -f transit/keys/{key}/rotate" in advice[0]
    assert "credhelper rotate --reencrypt on every host" in advice[0]
    assert f"bao write transit/keys/{key}/config min_decryption_version=2" in advice[0]
    # The admin follows the advice (rotate --reencrypt needs read/rotate/rewrap).
    openbao.api("POST", f"transit/keys/{key}/rotate", {})
    admin_env = dict(host.ch.env, VAULT_TOKEN=openbao.root_token)
    again = host.ch.cli("rotate", "--reencrypt", "--yes", env=admin_env)
    assert again.returncode == 0, again.stderr
    assert openbao.key_info(key)["latest_version"] == 2  # rewrapped, not rotated again
    openbao.api("POST", f"transit/keys/{key}/config", {"min_decryption_version": 2})

    host.ch.store.write_text(before)  # the attacker's edit: the old, authentic file
    host.ch.helper(
        "store", json.dumps({"ServerURL": "reg.example.com", "Username": "u", "Secret": "new"})
    )
    record = json.loads(host.ch.store.read_text())
    assert record.get("keyProvider", {}).get("wrapped"), record
    assert data_key(openbao, host) != leaked, "a new login was sealed under the leaked data key"
    code, out, _err = host.get("reg.example.com")
    assert code == 0 and json.loads(out)["Secret"] == "new"


# ------------------------------------------------------------ 8. two hosts rotating at once


def test_concurrent_fleet_reencrypt_leaves_every_host_on_one_version(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
    hostile: Callable[..., Hostile],  # noqa: F811
) -> None:
    """Two hosts whose runs overlap (a fleet cron at the same minute; here the key read is
    made slow by a relay) both read the key before either rotated, and transit has no
    compare-and-set, so both rotate. Before, each rewrapped under its own new version
    (v2 and v3) and raising min_decryption_version to the latest retired a host. Now
    both rewrap under the first version of that rotation round: one version for all."""
    key = openbao.new_key()
    hosts = [
        make_host(
            tmp_path / f"h{i}",
            openbao,
            key,
            openbao.token('path "transit/*" { capabilities = ["create", "read", "update"] }'),
        )
        for i in range(2)
    ]
    relay = hostile(forwarder(openbao.addr, delay_on=f"/transit/keys/{key}", delay=2.0))
    procs = []
    for host in hosts:
        host.ch.store_creds("reg.example.com", "u", "pw")
        env = dict(host.ch.env, VAULT_ADDR=relay.addr, CREDHELPER_VAULT_TIMEOUT="10")
        procs.append(
            subprocess.Popen(
                [CREDHELPER, "rotate", "--reencrypt", "--yes"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    versions = sorted(str(h.record()["wrapped"]).split(":")[1] for h in hosts)
    latest = openbao.key_info(key)["latest_version"]
    assert latest >= 2 and versions == ["v2", "v2"], (
        f"transit key rotated to v{latest}; hosts wrapped by {versions}"
    )
    # Retiring everything older than the round's version retires no host.
    openbao.api("POST", f"transit/keys/{key}/config", {"min_decryption_version": 2})
    for host in hosts:
        code, out, err = host.get("reg.example.com")
        assert code == 0 and json.loads(out)["Secret"] == "pw", out + err


def test_a_host_on_the_newest_version_does_not_rotate_it_again_at_once(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    """A host installed just after a rotation (its data key is already on the newest
    version) runs its cron: the version is less than a round old, so it only rewraps."""
    key = openbao.new_key()
    token = openbao.token('path "transit/*" { capabilities = ["create", "read", "update"] }')
    first = make_host(tmp_path / "first", openbao, key, token)
    first.ch.store_creds("reg.example.com", "u", "pw")
    assert first.ch.cli("rotate", "--reencrypt", "--yes").returncode == 0
    late = make_host(tmp_path / "late", openbao, key, token)
    late.ch.store_creds("reg.example.com", "u", "pw")
    assert str(late.record()["wrapped"]).startswith("vault:v2:")
    proc = late.ch.cli("rotate", "--reencrypt", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert openbao.key_info(key)["latest_version"] == 2
    assert str(late.record()["wrapped"]).startswith("vault:v2:")


def _info(created: dict[int, float], **extra: int) -> dict[str, object]:
    keys = {str(v): int(t) for v, t in created.items()}
    return {"latest_version": max(created), "keys": keys, **extra}


@given(
    gaps=st.lists(st.integers(0, 3 * int(ROUND)), min_size=1, max_size=8),
    age=st.integers(0, 3 * int(ROUND)),
)
def test_rotation_round_rules(gaps: list[int], age: int) -> None:
    """The round's first version is >= 2 (1 is the key's creation), within ROUND of the
    newest, and every host computes the same one from the key alone."""
    created = {1: 1_000_000.0}
    for version, gap in enumerate(gaps, start=2):
        created[version] = created[version - 1] + gap
    info = _info(created)
    latest = max(created)
    first = round_version(info)
    assert first is not None and 2 <= first <= latest
    assert created[latest] - created[first] < ROUND
    assert first == 2 or created[latest] - created[first - 1] >= ROUND
    assert round_version(_info(created, min_decryption_version=latest)) == latest
    now = created[latest] + age
    assert should_rotate(info, latest, now) == (age >= ROUND)
    assert not should_rotate(info, latest - 1, now)  # a newer version exists: rewrap only
    assert should_rotate(_info({1: created[1]}), 1, created[1])  # a new key: rotate
