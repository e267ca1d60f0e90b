"""`credhelper logout`: every key docker may have stored a login under is erased."""

from __future__ import annotations

import json

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
