"""`credhelper push --engine podman` with the real podman into a real TLS registry.

podman runs as a PATH shim that records its argv (and the content of any
--authfile) and forwards to the real binary. Its image store is private and
throwaway: CONTAINERS_STORAGE_CONF/CONTAINERS_CONF/CONTAINERS_REGISTRIES_CONF
point at files under tmp_path (vfs driver, graphroot/runroot/tmp_dir there), so
the user's own podman storage is never touched. The image is loaded offline from
the OCI layout make_oci_layout() builds. The registry's test CA reaches podman the
way credhelper passes it: `--cert-dir <CREDHELPER_CERTS_D>/<host>`, so TLS is
verified for real, and the login comes from credhelper through the authfile's
`credHelpers` (docker-credential-credhelper get).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BIN, CLI, Env, require_tool
from tests.registry_server import OciImage, RegistryServer, make_oci_layout
from tests.terminal import run_on_tty
from tests.test_push import _shim

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e

REPO = "demo/app"


@dataclass
class PodmanPusher:
    ch: Env
    reg: RegistryServer
    image: OciImage
    env: dict[str, str]
    log: Path

    @property
    def target(self) -> str:
        return f"{self.reg.host}/{REPO}:v1"

    def push(self, *extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [CLI, "push", "--engine", "podman", *(extra or (self.target,))],
            input="",
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        for password in self.reg.users.values():
            assert password not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    def calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def podman_calls(self) -> list[str]:
        return [line for line in self.calls().splitlines() if line.startswith("podman ")]


def _private_podman(root: Path) -> dict[str, str]:
    """Env that gives podman a throwaway vfs store and state under `root`."""
    for name in ("graph", "run", "tmp", "networks", "vartmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    storage = root / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\nrunroot = "{root / "run"}"\n'
    )
    containers = root / "containers.conf"
    containers.write_text(
        "[engine]\n"
        f'tmp_dir = "{root / "tmp"}"\n'
        'events_logger = "none"\n'
        'cgroup_manager = "cgroupfs"\n'
        "[network]\n"
        f'network_config_dir = "{root / "networks"}"\n'
    )
    registries = root / "registries.conf"
    registries.write_text("unqualified-search-registries = []\n")
    return {
        "CONTAINERS_STORAGE_CONF": str(storage),
        "CONTAINERS_CONF": str(containers),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "TMPDIR": str(root / "vartmp"),
    }


def _podman(podman: str, env: dict[str, str], *args: str) -> str:
    # podman 4.x takes $DOCKER_CONFIG/config.json as its default authfile and fails when
    # it does not exist; the setup needs no auth (credhelper push passes --authfile).
    env = {k: v for k, v in env.items() if k != "DOCKER_CONFIG"}
    proc = subprocess.run(
        [podman, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture
def podman_pusher(ch: Env, registry_htpasswd_tls: RegistryServer, tmp_path: Path) -> PodmanPusher:
    return make_podman_pusher(ch, registry_htpasswd_tls, tmp_path)


def make_podman_pusher(ch: Env, reg: RegistryServer, tmp_path: Path) -> PodmanPusher:
    """podman with a private store holding the test image, tagged for `reg`, and shims."""
    podman = require_tool("podman")
    env = reg.client_env(ch.env)
    env.update(_private_podman(tmp_path / "podman"))
    # Load the tiny image offline into the private store, named for the registry.
    image = make_oci_layout(tmp_path / "oci")
    image_id = _podman(podman, env, "pull", "--quiet", f"oci:{image.path}:{image.tag}")
    _podman(podman, env, "tag", image_id, f"{reg.host}/{REPO}:v1")
    assert f"{reg.host}/{REPO}" in _podman(podman, env, "images", "--format", "{{.Repository}}")
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    _shim(shims, "podman", podman, log)
    _shim(shims, "docker-credential-credhelper", str(BIN / "docker-credential-credhelper"), log)
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    return PodmanPusher(ch, reg, image, env, log)


def assert_no_secret_in_children(p: PodmanPusher, *secrets: str) -> None:
    calls = p.calls()
    for password in (*p.reg.users.values(), *secrets):
        assert password not in calls


def test_podman_push_with_stored_login(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    proc = p.push()
    assert proc.returncode == 0, proc.stderr
    assert "Writing manifest to image destination" in proc.stdout + proc.stderr  # streamed
    assert p.reg.catalog() == [REPO]
    assert p.reg.tags(REPO) == ["v1"]
    assert p.reg.manifest_digest(REPO, "v1") is not None
    # podman re-serialises the manifest; the config (the image itself) is the one we built
    pushed = p.reg.get(
        f"/v2/{REPO}/manifests/v1",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    pushed.raise_for_status()
    built = json.loads(p.image.manifest)
    assert pushed.json()["config"]["digest"] == built["config"]["digest"]
    # the real credential path: a private --authfile naming credhelper, the CA via --cert-dir
    [call] = p.podman_calls()
    assert "--authfile" in call
    assert f"--cert-dir {p.reg.certs_d}/{p.reg.host}" in call
    assert "--tls-verify" not in call
    calls = p.calls()
    assert f'"credHelpers": {{"{p.reg.host}": "credhelper"}}' in calls
    assert "docker-credential-credhelper get" in calls
    assert_no_secret_in_children(p)


def test_podman_push_without_login(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    proc = p.push()
    assert proc.returncode == 3, proc.stderr
    assert f"no credentials stored for {p.reg.host}" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert p.podman_calls() == []  # stopped before podman ran
    assert p.reg.catalog() == []


def test_podman_push_with_a_wrong_password(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    proc = p.push()
    assert proc.returncode == 5, proc.stderr
    assert "authentication required" in proc.stderr.lower()  # podman's own output, streamed
    assert f"{p.reg.host} rejected the credentials of alice" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert "not-the-password" not in proc.stdout + proc.stderr
    assert len(p.podman_calls()) == 1
    assert "docker-credential-credhelper get" in p.calls()  # podman did ask credhelper
    assert p.reg.catalog() == []
    assert_no_secret_in_children(p, "not-the-password")


def test_podman_verifies_tls_with_the_ca_credhelper_passes(podman_pusher: PodmanPusher) -> None:
    """Without the certs.d CA (no --cert-dir) podman refuses the registry: TLS is real."""
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    p.env.pop("CREDHELPER_CERTS_D")
    proc = p.push()
    assert proc.returncode not in (0, 3, 5), proc.stderr
    assert "certificate signed by unknown authority" in proc.stderr
    [call] = p.podman_calls()
    assert "--cert-dir" not in call
    assert p.reg.catalog() == []


def test_podman_pushes_a_local_image_named_by_from(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    proc = p.push("--from", p.target, f"{p.reg.host}/other/name:v2")
    assert proc.returncode == 0, proc.stderr
    assert p.reg.tags("other/name") == ["v2"]
    [call] = p.podman_calls()
    assert call.endswith(f"{p.target} docker://{p.reg.host}/other/name:v2")


def test_podman_refuses_an_oci_layout_and_names_skopeo(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    proc = p.push("--from", f"oci:{p.image.path}", p.target)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert f"use --engine skopeo --from oci:{p.image.path}" in line
    assert p.podman_calls() == []  # refused before podman ran (it would exit 125)
    # The fix it names works, with the real skopeo.
    require_tool("skopeo")
    ok = subprocess.run(
        [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", p.target],
        capture_output=True,
        text=True,
        env=p.env,
        timeout=180,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert p.reg.tags(REPO) == ["v1"]


def test_podman_push_to_a_plain_http_loopback_registry(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    p = make_podman_pusher(ch, registry_http, tmp_path)
    assert p.reg.url.startswith("http://127.0.0.1:")
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    proc = p.push()
    assert proc.returncode == 0, proc.stderr
    assert p.reg.tags(REPO) == ["v1"]
    [call] = p.podman_calls()
    assert "--tls-verify=false" in call.split()
    assert_no_secret_in_children(p)


def test_podman_on_a_terminal_shows_its_progress(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", p.reg.users["alice"])
    status, output = run_on_tty(
        [CLI, "push", "--engine", "podman", p.target], p.env, [], size=(24, 100)
    )
    assert status == 0, output
    assert b"Copying blob" in output and b"Writing manifest to image destination" in output
    assert "tty: podman stdout is a terminal of size 24 100" in p.calls()
    assert p.reg.users["alice"].encode() not in output
    assert p.reg.tags(REPO) == ["v1"]


def test_podman_on_a_terminal_still_diagnoses_a_wrong_password(podman_pusher: PodmanPusher) -> None:
    p = podman_pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    status, output = run_on_tty(
        [CLI, "push", "--engine", "podman", p.target], p.env, [], size=(24, 100)
    )
    assert status == 5, output
    assert f"{p.reg.host} rejected the credentials of alice".encode() in output
    assert b"not-the-password" not in output
    assert p.reg.catalog() == []
