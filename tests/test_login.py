"""`credhelper login` against real registries, run as a CI job would (no terminal)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, Env
from tests.registry_server import RegistryServer
from tests.terminal import run_on_tty

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e


def login(
    ch: Env, reg: RegistryServer, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, "login", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=reg.client_env(ch.env),
        timeout=120,
        check=False,
    )
    for password in reg.users.values():
        assert password not in proc.stdout + proc.stderr
    return proc


def stored(ch: Env, server: str) -> dict[str, str] | None:
    proc = ch.helper("get", server)
    if proc.returncode != 0:
        assert b"credentials not found" in proc.stdout
        return None
    return dict(json.loads(proc.stdout))


def docker_config(ch: Env) -> dict[str, object]:
    return dict(json.loads((ch.docker_config / "config.json").read_text()))


def test_login_stores_verified_credentials(ch: Env, registry_htpasswd_tls: RegistryServer) -> None:
    reg = registry_htpasswd_tls
    proc = login(
        ch, reg, reg.host, "-u", "alice", "--password-stdin", stdin=reg.users["alice"] + "\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Login Succeeded\n"
    # one trailing newline stripped, as docker does
    assert stored(ch, reg.host) == {
        "ServerURL": reg.host,
        "Username": "alice",
        "Secret": reg.users["alice"],
    }
    # docker (and skopeo) are sent to credhelper for this registry
    assert docker_config(ch)["credHelpers"] == {reg.host: "credhelper"}
    assert ch.store.stat().st_mode & 0o777 == 0o600


def test_scheme_and_path_are_stripped_like_docker(
    ch: Env, registry_htpasswd_tls: RegistryServer
) -> None:
    reg = registry_htpasswd_tls
    url = f"https://{reg.host}/v2/"
    proc = login(ch, reg, url, "-u", "bob", "--password-stdin", stdin=reg.users["bob"])
    assert proc.returncode == 0, proc.stderr
    assert stored(ch, reg.host) is not None and stored(ch, url) is None


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong-pass"), ("mallory", "x-pass")])
def test_refused_login_stores_nothing_and_keeps_earlier(
    ch: Env, registry_htpasswd_tls: RegistryServer, user: str, password: str
) -> None:
    reg = registry_htpasswd_tls
    first = login(ch, reg, reg.host, "-u", "alice", "--password-stdin", stdin=reg.users["alice"])
    assert first.returncode == 0
    before = ch.store.read_bytes()
    proc = login(ch, reg, reg.host, "-u", user, "--password-stdin", stdin=password)
    assert proc.returncode == 5
    assert proc.stdout == ""
    assert f"rejected the credentials of {user}: authentication required" in proc.stderr
    assert password not in proc.stderr
    assert ch.store.read_bytes() == before
    assert stored(ch, reg.host) == {
        "ServerURL": reg.host,
        "Username": "alice",
        "Secret": reg.users["alice"],
    }


def test_tls_without_the_ca_names_the_fix(
    ch: Env, registry_htpasswd_tls: RegistryServer, tmp_path: Path
) -> None:
    reg = registry_htpasswd_tls
    certs_d = tmp_path / "certs.d"
    env = dict(ch.env, CREDHELPER_CERTS_D=str(certs_d))
    proc = subprocess.run(
        [CLI, "login", reg.host, "-u", "alice", "--password-stdin"],
        input=reg.users["alice"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 6
    assert "TLS failure" in proc.stderr
    assert str(certs_d / reg.host / "ca.crt") in proc.stderr
    assert not ch.store.exists()
    # with the CA where the message said, the same login works
    (certs_d / reg.host).mkdir(parents=True)
    assert reg.ca_file is not None
    (certs_d / reg.host / "ca.crt").write_bytes(reg.ca_file.read_bytes())
    proc = subprocess.run(
        [CLI, "login", reg.host, "-u", "alice", "--password-stdin"],
        input=reg.users["alice"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert stored(ch, reg.host) is not None


def test_plain_http_refused_for_non_loopback_name(ch: Env) -> None:
    # Refused before any connection or DNS lookup: the name does not even exist.
    proc = ch.cli(
        "login", "http://registry.invalid:5000", "-u", "alice", "--password-stdin", stdin="pw-123"
    )
    assert proc.returncode == 2
    assert "refusing plain HTTP to registry.invalid:5000" in proc.stderr
    assert "--insecure" in proc.stderr
    assert not ch.store.exists()


def test_plain_http_on_loopback_is_allowed(ch: Env, registry_http: RegistryServer) -> None:
    reg = registry_http
    proc = login(
        ch, reg, f"http://{reg.host}", "-u", "alice", "--password-stdin", stdin=reg.users["alice"]
    )
    assert proc.returncode == 0, proc.stderr
    assert stored(ch, reg.host) is not None


def test_token_flow_stores_the_identity_token(ch: Env, registry_token_tls: RegistryServer) -> None:
    reg = registry_token_tls
    assert reg.token is not None
    proc = login(
        ch, reg, reg.host, "-u", "alice", "--password-stdin", "--json", stdin=reg.users["alice"]
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["server"] == reg.host and info["auth"] == "bearer" and info["identityToken"]
    entry = stored(ch, reg.host)
    assert entry is not None
    # as docker stores it: username <token>, the refresh token as secret, no password
    assert entry["Username"] == "<token>"
    assert entry["Secret"] in reg.token.refresh_tokens
    assert reg.token.refresh_tokens[entry["Secret"]] == "alice"
    # a later login with no password re-checks the stored identity token
    again = login(ch, reg, reg.host)
    assert again.returncode == 0, again.stderr
    assert "existing credentials" in again.stderr


def test_token_login_wrong_password(ch: Env, registry_token_tls: RegistryServer) -> None:
    reg = registry_token_tls
    proc = login(ch, reg, reg.host, "-u", "alice", "--password-stdin", stdin="wrong-password")
    assert proc.returncode == 5
    assert "invalid username or password" in proc.stderr
    assert not ch.store.exists()


def test_token_server_failure(ch: Env, registry_token_tls: RegistryServer) -> None:
    reg = registry_token_tls
    assert reg.token is not None
    reg.token.fail = True
    proc = login(ch, reg, reg.host, "-u", "alice", "--password-stdin", stdin=reg.users["alice"])
    assert proc.returncode == 6
    assert "token server" in proc.stderr and "token backend down" in proc.stderr
    assert not ch.store.exists()


def test_unreachable_registry(ch: Env) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        proc = ch.cli("login", f"127.0.0.1:{port}", "-u", "alice", "--password-stdin", stdin="pw-1")
    assert proc.returncode == 6
    assert "cannot reach registry" in proc.stderr and "Connection refused" in proc.stderr


def test_no_terminal_no_password_fails_at_once(ch: Env) -> None:
    # stdin stays open: a login that tried to read it would hang until the timeout.
    proc = subprocess.Popen(
        [CLI, "login", "registry.example.com", "-u", "alice"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ch.env,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2
    assert "no password given and no terminal" in err
    assert "--password-stdin" in err
    assert out == ""
    assert not ch.store.exists()


def test_password_flag_warns(ch: Env, registry_htpasswd_tls: RegistryServer) -> None:
    reg = registry_htpasswd_tls
    env = reg.client_env(ch.env)
    proc = subprocess.run(
        [CLI, "login", reg.host, "-u", "bob", "-p", reg.users["bob"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "insecure" in proc.stderr and "--password-stdin" in proc.stderr
    assert reg.users["bob"] not in proc.stdout + proc.stderr


def test_usage_errors(ch: Env) -> None:
    both = ch.cli("login", "r.example", "-u", "a", "-p", "x-1", "--password-stdin", stdin="y")
    assert both.returncode == 2 and "mutually exclusive" in both.stderr
    no_user = ch.cli("login", "r.example", "--password-stdin", stdin="y")
    assert no_user.returncode == 2 and "-u USER" in no_user.stderr
    empty = ch.cli("login", "r.example", "-u", "a", "--password-stdin", stdin="\n")
    assert empty.returncode == 2 and "empty" in empty.stderr
    assert not ch.store.exists()


def test_no_verify_keeps_all_but_one_newline(ch: Env) -> None:
    proc = ch.cli(
        "login",
        "registry.invalid:5000",
        "-u",
        "ci",
        "--password-stdin",
        "--no-verify",
        stdin="tok\r\n\n",
    )
    assert proc.returncode == 0, proc.stderr
    # Nothing checked it, so it does not claim success: it says what was stored.
    assert proc.stdout == (
        "Stored the login of ci for registry.invalid:5000 without checking it "
        "with the registry (--no-verify)\n"
    )
    assert "Login Succeeded" not in proc.stdout + proc.stderr
    entry = stored(ch, "registry.invalid:5000")
    assert entry is not None and entry["Secret"] == "tok\r\n"


def test_hidden_prompt_on_a_terminal(ch: Env, registry_htpasswd_tls: RegistryServer) -> None:
    reg = registry_htpasswd_tls
    password = reg.users["alice"].encode()
    status, seen = run_on_tty(
        [CLI, "login", reg.host, "-u", "alice"],
        reg.client_env(ch.env),
        [(b"Password:", password + b"\n")],
        timeout=60,
    )
    assert status == 0, seen
    assert b"Login Succeeded" in seen
    # The prompt says whose password, for which registry.
    assert f"Logging in to {reg.host} as alice".encode() in seen
    assert password not in seen  # echo was off
    assert stored(ch, reg.host) is not None


def test_logins_do_not_pile_up_backups_of_docker_config(ch: Env) -> None:
    """Login only adds a credHelpers entry: nothing is lost, so no backup per login."""
    for i in range(3):
        proc = ch.cli(
            "login",
            f"reg{i}.example:5000",
            "-u",
            "u",
            "--password-stdin",
            "--no-verify",
            stdin="pw\n",
        )
        assert proc.returncode == 0, proc.stderr
    config = json.loads((ch.docker_config / "config.json").read_text())
    assert {f"reg{i}.example:5000" for i in range(3)} <= set(config["credHelpers"])
    assert sorted(p.name for p in ch.docker_config.glob("config.json.bak-*")) == []
