"""Real clients talk to docker-credential-credhelper: docker-py, the docker CLI, skopeo.

docker-py's `docker.credentials.Store` and `docker.auth` run in-process (they spawn
the helper as they always do); the docker CLI runs client-side only (DOCKER_HOST
names a socket that does not exist, so `docker login` authenticates against the
registry itself) with `"credsStore": "credhelper"`; skopeo reads the same
logins through `credHelpers`. Registries are Debian's docker-registry on
127.0.0.1, started and stopped by each test (tests/registry_server.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HELPER, Env, require_tool
from tests.registry_server import RegistryServer, make_oci_layout

pytest_plugins = ["tests.registry_server"]

docker_sdk = pytest.importorskip("docker", reason="docker-py is a test dependency")
from docker import auth as docker_auth  # noqa: E402
from docker.credentials import CredentialsNotFound, Store, StoreError  # noqa: E402


@pytest.fixture
def sdk(ch: Env, monkeypatch: pytest.MonkeyPatch) -> Store:
    """docker-py's credential store for `credsStore: credhelper`, finding our helper on PATH."""
    monkeypatch.setenv("PATH", ch.env["PATH"])
    return Store("credhelper")


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def helper_get(ch: Env, server: str) -> tuple[int, str]:
    proc = ch.helper("get", server.encode())
    return proc.returncode, proc.stdout.decode()


# ------------------------------------------------------------------ docker-py


def test_docker_py_store_round_trip(sdk: Store) -> None:
    """docker-py's own integration test, against our helper."""
    server = "https://registry.example:5000/v1/"
    sdk.store(server, "user", "pass")
    assert sdk.get(server) == {"ServerURL": server, "Username": "user", "Secret": "pass"}
    sdk.store("other.example", "\u00e9l\u00e8ve", "p\u00e2ss \u2603 <&>")
    assert sdk.get("other.example") == {
        "ServerURL": "other.example",
        "Username": "\u00e9l\u00e8ve",
        "Secret": "p\u00e2ss \u2603 <&>",
    }
    assert sdk.list() == {server: "user", "other.example": "\u00e9l\u00e8ve"}
    sdk.erase(server)
    with pytest.raises(CredentialsNotFound):
        sdk.get(server)
    assert sdk.list() == {"other.example": "\u00e9l\u00e8ve"}


def test_docker_py_missing_is_credentials_not_found(sdk: Store) -> None:
    with pytest.raises(CredentialsNotFound):
        sdk.get("never.example")
    assert sdk.list() == {}
    sdk.erase("never.example")  # docker logout's extra spellings must not fail


def test_docker_py_lost_key_is_not_found_but_corruption_is_an_error(ch: Env, sdk: Store) -> None:
    sdk.store("a.example", "u", "p")
    sdk.store("b.example", "u", "p")
    doc = json.loads(ch.store.read_text())
    doc["auths"]["b.example"]["sealed"] = "-" + doc["auths"]["b.example"]["sealed"][1:]
    ch.store.write_text(json.dumps(doc))
    with pytest.raises(StoreError) as info:
        sdk.get("b.example")
    assert not isinstance(info.value, CredentialsNotFound)
    assert "illegal base64 data at input byte 0" in str(info.value)
    assert sdk.list() == {"a.example": "u"}  # the bad entry never breaks the others
    ch.key.unlink()
    with pytest.raises(CredentialsNotFound):  # docker-py then goes anonymous
        sdk.get("a.example")


def test_docker_py_resolves_auth_through_creds_store(ch: Env, sdk: Store) -> None:
    sdk.store("registry.example:5000", "alice", "pw")
    sdk.store("https://index.docker.io/v1/", "<token>", "identity-token-value")
    config_file = ch.docker_config / "config.json"
    config_file.write_text(
        json.dumps(
            {
                "auths": {"registry.example:5000": {}, "https://index.docker.io/v1/": {}},
                "credsStore": "credhelper",
            }
        )
    )
    config = docker_auth.load_config(str(config_file))
    assert docker_auth.resolve_authconfig(config, "registry.example:5000") == {
        "ServerAddress": "registry.example:5000",
        "Username": "alice",
        "Password": "pw",
    }
    # Docker Hub: docker-py asks for https://index.docker.io/v1/ and maps <token>.
    assert docker_auth.resolve_authconfig(config, None) == {
        "ServerAddress": "https://index.docker.io/v1/",
        "IdentityToken": "identity-token-value",
    }
    assert docker_auth.resolve_authconfig(config, "unknown.example") is None
    everything = config.get_all_credentials()
    assert everything["registry.example:5000"]["Password"] == "pw"
    assert everything["https://index.docker.io/v1/"]["IdentityToken"] == "identity-token-value"


# ------------------------------------------------------------------ docker CLI


def docker_env(ch: Env, tmp_path: Path) -> dict[str, str]:
    return dict(ch.env, DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")


def test_docker_cli_login_and_logout_through_creds_store(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    docker = require_tool("docker")
    reg = registry_http
    env = docker_env(ch, tmp_path)
    config_file = ch.docker_config / "config.json"
    config_file.write_text('{"credsStore": "credhelper", "psFormat": "table {{.ID}}"}')
    alice, bob = reg.users["alice"], reg.users["bob"]

    proc = run([docker, "login", reg.host, "-u", "alice", "--password-stdin"], env, alice)
    assert proc.returncode == 0, proc.stderr
    assert "Login Succeeded" in proc.stdout
    # The secret went to our store; docker's file keeps only the usual empty entry.
    assert helper_get(ch, reg.host) == (
        0,
        json.dumps(
            {"ServerURL": reg.host, "Username": "alice", "Secret": alice}, separators=(",", ":")
        )
        + "\n",
    )
    config = json.loads(config_file.read_text())
    assert config["auths"] == {reg.host: {}}
    assert config["credsStore"] == "credhelper"
    assert alice not in config_file.read_text()
    assert alice.encode() not in ch.store.read_bytes()

    # A refused login (wrong password) leaves the stored login untouched.
    before = ch.store.read_bytes()
    proc = run([docker, "login", reg.host, "-u", "alice", "--password-stdin"], env, "wrong-pw")
    assert proc.returncode != 0
    assert ch.store.read_bytes() == before
    assert json.loads(helper_get(ch, reg.host)[1])["Secret"] == alice

    # docker reads the stored login back through the helper (no -u, no password);
    # it then re-authenticates through the (absent) daemon, which may fail here.
    proc = run([docker, "login", reg.host], env)
    assert "Authenticating with existing credentials... [Username: alice]" in proc.stderr

    # Logging in as someone else replaces the entry.
    proc = run([docker, "login", reg.host, "-u", "bob", "--password-stdin"], env, bob)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(helper_get(ch, reg.host)[1])["Username"] == "bob"

    proc = run([docker, "logout", reg.host], env)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr  # every erase docker made succeeded
    assert helper_get(ch, reg.host) == (1, "credentials not found in native keychain\n")
    assert json.loads(ch.helper("list").stdout) == {}
    assert json.loads(config_file.read_text())["auths"] == {}


def test_docker_cli_with_a_lost_key_asks_for_a_new_login(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    """The openEuler "delete the aeskey" rotation: docker must prompt, not crash."""
    docker = require_tool("docker")
    reg = registry_http
    env = docker_env(ch, tmp_path)
    (ch.docker_config / "config.json").write_text('{"credsStore": "credhelper"}')
    proc = run(
        [docker, "login", reg.host, "-u", "alice", "--password-stdin"], env, reg.users["alice"]
    )
    assert proc.returncode == 0, proc.stderr
    ch.key.unlink()
    proc = run([docker, "login", reg.host], env)  # no TTY: docker would have to prompt
    assert proc.returncode != 0
    assert "non TTY" in proc.stderr or "non-TTY" in proc.stderr
    assert f"credhelper login {reg.host}" in proc.stderr  # our hint reached the user
    # The hint is the whole fix: a new docker login starts a new key at once.
    assert "credhelper rotate" not in proc.stderr
    proc = run(
        [docker, "login", reg.host, "-u", "alice", "--password-stdin"], env, reg.users["alice"]
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(helper_get(ch, reg.host)[1])["Username"] == "alice"


# ------------------------------------------------------------------ skopeo


def test_skopeo_reads_and_writes_through_cred_helpers(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    """skopeo ignores credsStore; with credHelpers it uses our helper for get (and store)."""
    skopeo = require_tool("skopeo")
    reg = registry_http
    env = dict(ch.env, REGISTRY_AUTH_FILE=str(ch.docker_config / "config.json"))
    env.pop("XDG_RUNTIME_DIR", None)
    (ch.docker_config / "config.json").write_text(
        json.dumps({"credHelpers": {reg.host: "credhelper"}})
    )
    image = make_oci_layout(tmp_path / "oci")
    dest = f"docker://{reg.host}/demo/app:v1"

    # No login yet: the helper says not found, skopeo goes anonymous and is refused.
    proc = run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{image.path}", dest], env)
    assert proc.returncode != 0
    assert "unauthorized" in proc.stderr.lower() or "authentication" in proc.stderr.lower()

    ch.store_creds(reg.host, "alice", reg.users["alice"])
    proc = run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{image.path}", dest], env)
    assert proc.returncode == 0, proc.stderr
    proc = run([skopeo, "inspect", "--tls-verify=false", dest], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == image.manifest_digest
    proc = run([skopeo, "list-tags", "--tls-verify=false", f"docker://{reg.host}/demo/app"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Tags"] == ["v1"]

    # A wrong stored password is what skopeo uses too: refused.
    ch.store_creds(reg.host, "alice", "not-the-password")
    proc = run([skopeo, "inspect", "--tls-verify=false", dest], env)
    assert proc.returncode != 0

    # skopeo login/logout with credHelpers go through the helper's store/erase.
    proc = run(
        [skopeo, "login", "--tls-verify=false", "-u", "bob", "--password-stdin", reg.host],
        env,
        reg.users["bob"],
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(helper_get(ch, reg.host)[1])["Username"] == "bob"
    assert reg.users["bob"] not in (ch.docker_config / "config.json").read_text()
    proc = run([skopeo, "logout", reg.host], env)
    assert proc.returncode == 0, proc.stderr
    assert helper_get(ch, reg.host)[0] == 1


def test_helper_is_found_by_name_on_path(ch: Env) -> None:
    """Clients run `docker-credential-<credsStore>` from PATH: that must be this helper."""
    proc = subprocess.run(
        ["docker-credential-credhelper", "version"],
        capture_output=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"docker-credential-credhelper (credhelper) ")
    assert os.path.samefile(
        subprocess.run(
            ["sh", "-c", "command -v docker-credential-credhelper"],
            capture_output=True,
            text=True,
            env=ch.env,
            check=True,
        ).stdout.strip(),
        HELPER,
    )
