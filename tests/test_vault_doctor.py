"""`credhelper doctor` with the vault provider: server, token, policy, transit key.

`vault_findings` is checked alone (its inputs: the store's record and the
environment) against a real OpenBao server, and once through the real
`credhelper doctor --json`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from credhelper.doctor.vault_checks import vault_findings
from tests.openbao_server import Host, OpenBao, make_host, openbao, private_openbao  # noqa: F401


def use(monkeypatch: pytest.MonkeyPatch, server: OpenBao, token: str) -> None:
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAULT_ADDR", server.addr)
    monkeypatch.setenv("VAULT_TOKEN", token)
    monkeypatch.setenv("CREDHELPER_VAULT_TIMEOUT", "2")


def ids(record: dict[str, object], severity: str | None = None) -> set[str]:
    return {f.id for f in vault_findings(record) if severity is None or f.severity == severity}


@pytest.fixture
def host(tmp_path: Path, openbao: OpenBao) -> Host:  # noqa: F811
    return make_host(tmp_path / "host", openbao, openbao.new_key())


def test_healthy_runner_has_no_errors_or_warnings(
    host: Host,
    openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(monkeypatch, openbao, host.token)
    findings = vault_findings(host.record())
    assert {f.severity for f in findings} == {"info"}, findings
    assert "vault.token" in {f.id for f in findings}
    for finding in findings:  # nothing of the token in any message
        assert host.token not in finding.message + finding.fix


def test_missing_policy_names_the_runner_policy(
    host: Host,
    openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(monkeypatch, openbao, openbao.runner_token(openbao.new_key()))
    findings = {f.id: f for f in vault_findings(host.record())}
    assert findings["vault.policy"].severity == "error"
    assert f'path "transit/decrypt/{host.key}"' in findings["vault.policy"].fix
    assert findings["vault.policy-datakey"].severity == "warning"


def test_decrypt_only_policy_warns_about_datakey(
    host: Host,
    openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = f'path "transit/decrypt/{host.key}" {{ capabilities = ["update"] }}\n'
    use(monkeypatch, openbao, openbao.token(policy))
    assert ids(host.record(), "error") == set()
    assert ids(host.record(), "warning") == {"vault.policy-datakey"}


def test_wrong_token(host: Host, openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    use(monkeypatch, openbao, "s.not-a-real-token")
    assert ids(host.record(), "error") == {"vault.token"}


def test_short_lived_token_warns(
    host: Host,
    openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = openbao.api(
        "POST", "auth/token/create", {"ttl": "10m", "renewable": False, "policies": []}
    )["auth"]["client_token"]
    use(monkeypatch, openbao, short)
    assert "vault.token-expiring" in ids(host.record(), "warning")


def test_unreachable_and_sealed(
    tmp_path: Path,
    private_openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = make_host(tmp_path / "host", private_openbao, private_openbao.new_key())
    use(monkeypatch, private_openbao, h.token)
    private_openbao.api("PUT", "sys/seal")
    assert ids(h.record(), "error") == {"vault.sealed"}
    private_openbao.stop()
    assert ids(h.record(), "error") == {"vault.unreachable"}


def test_retired_and_old_wrapping_versions(
    host: Host,
    openbao: OpenBao,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(monkeypatch, openbao, openbao.root_token)  # an admin may read the key
    openbao.api("POST", f"transit/keys/{host.key}/rotate", {})
    assert "vault.data-key-old" in ids(host.record(), "info")
    openbao.api("POST", f"transit/keys/{host.key}/config", {"min_decryption_version": 2})
    assert ids(host.record(), "error") == {"vault.data-key-retired"}


def test_missing_transit_key(host: Host, openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    use(monkeypatch, openbao, openbao.root_token)
    record = {**host.record(), "key": "no-such-key"}
    assert "vault.key-missing" in ids(record, "error")


def test_doctor_command_reports_the_vault_findings(host: Host) -> None:
    env = {**host.ch.env, "VAULT_TOKEN": "s.not-a-real-token"}
    proc = host.ch.cli("doctor", "--json", env=env)
    assert proc.returncode == 10, proc.stdout + proc.stderr
    found = {f["id"]: f for f in json.loads(proc.stdout)["findings"]}
    assert found["vault.token"]["severity"] == "error"
    assert "s.not-a-real-token" not in proc.stdout + proc.stderr
    healthy = host.ch.cli("doctor", "--json")
    assert not [
        f
        for f in json.loads(healthy.stdout)["findings"]
        if f["id"].startswith("vault.") and f["severity"] != "info"
    ]


def test_plain_http_to_another_host_warns(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://vault.invalid:8200")
    monkeypatch.setenv("VAULT_TOKEN", host.token)
    monkeypatch.setenv("CREDHELPER_VAULT_TIMEOUT", "2")
    found = ids(host.record())
    assert "vault.plain-http" in found and "vault.unreachable" in found
