"""`credhelper push` with real skopeo into a real registry, and docker without a daemon.

Engines are wrapped by shims on PATH that record every argv (and the content of any
--authfile), so the tests can prove no password ever reaches a child's argv.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BIN, CLI, Env, require_tool
from tests.registry_server import OciImage, RegistryServer, make_oci_layout
from tests.terminal import run_on_tty

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e

SHIM = """#!/bin/sh
log={log}
printf '%s\\n' "{name} $*" >> "$log"
prev=
for arg in "$@"; do
  if [ "$prev" = "--authfile" ]; then echo "authfile: $(cat "$arg")" >> "$log"; fi
  prev=$arg
done
exec {real} "$@"
"""


@dataclass
class Pusher:
    ch: Env
    reg: RegistryServer
    image: OciImage
    env: dict[str, str]
    log: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [CLI, *args],
            input="",
            capture_output=True,
            text=True,
            env=env or self.env,
            timeout=180,
            check=False,
        )
        for password in self.reg.users.values():
            assert password not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    def login(self, user: str = "alice") -> None:
        proc = subprocess.run(
            [CLI, "login", self.reg.host, "-u", user, "--password-stdin"],
            input=self.reg.users[user],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr

    def push_skopeo(self, tag: str = "v1") -> subprocess.CompletedProcess[str]:
        return self.run(
            "push",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{self.image.path}:{self.image.tag}",
            f"{self.reg.host}/demo/app:{tag}",
        )

    def calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _shim(directory: Path, name: str, real: str, log: Path) -> None:
    path = directory / name
    path.write_text(SHIM.format(log=log, name=name, real=real))
    path.chmod(stat.S_IRWXU)


@pytest.fixture
def pusher(ch: Env, registry_htpasswd_tls: RegistryServer, tmp_path: Path) -> Pusher:
    skopeo = require_tool("skopeo")
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    _shim(shims, "skopeo", skopeo, log)
    _shim(shims, "docker-credential-credhelper", str(BIN / "docker-credential-credhelper"), log)
    env = registry_htpasswd_tls.client_env(ch.env)
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    image = make_oci_layout(tmp_path / "oci")
    return Pusher(ch, registry_htpasswd_tls, image, env, log)


def assert_no_secret_in_children(p: Pusher) -> None:
    calls = p.calls()
    for password in p.reg.users.values():
        assert password not in calls


def test_push_with_skopeo(pusher: Pusher) -> None:
    p = pusher
    p.login()
    proc = p.push_skopeo()
    assert proc.returncode == 0, proc.stderr
    assert "Writing manifest to image destination" in proc.stdout  # streamed through
    assert p.reg.catalog() == ["demo/app"]
    assert p.reg.tags("demo/app") == ["v1"]
    assert p.reg.manifest_digest("demo/app", "v1") == p.image.manifest_digest
    calls = p.calls()
    assert "credHelpers" in calls and "docker-credential-credhelper get" in calls
    assert_no_secret_in_children(p)


def test_push_without_credentials(pusher: Pusher) -> None:
    p = pusher
    proc = pusher.push_skopeo()
    assert proc.returncode == 3
    assert f"no credentials stored for {p.reg.host}" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert "skopeo" not in p.calls()  # stopped before the engine ran
    assert p.reg.catalog() == []


def test_push_with_a_wrong_password(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    proc = p.push_skopeo()
    assert proc.returncode == 5, proc.stderr
    assert "authentication required" in proc.stderr  # skopeo's own output, streamed
    assert f"{p.reg.host} rejected the credentials of alice" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert "not-the-password" not in proc.stdout + proc.stderr
    assert p.reg.catalog() == []
    assert_no_secret_in_children(p)


def test_push_after_a_forced_rotation(pusher: Pusher) -> None:
    p = pusher
    p.login()
    p.ch.key.unlink()  # the key that sealed the login is gone
    proc = p.push_skopeo()
    assert proc.returncode == 3
    assert "invalidated by a key rotation" in proc.stderr
    assert f"credhelper login {p.reg.host}" in proc.stderr
    assert "skopeo" not in p.calls()
    # the fix it names: log in again (that starts a new key)
    p.login()
    assert p.push_skopeo().returncode == 0


def test_relogin_needs_a_terminal(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    proc = p.run(
        "push",
        "--relogin",
        "--engine",
        "skopeo",
        "--from",
        f"oci:{p.image.path}",
        f"{p.reg.host}/demo/app:v1",
    )
    assert proc.returncode == 5
    assert "--relogin needs a terminal" in proc.stderr


def test_skopeo_needs_a_source(pusher: Pusher) -> None:
    proc = pusher.run("push", "--engine", "skopeo", f"{pusher.reg.host}/demo/app:v1")
    assert proc.returncode == 2
    assert "--from" in proc.stderr


def test_docker_without_a_daemon(pusher: Pusher, tmp_path: Path) -> None:
    require_tool("docker")
    p = pusher
    p.login()
    env = dict(p.env, DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock")
    proc = p.run("push", "--engine", "docker", f"{p.reg.host}/demo/app:v1", env=env)
    assert proc.returncode == 8
    assert "docker daemon is not reachable" in proc.stderr
    assert_no_secret_in_children(p)


def test_engine_not_installed(ch: Env, tmp_path: Path) -> None:
    ch.store_creds("reg.example", "alice", "pw-x1")
    env = dict(ch.env, PATH=str(BIN))  # the venv only: no podman there
    proc = ch.cli("push", "--engine", "podman", "reg.example/app:1", env=env)
    assert proc.returncode == 8
    assert "podman engine is not installed" in proc.stderr


def test_bad_reference(ch: Env) -> None:
    proc = ch.cli("push", "--engine", "skopeo", "--from", "oci:/x", "Reg.Example/App")
    assert proc.returncode == 2
    assert "invalid reference format" in proc.stderr


def test_engine_args_after_double_dash(pusher: Pusher) -> None:
    p = pusher
    p.login()
    proc = p.run(
        "push",
        "--engine",
        "skopeo",
        "--from",
        f"oci:{p.image.path}",
        f"{p.reg.host}/demo/app:v2",
        "--",
        "--retry-times=1",
    )
    assert proc.returncode == 0, proc.stderr
    assert "--retry-times=1" in p.calls()
    assert p.reg.tags("demo/app") == ["v2"]


def test_relogin_on_a_terminal_retries_once(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    status, output = run_on_tty(
        [
            CLI,
            "push",
            "--relogin",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{p.image.path}",
            f"{p.reg.host}/demo/app:v1",
        ],
        p.env,
        [(b"Password:", p.reg.users["alice"].encode() + b"\n")],
    )
    assert status == 0, output
    assert b"rejected the credentials of alice" in output
    assert b"Login Succeeded" in output
    assert p.reg.users["alice"].encode() not in output
    assert p.reg.tags("demo/app") == ["v1"]


def test_missing_login_on_a_terminal_offers_to_log_in(pusher: Pusher) -> None:
    p = pusher
    status, output = run_on_tty(
        [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", f"{p.reg.host}/a:1"],
        p.env,
        [
            (b"now?", b"y\n"),
            (b"Username:", b"bob\n"),
            (b"Password:", p.reg.users["bob"].encode() + b"\n"),
        ],
    )
    assert status == 0, output
    assert b"no credentials stored" in output
    assert p.reg.tags("a") == ["1"]


def test_valid_login_without_push_permission(
    ch: Env, registry_token_tls: RegistryServer, tmp_path: Path
) -> None:
    require_tool("skopeo")
    reg = registry_token_tls
    assert reg.token is not None
    reg.token.read_only.add("bob")
    env = reg.client_env(ch.env)
    login = subprocess.run(
        [CLI, "login", reg.host, "-u", "bob", "--password-stdin"],
        input=reg.users["bob"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    image = make_oci_layout(tmp_path / "oci")
    proc = subprocess.run(
        [
            CLI,
            "push",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{image.path}",
            f"{reg.host}/demo/app:v1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 5, proc.stderr
    assert "is valid" in proc.stderr and "push permission" in proc.stderr
    assert reg.users["bob"] not in proc.stdout + proc.stderr
