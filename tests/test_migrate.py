"""credhelper migrate --from docker|openeuler|isulad, with openssl-built legacy fixtures."""

from __future__ import annotations

import base64
import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------ text encodings on every import path

_escaped_text = st.lists(
    st.one_of(
        st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u00e9", "\\u0000", "\\\\"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=3).map(
            lambda s: json.dumps(s)[1:-1]
        ),
    ),
    min_size=1,
    max_size=6,
).map("".join)
_count = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=_escaped_text, password=_escaped_text, form=st.sampled_from(["fields", "auth"]))
def test_imported_text_is_what_the_protocol_path_stores(
    ch: Env, user: str, password: str, form: str
) -> None:
    """Whatever escapes a plaintext login holds, the store gets what docker would send
    (Go: a lone surrogate is U+FFFD) and `get` serves it; nothing is stored broken."""
    from credhelper import migrate as migrate_mod
    from credhelper.gojson import go_json, scrub_surrogates
    from credhelper.store import Store

    server = f"s{next(_count)}.example"
    u, p = json.loads(f'"{user}"'), json.loads(f'"{password}"')
    if form == "fields":
        entry = f'{{"username": "{user}", "password": "{password}"}}'
    else:
        raw = (scrub_surrogates(u) + ":" + scrub_surrogates(p)).encode()
        entry = f'{{"auth": "{base64.b64encode(raw).decode()}"}}'
    (ch.docker_config / "config.json").write_text(f'{{"auths": {{"{server}": {entry}}}}}')
    report = migrate_mod.migrate_docker(str(ch.docker_config / "config.json"))
    if not scrub_surrogates(u) or (form == "auth" and ":" in scrub_surrogates(u)):
        return  # not a user:password docker would send either
    assert report.imported == [server]
    creds = Store().get(server)
    # docker's decodeAuth trims NULs from the decoded password; the fields form is as is.
    expected = scrub_surrogates(p).strip("\x00") if form == "auth" else scrub_surrogates(p)
    assert (creds.username, creds.secret) == (scrub_surrogates(u), expected)
    go_json({"Username": creds.username, "Secret": creds.secret}).encode("utf-8")


@pytest.mark.e2e
def test_lone_surrogate_password_is_imported_as_docker_sends_it(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text('{"auths": {"r.example": {"username": "u", "password": "p\\ud800w"}}}')
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == ["r.example"]
    assert get(ch, "r.example") == ("u", "p\ufffdw")  # `get` works: no internal error
    listed = ch.cli("list", "--json")
    assert listed.returncode == 0 and '"ok"' in listed.stdout


@pytest.mark.e2e
def test_a_registry_name_that_is_not_text_is_reported_not_stored(ch: Env, tmp_path: Path) -> None:
    isulad = tmp_path / "isulad"
    isulad.mkdir(mode=0o700)
    key = isulad_key()
    (isulad / "aeskey").write_bytes(key)
    record = isulad_record(key, "ru", "rpw")
    text = '{"auths": {"bad\\udc80.example": {"auth": "RECORD"}}}'.replace("RECORD", record)
    (isulad / "auths.json").write_text(text)
    code, out = migrate(ch, "--from", "isulad", "--isulad-dir", str(isulad))
    assert code == NEEDS_LOGIN and out["imported"] == []
    [relogin] = out["needsLogin"]  # type: ignore[misc]
    assert "not valid text" in relogin["reason"]
    listed = ch.cli("list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


# ------------------------------------------------ the login docker used last wins


@pytest.mark.e2e
def test_install_keeps_the_login_docker_was_really_using(ch: Env) -> None:
    """uninstall, a new plaintext `docker login`, install: the newer plaintext login wins."""
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"alice:old-pw").decode()
    config.write_text(json.dumps({"auths": {"r.example": {"auth": auth}}}))
    assert ch.cli("install").returncode == 0
    assert ch.cli("uninstall").returncode == 0
    new_auth = base64.b64encode(b"alice:new-pw").decode()
    config.write_text(json.dumps({"auths": {"r.example": {"auth": new_auth}}}))  # docker login
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert get(ch, "r.example") == ("alice", "new-pw")
    assert "Replaced the stored login for r.example with the one docker was using" in proc.stdout
    # While docker calls credhelper, a stray plaintext copy is not what docker uses: kept.
    config.write_text(
        json.dumps({"auths": {"r.example": {"auth": auth}}, "credsStore": "credhelper"})
    )
    proc = ch.cli("install")
    assert proc.returncode == 0 and get(ch, "r.example") == ("alice", "new-pw")
    assert "Kept the stored login for r.example (docker was using it)" in proc.stdout


@pytest.mark.e2e
def test_doctor_stops_offering_isulad_logins_once_imported(ch: Env, tmp_path: Path) -> None:
    isulad = tmp_path / "isulad"
    isulad.mkdir(mode=0o700)
    key = isulad_key()
    (isulad / "aeskey").write_bytes(key)
    (isulad / "auths.json").write_text(
        json.dumps({"auths": {"reg.example": {"auth": isulad_record(key, "ru", "rpw")}}})
    )

    def offered() -> list[str]:
        proc = ch.cli("doctor", "--json", "--isulad-dir", str(isulad))
        return [
            f["server"]
            for f in json.loads(proc.stdout)["findings"]
            if f["id"] == "isulad.importable"
        ]

    assert offered() == ["reg.example"]
    code, _out = migrate(ch, "--from", "isulad", "--isulad-dir", str(isulad))
    assert code == 0
    assert offered() == []


# ------------------------------------------ legacy URL keys, other helpers, registry tokens


@pytest.mark.parametrize(
    "key", ["https://127.0.0.1:1/v2/", "http://127.0.0.1:1", "127.0.0.1:1/v1/"]
)
def test_migrate_imports_a_legacy_url_key_under_the_host_docker_asks_for(ch: Env, key: str) -> None:
    """docker's file store finds `https://HOST/v2/` for HOST (ConvertToHostname of
    each key): the login is stored under HOST, and credsStore's sibling credHelpers
    entry is checked under HOST too."""
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"carol:LegacyPW").decode()
    config.write_text(json.dumps({"auths": {key: {"auth": auth}}, "credsStore": "desktop"}))
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == ["127.0.0.1:1"], out
    assert get(ch, "127.0.0.1:1") == ("carol", "LegacyPW")
    doc = json.loads(config.read_text())
    assert doc["credHelpers"] == {"127.0.0.1:1": "credhelper"}
    assert doc["auths"] == {key: {}}


def test_migrate_keeps_docker_hub_under_its_v1_url(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"hubuser:HubPW").decode()
    config.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == ["https://index.docker.io/v1/"]


def test_an_exact_host_key_wins_over_a_legacy_url_key(ch: Env) -> None:
    """docker looks the exact key up first: the legacy one is never what it uses."""
    config = ch.docker_config / "config.json"
    exact = base64.b64encode(b"exact:ExactPW").decode()
    legacy = base64.b64encode(b"old:OldPW").decode()
    config.write_text(
        json.dumps(
            {"auths": {"https://r.example/v2/": {"auth": legacy}, "r.example": {"auth": exact}}}
        )
    )
    migrate(ch, "--from", "docker")
    assert get(ch, "r.example") == ("exact", "ExactPW")


def test_migrate_leaves_a_login_another_helper_serves(ch: Env) -> None:
    """credHelpers sends the registry to another helper: docker uses that helper's
    login, so the plaintext copy is stale; it is neither imported nor switched."""
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"stale:StalePW").decode()
    original = json.dumps(
        {"auths": {"r.example": {"auth": auth}}, "credHelpers": {"r.example": "desktop"}}
    )
    config.write_text(original)
    code, out = migrate(ch, "--from", "docker")
    assert code == 0 and out["imported"] == [] and get(ch, "r.example") is None
    assert any("docker-credential-desktop" in n and "r.example" in n for n in out["notes"])  # type: ignore[union-attr]
    assert config.read_text() == original


def test_migrate_reports_a_registry_token_it_cannot_move(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    auth = base64.b64encode(b"u:pw").decode()
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "t.example": {"registrytoken": "RT1"},
                    "b.example": {"auth": auth, "registrytoken": "RT2"},
                }
            }
        )
    )
    code, out = migrate(ch, "--from", "docker")
    assert code == NEEDS_LOGIN
    reported = {item["server"] for item in out["needsLogin"]}  # type: ignore[union-attr]
    assert reported == {"t.example", "b.example"}
    doc = json.loads(config.read_text())
    # The login moved; no helper can hold a registry token, so it is never dropped.
    assert doc["auths"]["b.example"] == {"registrytoken": "RT2"}
    assert doc["auths"]["t.example"] == {"registrytoken": "RT1"}
    [backup] = out["backups"]  # type: ignore[misc]
    assert b"RT1" in open_sealed(backup)


def _docker_writes_between(monkeypatch: pytest.MonkeyPatch, config: Path, after: object) -> None:
    """Let `docker login`/`logout` rewrite config.json right after migrate read its
    candidates (the window before the locked rewrite)."""
    from credhelper import migrate as migrate_mod

    real = migrate_mod.docker_candidates

    def then_docker(*args: object, **kwargs: object) -> list[migrate_mod.Candidate]:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        config.write_text(json.dumps(after, indent="\t"))
        return found

    monkeypatch.setattr(migrate_mod, "docker_candidates", then_docker)


@pytest.mark.parametrize("login", [True, False], ids=["docker-login", "docker-logout"])
def test_migrate_never_routes_docker_to_a_login_replaced_meanwhile(
    ch: Env, monkeypatch: pytest.MonkeyPatch, login: bool
) -> None:
    """A docker login (NEW) or logout between migrate's read and its locked rewrite:
    OLD is not stored, docker is not sent to credhelper for it (it would get OLD, or a
    login it logged out of), the other login still moves, and the user is told."""
    from credhelper import migrate as migrate_mod

    config = ch.docker_config / "config.json"
    old, new, other = (base64.b64encode(t).decode() for t in (b"u:OLD", b"u:NEW", b"o:pw"))
    config.write_text(
        json.dumps({"auths": {"w.example": {"auth": old}, "o.example": {"auth": other}}})
    )
    entry = {"w.example": {"auth": new}} if login else {}
    _docker_writes_between(monkeypatch, config, {"auths": {**entry, "o.example": {"auth": other}}})
    report = migrate_mod.migrate_docker(str(config))
    doc = json.loads(config.read_text())
    assert get(ch, "w.example") is None
    assert "w.example" not in doc.get("credHelpers", {})
    assert doc["auths"].get("w.example") == ({"auth": new} if login else None)
    assert report.imported == ["o.example"] and get(ch, "o.example") == ("o", "pw")
    assert doc["credHelpers"]["o.example"] == "credhelper" and doc["auths"]["o.example"] == {}
    assert any("w.example" in n and "changed since it was read" in n for n in report.notes)
    if login:  # run again (a new process), as the line says: NEW moves
        code, _out = migrate(ch, "--from", "docker")
        assert code == 0 and get(ch, "w.example") == ("u", "NEW")
