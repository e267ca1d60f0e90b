"""credhelper migrate --from docker|openeuler|isulad, with openssl-built legacy fixtures."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.conftest import Env
from tests.test_dockerconfig import docker_load_warning, open_sealed
from tests.test_legacy import isulad_key, isulad_record, openeuler_record

NEEDS_LOGIN = 3


def get(ch: Env, server: str) -> tuple[str, str] | None:
    proc = ch.helper("get", server)
    if proc.returncode != 0:
        return None
    out = json.loads(proc.stdout)
    return out["Username"], out["Secret"]


def migrate(ch: Env, *args: str) -> tuple[int, dict[str, object]]:
    proc = ch.cli("migrate", "--json", *args)
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, NEEDS_LOGIN), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.e2e
def test_migrate_from_docker(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"alice:pw").decode()
    original = json.dumps({"auths": {"r.example": {"auth": auth}}, "credsStore": "desktop"})
    config.write_text(original)
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == ["r.example"]
    assert get(ch, "r.example") == ("alice", "pw")
    doc = json.loads(config.read_text())
    # Another credsStore stays; credhelper serves the imported registry.
    assert doc == {
        "auths": {"r.example": {}},
        "credsStore": "desktop",
        "credHelpers": {"r.example": "credhelper"},
    }
    [backup] = out["backups"]  # type: ignore[misc]
    assert open_sealed(backup) == original.encode()
    # Again: nothing to import, nothing written.
    before = sorted(p.name for p in ch.docker_config.iterdir())
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == [] and out["backups"] == []
    assert sorted(p.name for p in ch.docker_config.iterdir()) == before


@pytest.mark.e2e
def test_migrate_from_openeuler(ch: Env) -> None:
    key = os.urandom(32)
    (ch.docker_config / "aeskey").write_bytes(key)
    config = ch.docker_config / "config.json"
    other_key = os.urandom(32)
    original = json.dumps(
        {
            "auths": {
                "a.example": {"auth": openeuler_record(key, "ua", "pa")},
                "b.example:5000": {"auth": openeuler_record(key, "ub", "p:b")},
                "lost.example": {"auth": openeuler_record(other_key, "uc", "pc")},
            }
        }
    )
    config.write_text(original)
    code, out = migrate(ch, "--from", "openeuler")
    assert code == NEEDS_LOGIN
    assert sorted(out["imported"]) == ["a.example", "b.example:5000"]  # type: ignore[arg-type]
    [relogin] = out["needsLogin"]  # type: ignore[misc]
    assert relogin["server"] == "lost.example" and "wrong key" in relogin["reason"]
    assert relogin["fix"] == "credhelper login lost.example"
    assert get(ch, "a.example") == ("ua", "pa")
    assert get(ch, "b.example:5000") == ("ub", "p:b")
    doc = json.loads(config.read_text())
    assert doc["auths"]["a.example"] == {} and doc["auths"]["b.example:5000"] == {}
    # The undecryptable entry is left for doctor --fix (or the right key) to deal with.
    assert doc["auths"]["lost.example"] == json.loads(original)["auths"]["lost.example"]
    [backup] = out["backups"]  # type: ignore[misc]
    assert open_sealed(backup) == original.encode()
    text = ch.cli("migrate", "--from", "openeuler")
    assert "Needs a new login: lost.example" in text.stdout


@pytest.mark.e2e
def test_migrate_from_openeuler_without_key(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    original = json.dumps(
        {"auths": {"a.example": {"auth": openeuler_record(os.urandom(32), "u", "p")}}}
    )
    config.write_text(original)
    code, out = migrate(ch, "--from", "openeuler")
    assert code == NEEDS_LOGIN
    [relogin] = out["needsLogin"]  # type: ignore[misc]
    assert relogin["server"] == "a.example" and "missing" in relogin["reason"]
    assert config.read_text() == original
    assert sorted(p.name for p in ch.docker_config.iterdir()) == ["config.json"]


@pytest.mark.e2e
def test_migrate_from_isulad(ch: Env, tmp_path: Path) -> None:
    isulad = tmp_path / "isulad"
    isulad.mkdir(mode=0o700)
    key = isulad_key()
    (isulad / "aeskey").write_bytes(key)
    auths = json.dumps(
        {
            "auths": {
                "docker.io": {"auth": isulad_record(key, "hub", "hpw")},
                "reg.example": {"auth": isulad_record(key, "ru", "rpw")},
                "lost.example": {"auth": isulad_record(isulad_key(), "x", "y")},
            }
        }
    )
    (isulad / "auths.json").write_text(auths)
    code, out = migrate(ch, "--from", "isulad", "--isulad-dir", str(isulad))
    assert code == NEEDS_LOGIN
    assert sorted(out["imported"]) == ["https://index.docker.io/v1/", "reg.example"]  # type: ignore[arg-type]
    assert [r["server"] for r in out["needsLogin"]] == ["lost.example"]  # type: ignore[union-attr]
    assert get(ch, "https://index.docker.io/v1/") == ("hub", "hpw")
    assert get(ch, "reg.example") == ("ru", "rpw")
    assert (isulad / "auths.json").read_text() == auths  # isula still reads it
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["credsStore"] == "credhelper"
    assert docker_load_warning(ch) is None


def test_migrate_isulad_missing_dir(ch: Env, tmp_path: Path) -> None:
    proc = ch.cli("migrate", "--from", "isulad", "--isulad-dir", str(tmp_path / "none"))
    assert proc.returncode != 0
    assert "no iSulad credentials" in proc.stderr and "Traceback" not in proc.stderr
