"""Real clients use what `credhelper login` stored: the docker CLI and skopeo.

docker runs client-side only (DOCKER_HOST points at a socket that does not exist,
so `docker login` takes its no-daemon path and never touches a real daemon).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, Env, require_tool
from tests.registry_server import OciImage, RegistryServer, make_oci_layout

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def login(ch: Env, reg: RegistryServer, user: str, env: dict[str, str]) -> None:
    proc = run([CLI, "login", reg.host, "-u", user, "--password-stdin"], env, reg.users[user])
    assert proc.returncode == 0, proc.stderr


def push(reg: RegistryServer, image: OciImage, env: dict[str, str], *extra: str) -> None:
    proc = run(
        [
            CLI,
            "push",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{image.path}",
            f"{reg.host}/demo/app:v1",
            *extra,
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr


def test_docker_cli_uses_credhelper_logins(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    docker = require_tool("docker")
    require_tool("skopeo")
    reg = registry_http
    env = dict(ch.env, DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    image = make_oci_layout(tmp_path / "oci")
    login(ch, reg, "alice", env)
    push(reg, image, env, "--", "--dest-tls-verify=false")

    # docker reads alice's login through docker-credential-credhelper
    proc = run([docker, "manifest", "inspect", "--insecure", f"{reg.host}/demo/app:v1"], env)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["layers"][0]["digest"] == json.loads(image.manifest)["layers"][0]["digest"]

    # ... and without it, docker is refused: the login above is what made it work
    logout = run([CLI, "logout", reg.host], env)
    assert logout.returncode == 0
    refused = run([docker, "manifest", "inspect", "--insecure", f"{reg.host}/demo/app:v1"], env)
    assert refused.returncode != 0

    # `docker login` (client side) stores through credhelper; credhelper sees it
    proc = run([docker, "login", reg.host, "-u", "bob", "--password-stdin"], env, reg.users["bob"])
    assert proc.returncode == 0, proc.stderr
    assert "Login Succeeded" in proc.stdout
    listed = json.loads(run([CLI, "list", "--json"], env).stdout)
    assert [(e["server"], e["state"], e["username"]) for e in listed] == [(reg.host, "ok", "bob")]
    config = (ch.docker_config / "config.json").read_text()
    assert reg.users["bob"] not in config and reg.users["alice"] not in config
    proc = run([docker, "logout", reg.host], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(run([CLI, "list", "--json"], env).stdout) == []


def test_skopeo_reads_credhelper_logins(
    ch: Env, registry_htpasswd_tls: RegistryServer, tmp_path: Path
) -> None:
    skopeo = require_tool("skopeo")
    reg = registry_htpasswd_tls
    env = reg.client_env(ch.env)
    image = make_oci_layout(tmp_path / "oci")
    login(ch, reg, "alice", env)
    push(reg, image, env)
    # skopeo finds credhelper through the credHelpers entry login wrote in DOCKER_CONFIG
    config = json.loads((ch.docker_config / "config.json").read_text())
    assert config["credHelpers"][reg.host] == "credhelper"
    assert reg.certs_d is not None
    cert_dir = str(reg.certs_d / reg.host)
    proc = run([skopeo, "inspect", "--cert-dir", cert_dir, f"docker://{reg.host}/demo/app:v1"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == image.manifest_digest
    # and an explicit copy back out of the registry
    out = tmp_path / "copy"
    proc = run(
        [
            skopeo,
            "copy",
            "--src-cert-dir",
            cert_dir,
            f"docker://{reg.host}/demo/app:v1",
            f"oci:{out}:v1",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr


def test_skopeo_uses_a_stored_identity_token(
    ch: Env, registry_token_tls: RegistryServer, tmp_path: Path
) -> None:
    skopeo = require_tool("skopeo")
    reg = registry_token_tls
    assert reg.token is not None
    env = reg.client_env(ch.env)
    image = make_oci_layout(tmp_path / "oci")
    login(ch, reg, "alice", env)  # stores <token> + refresh token
    push(reg, image, env)
    assert reg.manifest_digest("demo/app", "v1") == image.manifest_digest
    # skopeo exchanged the identity token (OAuth2 refresh grant), never a password
    assert any(r["method"] == "POST" and r["user"] == "alice" for r in reg.token.requests)
    assert reg.certs_d is not None
    proc = run(
        [
            skopeo,
            "inspect",
            "--cert-dir",
            str(reg.certs_d / reg.host),
            f"docker://{reg.host}/demo/app:v1",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
