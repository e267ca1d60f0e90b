"""`credhelper logout`: every key docker may have stored a login under is erased."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Env

HUB = "https://index.docker.io/v1/"


def servers(ch: Env) -> set[str]:
    proc = ch.cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {entry["server"] for entry in json.loads(proc.stdout)}


def test_logout_erases_every_spelling(ch: Env) -> None:
    for key in ("reg.example:5000", "http://reg.example:5000", "https://reg.example:5000"):
        ch.store_creds(key, "alice", "secret-one")
    ch.store_creds("other.example", "bob", "secret-two")
    proc = ch.cli("logout", "https://reg.example:5000/v2/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Removed login credentials for reg.example:5000")
    assert servers(ch) == {"other.example"}
    again = ch.cli("logout", "reg.example:5000", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout) == {
        "server": "reg.example:5000",
        "removed": [],
        "loggedOut": False,
    }
    assert "secret" not in proc.stdout + proc.stderr + again.stdout + again.stderr


def test_logout_docker_hub(ch: Env) -> None:
    ch.store_creds(HUB, "alice", "hub-secret")
    ch.store_creds("docker.io", "alice", "hub-secret")
    proc = ch.cli("logout", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["server"] == HUB and set(info["removed"]) == {HUB, "docker.io"}
    assert servers(ch) == set()


def test_logout_when_nothing_stored(ch: Env) -> None:
    proc = ch.cli("logout", "reg.example")
    assert proc.returncode == 0
    assert "Not logged in to reg.example" in proc.stdout
    assert not ch.store.exists()  # a logout of nothing writes nothing


def test_logout_removes_an_invalidated_login(ch: Env) -> None:
    ch.store_creds("reg.example", "alice", "s3cret-x")
    ch.key.unlink()  # the key is gone: the entry now reports needs-relogin
    proc = ch.cli("logout", "reg.example")
    assert proc.returncode == 0, proc.stderr
    assert "Removed" in proc.stdout
    assert servers(ch) == set()


# ------------------------------------------------------------------ --all, --expired


def docker_config(ch: Env) -> dict[str, object]:
    doc: dict[str, object] = json.loads((ch.docker_config / "config.json").read_text())
    return doc


def write_docker_config(ch: Env, doc: dict[str, object]) -> None:
    (ch.docker_config / "config.json").write_text(json.dumps(doc, indent="\t"))


PLAIN = "cGxhaW46dGV4dA=="  # base64("plain:text"): a plaintext login the user owns


def test_logout_all_empties_the_store_and_leaves_docker_config_consistent(ch: Env) -> None:
    for server in ("a.example", "b.example", HUB):
        ch.store_creds(server, "alice", "secret-all")
    write_docker_config(
        ch,
        {
            "auths": {
                "a.example": {},
                "b.example": {},
                HUB: {},
                "stale.example": {},  # routed to credhelper, which holds nothing for it
                "other.example": {},  # another helper's login
                "plain.example": {"auth": PLAIN},
            },
            "credsStore": "credhelper",
            "credHelpers": {"a.example": "credhelper", "other.example": "desktop"},
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        },
    )
    proc = ch.cli("logout", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(proc.stdout)["removed"]) == sorted(["a.example", "b.example", HUB])
    assert servers(ch) == set()
    doc = docker_config(ch)
    # placeholders for logins credhelper no longer holds are gone; nothing else changed
    assert doc["auths"] == {"other.example": {}, "plain.example": {"auth": PLAIN}}
    assert doc["credsStore"] == "credhelper"  # later logins still go to the encrypted store
    assert doc["credHelpers"] == {"a.example": "credhelper", "other.example": "desktop"}
    assert doc["proxies"] == {"default": {"httpProxy": "http://proxy:3128"}}
    again = ch.cli("logout", "--all")
    assert again.returncode == 0 and "nothing was stored" in again.stdout


def test_logout_server_drops_its_placeholder(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "secret-one")
    write_docker_config(
        ch, {"auths": {"a.example": {}, "b.example": {}}, "credsStore": "credhelper"}
    )
    proc = ch.cli("logout", "a.example")
    assert proc.returncode == 0, proc.stderr
    assert docker_config(ch)["auths"] == {"b.example": {}}


def test_logout_all_never_creates_docker_config(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "secret-one")
    proc = ch.cli("logout", "--all")
    assert proc.returncode == 0, proc.stderr
    assert not (ch.docker_config / "config.json").exists()
    assert servers(ch) == set()


def test_logout_all_with_an_unparsable_docker_config(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "secret-one")
    bad = b'{"auths": {"a.example": {}'
    (ch.docker_config / "config.json").write_bytes(bad)
    proc = ch.cli("logout", "--all")
    assert proc.returncode == 0, proc.stderr
    assert servers(ch) == set()
    # One line, naming doctor once (the refusal already says where doctor helps).
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.count("credhelper doctor") == 1
    assert (ch.docker_config / "config.json").read_bytes() == bad  # never overwritten


def test_logout_options_are_exclusive(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "secret-one")
    for args in (["a.example", "--all"], ["--all", "--expired"], ["a.example", "--expired"]):
        proc = ch.cli("logout", *args)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1
    assert servers(ch) == {"a.example"}


def test_docker_login_after_logout_all_is_still_encrypted(ch: Env, tmp_path: Path) -> None:
    """With credsStore kept, the docker CLI still stores through credhelper."""
    from tests.conftest import require_tool
    from tests.registry_server import start_registry

    docker = require_tool("docker")
    env = dict(ch.env, DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    with start_registry(tmp_path / "reg", tls=False) as reg:
        login = ch.cli(
            "login", reg.host, "-u", "alice", "--password-stdin", stdin=reg.users["alice"] + "\n"
        )
        assert login.returncode == 0, login.stderr
        write_docker_config(ch, dict(docker_config(ch), credsStore="credhelper"))
        assert ch.cli("logout", "--all").returncode == 0
        proc = subprocess.run(
            [docker, "login", reg.host, "-u", "bob", "--password-stdin"],
            input=reg.users["bob"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert servers(ch) == {reg.host}
        assert reg.users["bob"] not in (ch.docker_config / "config.json").read_text()
        assert 'auth"' not in (ch.docker_config / "config.json").read_text()
