"""The test registry fixtures themselves: real auth, real TLS, real token verification."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import require_tool
from tests.registry_server import (
    TOKEN_ISSUER,
    TOKEN_SERVICE,
    RegistryServer,
    make_oci_layout,
)

# Makes the registry fixtures (registry_htpasswd_tls, ...) available here.
pytest_plugins = ["tests.registry_server"]

pytestmark = pytest.mark.e2e


def test_htpasswd_tls_demands_credentials(registry_htpasswd_tls: RegistryServer) -> None:
    reg = registry_htpasswd_tls
    assert reg.host.startswith("127.0.0.1:")
    assert reg.certs_d is not None and (reg.certs_d / reg.host / "ca.crt").is_file()
    anon = requests.get(reg.url + "/v2/", verify=str(reg.ca_file), timeout=10)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic ")
    assert reg.get("/v2/").status_code == 200
    wrong = requests.get(
        reg.url + "/v2/", auth=("alice", "nope"), verify=str(reg.ca_file), timeout=10
    )
    assert wrong.status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(reg.url + "/v2/", timeout=10)  # system CAs do not know the test CA


def test_plain_http_registry(registry_http: RegistryServer) -> None:
    assert registry_http.url.startswith("http://")
    assert registry_http.ca_file is None and registry_http.certs_d is None
    assert registry_http.get("/v2/").status_code == 200


def test_token_registry_verifies_signatures(registry_token_tls: RegistryServer) -> None:
    import jwt

    reg = registry_token_tls
    assert reg.token is not None
    anon = requests.get(reg.url + "/v2/", verify=str(reg.ca_file), timeout=10)
    assert anon.status_code == 401
    challenge = anon.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and reg.token.realm in challenge
    assert reg.get("/v2/_catalog").status_code == 200

    # A token with the same claims signed by a key the registry does not trust.
    rogue = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_SERVICE,
            "sub": "alice",
            "exp": 2**31 - 1,
            "nbf": 0,
            "iat": 0,
            "jti": "x",
            "access": [{"type": "registry", "name": "catalog", "actions": ["*"]}],
        },
        rogue,
        algorithm="ES256",
        headers={"x5c": [base64.b64encode(reg.token.pki.signer_cert_der).decode()]},  # type: ignore[union-attr]
    )
    resp = requests.get(
        reg.url + "/v2/_catalog",
        headers={"Authorization": f"Bearer {forged}"},
        verify=str(reg.ca_file),
        timeout=10,
    )
    assert resp.status_code == 401

    # The token server refuses a wrong password with its own error.
    bad = requests.get(
        reg.token.realm,
        params={"service": TOKEN_SERVICE},
        auth=("alice", "wrong"),
        verify=str(reg.ca_file),
        timeout=10,
    )
    assert bad.status_code == 401
    assert "invalid username or password" in bad.text


def test_skopeo_push_into_token_registry(
    registry_token_tls: RegistryServer, tmp_path: Path
) -> None:
    skopeo = require_tool("skopeo")
    reg = registry_token_tls
    image = make_oci_layout(tmp_path / "oci")
    authfile = tmp_path / "auth.json"
    pair = base64.b64encode(f"alice:{reg.users['alice']}".encode()).decode()
    fd = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"auths": {reg.host: {"auth": pair}}}, out)
    assert reg.certs_d is not None
    proc = subprocess.run(
        [
            skopeo,
            "copy",
            "--authfile",
            str(authfile),
            "--dest-cert-dir",
            str(reg.certs_d / reg.host),
            f"oci:{image.path}:{image.tag}",
            f"docker://{reg.host}/demo/app:v1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert reg.catalog() == ["demo/app"]
    assert reg.tags("demo/app") == ["v1"]
    assert reg.manifest_digest("demo/app", "v1") == image.manifest_digest
