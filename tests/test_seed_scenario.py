"""The openEuler story end to end, with the real docker CLI and a real registry.

`docker login` through credsStore credhelper, then the admin deletes `aeskey` by
hand (openEuler's only way to "rotate"), then: the helper says what happened and
what to do instead of `illegal base64 data at input byte 0`, docker sees "not
found" (not an error), `docker login` again works, and the same after a real
`credhelper rotate`.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from credhelper.errors import NOT_FOUND_MESSAGE
from tests.conftest import Env, require_tool
from tests.registry_server import RegistryServer

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e


def docker(ch: Env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("docker"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=ch.env,
        timeout=120,
        check=False,
    )


def docker_login(ch: Env, reg: RegistryServer, user: str) -> subprocess.CompletedProcess[str]:
    return docker(ch, "login", reg.host, "-u", user, "--password-stdin", stdin=reg.users[user])


def test_seed_scenario_rm_aeskey_then_login_again(ch: Env, registry_http: RegistryServer) -> None:
    reg = registry_http
    user = sorted(reg.users)[0]
    password = reg.users[user]
    config = ch.docker_config / "config.json"
    config.write_text(json.dumps({"credsStore": "credhelper"}))

    login = docker_login(ch, reg, user)
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    got = ch.helper("get", reg.host)
    assert got.returncode == 0
    assert json.loads(got.stdout)["Secret"] == password
    # Docker's own file holds no secret, only its usual empty entry.
    assert password not in config.read_text()
    assert json.loads(config.read_text())["auths"][reg.host] == {}

    # The admin "rotates" the openEuler way.
    ch.key.unlink()

    got = ch.helper("get", reg.host)
    assert got.returncode == 1
    assert got.stdout.decode() == NOT_FOUND_MESSAGE + "\n"  # docker prompts / goes anonymous
    hint = got.stderr.decode()
    assert hint.count("\n") == 1 and f"credentials for {reg.host}" in hint
    assert hint.rstrip("\n").endswith(f"; run: credhelper login {reg.host}")
    assert "illegal base64" not in hint
    listing = ch.cli("list", "--json")
    assert [row["state"] for row in json.loads(listing.stdout)] == ["needs-relogin"]

    # Docker itself treats it as "no credentials", not as a broken helper: a
    # non-interactive login without a password asks for one instead of failing
    # with "error getting credentials".
    retry = docker(ch, "login", reg.host)
    assert "error getting credentials" not in retry.stderr
    assert "existing credentials" not in retry.stderr
    assert "non TTY" in retry.stderr

    # Logging in again, as the hint says, starts a new key and replaces the record.
    login = docker_login(ch, reg, user)
    assert login.returncode == 0, login.stderr
    got = ch.helper("get", reg.host)
    assert got.returncode == 0 and json.loads(got.stdout)["Secret"] == password
    states = {r["server"]: r["state"] for r in json.loads(ch.cli("list", "--json").stdout)}
    assert states == {reg.host: "ok"}
    assert (ch.key.stat().st_mode & 0o777) == 0o600

    # The supported way: a forced rotation, then the same recovery.
    rotated = ch.cli("rotate", "--yes", "--json")
    assert rotated.returncode == 0
    assert json.loads(rotated.stdout)["needsLogin"] == [reg.host]
    got = ch.helper("get", reg.host)
    assert got.returncode == 1 and b"invalidated by key rotation" in got.stderr
    login = docker_login(ch, reg, user)
    assert login.returncode == 0, login.stderr
    assert json.loads(ch.helper("get", reg.host).stdout)["Secret"] == password

    # And --reencrypt keeps docker's login working without a new login.
    assert ch.cli("rotate", "--reencrypt", "--yes").returncode == 0
    assert json.loads(ch.helper("get", reg.host).stdout)["Secret"] == password
    # docker reads them through the helper (its "existing credentials" path then
    # needs a daemon, which these machines do not run; reading them is the point).
    again = docker(ch, "login", reg.host)
    assert f"Authenticating with existing credentials... [Username: {user}]" in again.stderr
