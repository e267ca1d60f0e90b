"""The vault key provider against a real OpenBao server: install, get/store, two hosts.

Every test makes its own transit key on the shared server and runs the real
`credhelper` and `docker-credential-credhelper` executables with only VAULT_ADDR
and VAULT_TOKEN (or a token file) pointing at it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_env
from tests.openbao_server import NOT_FOUND, Host, OpenBao, data_key, make_host, openbao  # noqa: F401


@pytest.fixture
def host(tmp_path: Path, openbao: OpenBao) -> Host:  # noqa: F811
    return make_host(tmp_path / "host-a", openbao, openbao.new_key())


def test_install_records_only_the_wrapped_data_key(host: Host) -> None:
    record = host.record()
    assert record["name"] == "vault"
    assert record["mount"] == "transit" and record["key"] == host.key
    assert isinstance(record["wrapped"], str) and record["wrapped"].startswith("vault:v1:")
    assert not host.ch.key.exists()  # no aeskey file
    assert (host.ch.store.stat().st_mode & 0o777) == 0o600


def test_store_get_list_erase_round_trip(host: Host) -> None:
    host.ch.store_creds("reg.example", "alice", "s3cret")
    code, out, err = host.get("reg.example")
    assert code == 0, out + err
    assert json.loads(out) == {"ServerURL": "reg.example", "Username": "alice", "Secret": "s3cret"}
    listed = host.ch.helper("list")
    assert json.loads(listed.stdout) == {"reg.example": "alice"}
    assert host.ch.helper("erase", "reg.example").returncode == 0
    assert host.get("reg.example")[:2] == (1, NOT_FOUND)


def test_install_again_keeps_the_data_key(host: Host) -> None:
    host.ch.store_creds("reg.example", "alice", "pw")
    wrapped = host.record()["wrapped"]
    proc = host.ch.cli("install", "--key-provider", "vault")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host.record()["wrapped"] == wrapped
    assert host.get("reg.example")[0] == 0


def _files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            found.extend(Path(dirpath) / name for name in files)
    return found


def test_no_key_material_or_token_on_disk(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    host.ch.store_creds("reg.example", "alice", "pw")
    host.ch.cli("list")
    assert host.get("reg.example")[0] == 0
    key = data_key(openbao, host)
    needles = {
        key,
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        key.hex().encode(),
        host.token.encode(),
    }
    files = _files_under(host.ch.root)  # the store, Docker's config, HOME and TMPDIR
    assert host.ch.store in files
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path} holds key material or the token"


def test_two_hosts_share_one_transit_key(tmp_path: Path, openbao: OpenBao) -> None:  # noqa: F811
    key = openbao.new_key()
    a = make_host(tmp_path / "a", openbao, key)
    b = make_host(tmp_path / "b", openbao, key)
    a.ch.store_creds("reg.example", "alice", "pw-a")
    b.ch.store_creds("reg.example", "bob", "pw-b")
    assert json.loads(a.get("reg.example")[1])["Username"] == "alice"
    assert json.loads(b.get("reg.example")[1])["Username"] == "bob"
    # Each host has its own data key; one transit key wraps both.
    assert a.record()["wrapped"] != b.record()["wrapped"]
    assert data_key(openbao, a) != data_key(openbao, b)


def test_token_file_and_vault_token_helper_file(host: Host, tmp_path: Path) -> None:
    host.ch.store_creds("reg.example", "alice", "pw")
    env = dict(host.ch.env)
    token = env.pop("VAULT_TOKEN")
    sink = tmp_path / "agent-sink"
    sink.write_text(token + "\n")
    host.ch.env = {**env, "CREDHELPER_VAULT_TOKEN_FILE": str(sink)}
    assert host.get("reg.example")[0] == 0
    host.ch.env = env  # no token anywhere
    code, out, _ = host.get("reg.example")
    assert code == 1 and b"no Vault/OpenBao token" in out
    Path(env["HOME"], ".vault-token").write_text(token)
    assert host.get("reg.example")[0] == 0


def test_bao_variable_names(host: Host) -> None:
    host.ch.store_creds("reg.example", "alice", "pw")
    env = dict(host.ch.env)
    env["BAO_ADDR"], env["BAO_TOKEN"] = env.pop("VAULT_ADDR"), env.pop("VAULT_TOKEN")
    host.ch.env = env
    assert host.get("reg.example")[0] == 0


def test_install_to_vault_keeps_existing_file_logins(tmp_path: Path, openbao: OpenBao) -> None:  # noqa: F811
    """Switching a file store to vault moves its key (wrapped by transit/encrypt)."""
    key = openbao.new_key()
    ch = make_env(tmp_path)
    ch.store_creds("reg.example", "alice", "pw")
    assert ch.key.exists()
    admin = openbao.token('path "transit/*" { capabilities = ["update"] }\n')
    ch.env = openbao.env(ch.env, admin)
    proc = ch.cli("install", "--key-provider", "vault", "--vault-key", key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not ch.key.exists()
    assert json.loads(ch.helper("get", "reg.example").stdout)["Secret"] == "pw"


def test_readme_runner_policy_is_the_one_doctor_prints_and_the_tests_grant() -> None:
    from credhelper.keys.vault.policy import runner_policy

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "```hcl\n" + runner_policy("transit", "credhelper") + "```" in readme


def test_vault_namespace(tmp_path: Path, openbao: OpenBao) -> None:  # noqa: F811
    namespace = f"team-{os.urandom(3).hex()}"
    openbao.api("POST", f"sys/namespaces/{namespace}", {})
    ch = make_env(tmp_path)
    ch.env = {**openbao.env(ch.env, openbao.root_token), "VAULT_NAMESPACE": namespace}
    scoped = {**ch.env}
    # Enable transit and make the key inside the namespace (the fixture's api is global).
    import urllib.request

    for path, body in (("sys/mounts/transit", b'{"type":"transit"}'), ("transit/keys/nk", b"{}")):
        req = urllib.request.Request(f"{openbao.addr}/v1/{path}", data=body, method="POST")
        req.add_header("X-Vault-Token", openbao.root_token)
        req.add_header("X-Vault-Namespace", namespace)
        urllib.request.urlopen(req, timeout=10).close()
    proc = ch.cli("install", "--key-provider", "vault", "--vault-key", "nk")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ch.store_creds("reg.example", "alice", "pw")
    assert json.loads(ch.helper("get", "reg.example").stdout)["Secret"] == "pw"
    ch.env = {k: v for k, v in scoped.items() if k != "VAULT_NAMESPACE"}
    outside = ch.helper("get", "reg.example")
    assert outside.returncode == 1 and b"does not exist" in outside.stdout
    ch.env = {**scoped, "VAULT_NAMESPACE": "bad\nname"}
    assert b"VAULT_NAMESPACE" in ch.helper("get", "reg.example").stdout


def test_switching_to_another_transit_key_keeps_logins(
    host: Host,
    openbao: OpenBao,  # noqa: F811
) -> None:
    host.ch.store_creds("reg.example", "alice", "pw")
    other = openbao.new_key("other")
    admin = openbao.token('path "transit/*" { capabilities = ["update"] }\n')
    env = {**host.ch.env, "VAULT_TOKEN": admin}
    proc = host.ch.cli("install", "--key-provider", "vault", "--vault-key", other, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host.record()["key"] == other
    host.ch.env = env
    assert json.loads(host.get("reg.example")[1])["Secret"] == "pw"
    # The old transit key no longer opens this store: it can be deleted.
    openbao.api("POST", f"transit/keys/{host.key}/config", {"deletion_allowed": True})
    openbao.api("DELETE", f"transit/keys/{host.key}")
    assert host.get("reg.example")[0] == 0
