"""Docker Hub pushes with skopeo/podman: the login reaches the engine through credhelper only.

containers/image asks a credential helper for `docker.io`, while docker stores Hub
logins under https://index.docker.io/v1/. `credhelper push` gives the engine an
authfile holding only `credHelpers: {"docker.io": "credhelper"}` and sets
CREDHELPER_DOCKER_IO_IS_HUB=1 in the engine's environment alone. The real
engines push `docker.io/demo/app:v1` through a loopback CONNECT proxy
(HTTPS_PROXY) into a local htpasswd registry, which accepts only the stored login:
a successful push proves the alias works, the recorded authfile proves no secret
was written.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, CLI, Env, require_tool
from tests.netfixtures import ConnectProxy, connect_proxy
from tests.registry_server import RegistryServer, make_oci_layout
from tests.test_push import _shim
from tests.test_push_podman import _podman, _private_podman

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e

HUB = "https://index.docker.io/v1/"
TARGET = "docker.io/demo/app:v1"


@pytest.fixture
def proxy(registry_htpasswd_tls: RegistryServer) -> Iterator[ConnectProxy]:
    with connect_proxy(registry_htpasswd_tls.port) as server:
        yield server


def _env(ch: Env, proxy: ConnectProxy, shims: Path) -> dict[str, str]:
    env = {k: v for k, v in ch.env.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env["HTTPS_PROXY"] = f"http://127.0.0.1:{proxy.port}"
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    return env


def secret_forms(user: str, password: str) -> list[str]:
    pair = f"{user}:{password}".encode()
    return [password, base64.b64encode(pair).decode(), base64.b64encode(password.encode()).decode()]


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input="", capture_output=True, text=True, env=env, timeout=180, check=False
    )


def _assert_clean(log: Path, out: str, reg: RegistryServer, tmpdir: Path) -> None:
    recorded = log.read_text()
    assert '"credHelpers": {"docker.io": "credhelper"}' in recorded
    assert '"auths": {}' in recorded
    assert "docker-credential-credhelper get" in recorded
    for form in secret_forms("alice", reg.users["alice"]):
        assert form not in recorded and form not in out
    assert not [p.name for p in tmpdir.iterdir() if p.name.startswith("credhelper")]


def test_skopeo_pushes_to_hub_with_the_stored_hub_login(
    ch: Env, registry_htpasswd_tls: RegistryServer, proxy: ConnectProxy, tmp_path: Path
) -> None:
    reg = registry_htpasswd_tls
    shims, log, tmpdir = tmp_path / "shims", tmp_path / "argv.log", tmp_path / "tmp"
    shims.mkdir()
    tmpdir.mkdir()
    _shim(shims, "skopeo", require_tool("skopeo"), log)
    _shim(shims, "docker-credential-credhelper", str(BIN / "docker-credential-credhelper"), log)
    ch.store_creds(HUB, "alice", reg.users["alice"])
    image = make_oci_layout(tmp_path / "oci")
    env = _env(ch, proxy, shims)
    env["TMPDIR"] = str(tmpdir)
    proc = _run(
        [
            CLI, "push", "--engine", "skopeo", "--from", f"oci:{image.path}:{image.tag}",
            TARGET, "--", "--dest-tls-verify=false",
        ],
        env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert any("registry-1.docker.io:443" in line for line in proxy.requests)
    assert reg.tags("demo/app") == ["v1"]
    assert reg.manifest_digest("demo/app", "v1") == image.manifest_digest
    _assert_clean(log, proc.stdout + proc.stderr, reg, tmpdir)


def test_podman_pushes_to_hub_with_the_stored_hub_login(
    ch: Env, registry_htpasswd_tls: RegistryServer, proxy: ConnectProxy, tmp_path: Path
) -> None:
    reg = registry_htpasswd_tls
    podman = require_tool("podman")
    shims, log = tmp_path / "shims", tmp_path / "argv.log"
    shims.mkdir()
    env = _env(ch, proxy, shims)
    env.update(_private_podman(tmp_path / "podman"))
    image = make_oci_layout(tmp_path / "oci")
    setup_env = {k: v for k, v in env.items() if k != "HTTPS_PROXY"}
    image_id = _podman(podman, setup_env, "pull", "--quiet", f"oci:{image.path}:{image.tag}")
    _podman(podman, setup_env, "tag", image_id, TARGET)
    _shim(shims, "podman", podman, log)
    _shim(shims, "docker-credential-credhelper", str(BIN / "docker-credential-credhelper"), log)
    ch.store_creds(HUB, "alice", reg.users["alice"])
    proc = _run([CLI, "push", "--engine", "podman", TARGET, "--", "--tls-verify=false"], env)
    assert proc.returncode == 0, proc.stderr
    assert reg.tags("demo/app") == ["v1"]
    _assert_clean(log, proc.stdout + proc.stderr, reg, Path(env["TMPDIR"]))


def test_the_docker_io_alias_is_only_for_engines_credhelper_runs(ch: Env) -> None:
    ch.store_creds(HUB, "alice", "hub-secret-1")
    plain = ch.helper("get", "docker.io")
    assert plain.returncode == 1
    assert plain.stdout.strip() == b"credentials not found in native keychain"
    env = dict(ch.env, CREDHELPER_DOCKER_IO_IS_HUB="1")
    aliased = subprocess.run(
        [str(BIN / "docker-credential-credhelper"), "get"],
        input=b"docker.io\n",
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert aliased.returncode == 0, aliased.stdout
    assert json.loads(aliased.stdout) == {
        "ServerURL": "docker.io",
        "Username": "alice",
        "Secret": "hub-secret-1",
    }
    # Only the exact name docker.io is aliased; every other key is answered as stored.
    other = subprocess.run(
        [str(BIN / "docker-credential-credhelper"), "get"],
        input=b"registry.example\n",
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert other.returncode == 1
