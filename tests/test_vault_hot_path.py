"""The vault provider's `get`/`list` import no HTTP library: only socket (and ssl for https).

Same method as tests/test_hot_path.py: the installed executable under
`python -I -X importtime`, every module imported after `site` counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_env
from tests.openbao_server import Host, OpenBao, make_host, openbao  # noqa: F401 -- the fixture
from tests.test_hot_path import imports_of, top

# hvac and requests (and what they drag in) are for the admin commands only.
NEVER = {
    "hvac",
    "requests",
    "urllib3",
    "http",
    "http.client",
    "urllib",
    "email",
    "click",
    "keyring",
    "logging",
    "threading",
    "subprocess",
    "asyncio",
    "credhelper.cli",
    "credhelper.keys.file",
    "credhelper.keys.vault.admin",
    "credhelper.keys.vault.configure",
    "credhelper.keys.vault.rotation",
}
# What a vault `get` may import beyond a file-provider `get`: the provider and the
# C socket module (and small helpers the store may not have needed yet).
VAULT_EXTRA = {
    "credhelper.keys.vault",
    "credhelper.keys.vault.settings",
    "credhelper.keys.vault.transit",
    "credhelper.keys.vault.wire",
    "_socket",
    "credhelper.gob64",
    "binascii",
}


@pytest.fixture
def host(tmp_path: Path, openbao: OpenBao) -> Host:  # noqa: F811
    h = make_host(tmp_path / "host", openbao, openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    return h


@pytest.mark.parametrize(("action", "stdin"), [("get", b"reg.example"), ("list", b"")])
def test_vault_read_path_over_http_needs_no_ssl_or_socket_module(
    host: Host, action: str, stdin: bytes
) -> None:
    modules = imports_of(host.ch, action, stdin)
    extra = NEVER | {"ssl", "socket"}  # the C module _socket is enough for http://
    assert not (top(modules) & extra), sorted(top(modules) & extra)
    file_host = make_env(host.ch.root / "file-host")
    file_host.store_creds("reg.example", "alice", "pw")
    baseline = imports_of(file_host, action, stdin)
    added = modules - baseline
    assert added <= VAULT_EXTRA, sorted(added - VAULT_EXTRA)
    assert "credhelper.keys.vault.transit" in modules and "_socket" in modules


def test_vault_read_path_over_https_adds_only_ssl(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    env = {"VAULT_ADDR": openbao.tls_addr, "VAULT_CACERT": str(openbao.ca_file)}
    modules = imports_of(host.ch, "get", b"reg.example", env)
    assert not (top(modules) & NEVER), sorted(top(modules) & NEVER)
    assert "ssl" in modules


def test_the_watched_get_succeeded(host: Host) -> None:
    proc = host.ch.helper("get", "reg.example")
    assert proc.returncode == 0 and json.loads(proc.stdout)["Secret"] == "pw"
