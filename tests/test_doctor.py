"""credhelper doctor: each broken state is named; --fix repairs it without losing anything.

After every --fix the real docker CLI and docker-py load the config without a
warning, every backup restores its original byte for byte, and a second --fix
writes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from credhelper.doctor import Doctor
from tests.conftest import BIN, CLI, Env
from tests.registry_server import RegistryServer
from tests.test_dockerconfig import docker_load_warning, open_sealed
from tests.test_legacy import isulad_key, isulad_record, openeuler_record

FINDINGS = 10
pytest_plugins = ["tests.registry_server"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(ch: Env, doc: object | str) -> Path:
    path = ch.docker_config / "config.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    path.chmod(0o600)
    return path


def doctor(ch: Env, *args: str) -> dict[str, object]:
    proc = ch.cli("doctor", "--json", *args)
    assert proc.returncode in (0, FINDINGS), proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["healthy"] == (proc.returncode == 0)
    return out  # type: ignore[no-any-return]


def ids(out: dict[str, object]) -> set[str]:
    findings = out["findings"]
    assert isinstance(findings, list)
    return {f["id"] for f in findings if f["severity"] != "info"}


def problems(out: dict[str, object]) -> list[dict[str, object]]:
    findings = out["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if f["severity"] != "info"]


def snapshot_files(*dirs: Path) -> dict[Path, tuple[bytes, int, int]]:
    files: dict[Path, tuple[bytes, int, int]] = {}
    for directory in dirs:
        if not directory.exists():
            continue
        for path in directory.iterdir():
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                files[path] = (path.read_bytes(), st.st_mode, st.st_mtime_ns)
    return files


def docker_py_loads(ch: Env, monkeypatch: pytest.MonkeyPatch, servers: list[str]) -> None:
    """docker-py parses the config and resolves each registry through the helper."""
    import docker.auth

    monkeypatch.setenv("PATH", ch.env["PATH"])
    config = docker.auth.load_config(str(ch.docker_config / "config.json"))
    for server in servers:
        docker.auth.resolve_authconfig(config, server)


def check_fixed(
    ch: Env,
    monkeypatch: pytest.MonkeyPatch,
    original: dict[Path, tuple[bytes, int, int]],
    expect_ids: set[str],
) -> dict[str, object]:
    before = doctor(ch)
    assert expect_ids <= ids(before), ids(before)
    fixed = doctor(ch, "--fix")
    assert fixed["healthy"], fixed
    # docker and docker-py now load the config cleanly.
    assert docker_load_warning(ch) is None
    config_path = ch.docker_config / "config.json"
    servers = list(json.loads(config_path.read_text()).get("auths", {}))
    docker_py_loads(ch, monkeypatch, servers)
    # Every backup is a byte-for-byte copy of a file as it was, and 0600; one of
    # Docker's config that held logins is sealed with the store key (no plaintext).
    backups = fixed["backups"]
    assert isinstance(backups, list)
    for backup in backups:
        path = Path(backup)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        name = path.name.split(".bak-")[0]
        assert (path.parent / name) in original
        data = path.read_bytes()
        if path.parent == ch.docker_config and b"credhelperSealedBackup" in data:
            data = open_sealed(path)
        assert data == original[path.parent / name][0]
    # A second --fix writes nothing at all.
    after_first = snapshot_files(ch.docker_config, ch.home)
    again = ch.cli("doctor", "--fix")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to fix; nothing was written." in again.stdout
    assert snapshot_files(ch.docker_config, ch.home) == after_first
    return fixed


def stored(ch: Env, server: str) -> tuple[str, str]:
    proc = ch.helper("get", server)
    assert proc.returncode == 0, proc.stdout
    out = json.loads(proc.stdout)
    return out["Username"], out["Secret"]


BAD_AUTH = ["-abc", "dTpw=", "dXNlcg==", "OnBhc3M=", "abc", "dXNl cjpw"]


@pytest.mark.e2e
@pytest.mark.parametrize("value", BAD_AUTH)
def test_fix_undecodable_auth(ch: Env, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    write_config(
        ch,
        {
            "auths": {"bad.example": {"auth": value}, "ok.example": {}},
            "credsStore": "credhelper",
            "psFormat": "table {{.ID}}",
        },
    )
    assert docker_load_warning(ch) is not None
    original = snapshot_files(ch.docker_config)
    out = doctor(ch)
    [finding] = [f for f in problems(out) if f["server"] == "bad.example"]  # type: ignore[union-attr]
    assert finding["severity"] == "error" and finding["fixable"]
    docker_says = docker_load_warning(ch)
    assert docker_says is not None and docker_says in finding["message"]
    assert "credhelper login bad.example" in finding["fix"]
    fixed = check_fixed(ch, monkeypatch, original, set())
    assert fixed["needsLogin"] == [{"server": "bad.example", "fix": "credhelper login bad.example"}]
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["auths"]["bad.example"] == {} and doc["psFormat"] == "table {{.ID}}"


@pytest.mark.e2e
def test_fix_empty_auth_plaintext_and_tokens(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(
        ch,
        {
            "auths": {
                "empty.example": {"auth": ""},
                "plain.example": {"auth": b64("alice:s3cret:with:colons"), "email": "a@x"},
                "fields.example": {"username": "bob", "password": "pw2"},
                "token.example": {"identitytoken": "tok-123"},
            },
            "HttpHeaders": {"X-Meta": "kept"},
        },
    )
    path.chmod(0o644)
    for args in (("doctor",), ("doctor", "--json", "-v")):
        proc = ch.cli(*args)
        for secret in ("s3cret", "pw2", "tok-123"):
            assert secret not in proc.stdout + proc.stderr
    original = snapshot_files(ch.docker_config)
    check_fixed(
        ch,
        monkeypatch,
        original,
        {
            "docker-config.auth-empty",
            "docker-config.plaintext",
            "docker-config.mode",
            "docker-config.creds-store-unset",
        },
    )
    assert stored(ch, "plain.example") == ("alice", "s3cret:with:colons")
    assert stored(ch, "fields.example") == ("bob", "pw2")
    assert stored(ch, "token.example") == ("<token>", "tok-123")
    doc = json.loads(path.read_text())
    assert doc["credsStore"] == "credhelper"
    assert doc["HttpHeaders"] == {"X-Meta": "kept"}
    assert doc["auths"]["plain.example"] == {"email": "a@x"}
    assert doc["auths"]["empty.example"] == {}
    assert "s3cret" not in path.read_text() and "pw2" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.e2e
@pytest.mark.parametrize("key_state", ["right", "missing", "wrong"])
def test_openeuler_entries(ch: Env, monkeypatch: pytest.MonkeyPatch, key_state: str) -> None:
    key = os.urandom(32)
    record = openeuler_record(key, "euler", "pw-e")
    write_config(ch, {"auths": {"euler.example": {"auth": record}}})
    if key_state == "right":
        (ch.docker_config / "aeskey").write_bytes(key)
    elif key_state == "wrong":
        (ch.docker_config / "aeskey").write_bytes(os.urandom(32))
    (ch.docker_config / "aeskey").exists() and (ch.docker_config / "aeskey").chmod(0o600)
    out = doctor(ch)
    [finding] = [
        f for f in out["findings"] if f["server"] == "euler.example" and f["severity"] != "info"
    ]  # type: ignore[union-attr]
    assert "openEuler docker AES-CFB entry" in finding["message"]
    if key_state == "right":
        assert finding["id"] == "docker-config.legacy-openeuler"
    else:
        assert finding["id"] == "docker-config.legacy-openeuler-undecryptable"
        assert ("missing" if key_state == "missing" else "wrong key") in finding["message"]
    original = snapshot_files(ch.docker_config)
    fixed = check_fixed(ch, monkeypatch, original, set())
    if key_state == "right":
        assert stored(ch, "euler.example") == ("euler", "pw-e")
        assert fixed["needsLogin"] == []
    else:
        assert fixed["needsLogin"] == [
            {"server": "euler.example", "fix": "credhelper login euler.example"}
        ]
    # The key file is never touched.
    assert (ch.docker_config / "aeskey").exists() == (key_state != "missing")


@pytest.mark.e2e
def test_isulad_record_in_docker_config_is_named(ch: Env) -> None:
    record = isulad_record(isulad_key(), "isu", "pw")
    write_config(ch, {"auths": {"isu.example": {"auth": record}}, "credsStore": "credhelper"})
    out = doctor(ch)
    assert "docker-config.legacy-isulad-undecryptable" in ids(out)


@pytest.mark.e2e
def test_missing_helper_in_creds_store(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(ch, {"auths": {}, "credsStore": "desktop-not-installed"})
    original = snapshot_files(ch.docker_config)
    check_fixed(ch, monkeypatch, original, {"docker-config.helper-missing"})
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["credsStore"] == "credhelper"


@pytest.mark.e2e
def test_overridden_helper(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ch.store_creds("r.example", "u", "p")
    os.symlink("/bin/true", ch.root / "docker-credential-other")
    ch.env["PATH"] = f"{ch.root}{os.pathsep}{ch.env['PATH']}"
    write_config(
        ch, {"auths": {}, "credsStore": "credhelper", "credHelpers": {"r.example": "other"}}
    )
    out = doctor(ch)
    assert "helper.overridden" in ids(out)
    (finding,) = [f for f in out["findings"] if f["id"] == "helper.overridden"]  # type: ignore[union-attr]
    assert "docker-credential-other" in finding["message"]
    original = snapshot_files(ch.docker_config)
    check_fixed(ch, monkeypatch, original, set())
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["credHelpers"] == {"r.example": "credhelper"}


def _installed(ch: Env) -> None:
    write_config(ch, {"auths": {"r.example": {}}, "credsStore": "credhelper"})
    ch.store_creds("r.example", "alice", "pw")
    ch.store_creds("s.example", "bob", "pw2")


BREAKERS: dict[str, tuple[Callable[[Env], None], set[str]]] = {
    "store-dir-mode": (lambda ch: ch.home.chmod(0o755), {"store.dir-mode"}),
    "store-file-mode": (lambda ch: ch.store.chmod(0o644), {"store.file-mode"}),
    "key-mode": (lambda ch: ch.key.chmod(0o640), {"key-mode"}),
    "lock-symlink": (
        lambda ch: (
            (ch.home / "config.json.lock").unlink(),
            (ch.home / "config.json.lock").symlink_to("/tmp/elsewhere"),
        ),
        {"store.lock-symlink"},
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_fix_store_permissions(ch: Env, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _installed(ch)
    breaker, expected = BREAKERS[name]
    breaker(ch)
    if name != "store-file-mode":  # a successful write would rewrite the file 0600
        fail = ch.helper("store", json.dumps({"ServerURL": "t", "Username": "u", "Secret": "p"}))
        assert fail.returncode == 1  # credhelper refuses the insecure state
    original = snapshot_files(ch.docker_config, ch.home)
    check_fixed(ch, monkeypatch, original, expected)
    assert stored(ch, "r.example") == ("alice", "pw")
    assert stored(ch, "s.example") == ("bob", "pw2")


@pytest.mark.e2e
def test_corrupt_entry_moved_aside(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(ch)
    doc = json.loads(ch.store.read_text())
    sealed = base64.b64decode(doc["auths"]["r.example"]["sealed"])
    doc["auths"]["r.example"]["sealed"] = base64.b64encode(
        sealed[:-1] + bytes([sealed[-1] ^ 1])
    ).decode()
    ch.store.write_text(json.dumps(doc))
    ch.store.chmod(0o600)
    out = doctor(ch)
    [finding] = [f for f in out["findings"] if f["id"] == "store.entry-corrupt"]  # type: ignore[union-attr]
    assert "authentication failed" in finding["message"]
    original = snapshot_files(ch.docker_config, ch.home)
    fixed = check_fixed(ch, monkeypatch, original, {"store.entry-corrupt"})
    assert fixed["needsLogin"] == [{"server": "r.example", "fix": "credhelper login r.example"}]
    assert stored(ch, "s.example") == ("bob", "pw2")
    [backup] = fixed["backups"]  # type: ignore[misc]
    assert "r.example" in json.loads(Path(backup).read_text())["auths"]


@pytest.mark.e2e
def test_unparsable_store_moved_aside(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(ch)
    ch.store.write_bytes(ch.store.read_bytes()[:40])
    original = snapshot_files(ch.docker_config, ch.home)
    out = doctor(ch)
    assert "store.unreadable" in ids(out)
    check_fixed(ch, monkeypatch, original, {"store.unreadable"})
    assert not ch.store.exists()


def test_unknown_version_is_not_touched(ch: Env) -> None:
    _installed(ch)
    ch.store.write_text('{"version": 99, "auths": {}}')
    ch.store.chmod(0o600)
    before = snapshot_files(ch.home)
    out = doctor(ch, "--fix")
    assert "store.unreadable" in ids(out) and not out["healthy"]
    assert snapshot_files(ch.home) == before


def test_missing_key_reported(ch: Env) -> None:
    _installed(ch)
    ch.key.unlink()
    out = doctor(ch)
    assert {"key.missing", "store.entry-needs-login"} <= ids(out)
    messages = " ".join(f["message"] for f in out["findings"])  # type: ignore[union-attr]
    assert "r.example" in messages and "pw" not in messages.split()


def test_missing_key_counts_the_logins(ch: Env) -> None:
    """Three logins under one key: doctor counts logins, not key ids, and says each
    server once, without sending the user back to doctor."""
    _installed(ch)
    ch.store_creds("127.0.0.1:5000", "carol", "pw3")
    ch.key.unlink()
    out = doctor(ch)
    findings = out["findings"]
    assert isinstance(findings, list)
    (missing,) = [f for f in findings if f["id"] == "key.missing"]
    assert "the 3 stored login(s) sealed with it" in missing["message"]
    needs = [f for f in findings if f["id"] == "store.entry-needs-login"]
    assert sorted(f["server"] for f in needs) == ["127.0.0.1:5000", "r.example", "s.example"]
    for finding in needs:
        assert finding["message"].count(finding["server"]) == 1, finding
        assert f"run: {finding['fix']}" not in finding["message"]
    text = ch.cli("doctor")
    assert text.returncode == FINDINGS
    assert "run: credhelper doctor" not in text.stdout


def test_replaced_key_reported(ch: Env) -> None:
    _installed(ch)
    ch.key.write_bytes(os.urandom(32))
    assert "key.mismatch" in ids(doctor(ch))


@pytest.mark.parametrize(
    "text, where",
    [
        ('{\n\t"auths": {\n\t\t"a": {},\n\t}\n}', "line 4 column"),
        ('{"auths": {"a": {"auth": "dTpw"}', "line 1 column"),
        ("\ufeff{}", "line 1 column 1"),
        ("{'auths': {}}", "line 1 column 2"),
        ('{"auths": {}, "n": NaN}', "NaN"),
    ],
)
@pytest.mark.e2e
def test_json_error_with_position_never_rewritten(ch: Env, text: str, where: str) -> None:
    path = write_config(ch, text)
    out = doctor(ch, "--fix")
    [finding] = [f for f in out["findings"] if f["id"] == "docker-config.json"]  # type: ignore[union-attr]
    assert where in finding["message"]
    docker_says = docker_load_warning(ch)
    assert docker_says is not None and docker_says in finding["message"]
    assert path.read_text() == text
    assert sorted(p.name for p in ch.docker_config.iterdir()) == ["config.json"]


@pytest.mark.e2e
def test_type_error_reported_with_dockers_message(ch: Env) -> None:
    path = write_config(ch, '{"auths": {"a": {"auth": 5}}, "credsStore": "credhelper"}')
    out = doctor(ch, "--fix")
    [finding] = [f for f in out["findings"] if f["id"] == "docker-config.type"]  # type: ignore[union-attr]
    docker_says = docker_load_warning(ch)
    assert docker_says is not None and docker_says in finding["message"]
    assert path.read_text() == '{"auths": {"a": {"auth": 5}}, "credsStore": "credhelper"}'


def test_helper_not_on_path(ch: Env) -> None:
    write_config(ch, {"auths": {}, "credsStore": "credhelper"})
    proc = subprocess.run(
        [str(BIN / "credhelper"), "doctor", "--json"],
        capture_output=True,
        text=True,
        env=dict(ch.env, PATH="/usr/bin:/bin"),
        timeout=60,
        check=False,
    )
    assert proc.returncode == FINDINGS
    out = json.loads(proc.stdout)
    [finding] = [f for f in problems(out) if f["id"] == "helper.not-on-path"]
    assert finding["severity"] == "error"


def test_healthy_setup_exits_zero(ch: Env) -> None:
    _installed(ch)
    proc = ch.cli("doctor")
    assert proc.returncode == 0, proc.stdout
    assert "no problems found" in proc.stdout


def test_online_reports_cleanly(ch: Env) -> None:
    _installed(ch)
    proc = ch.cli(
        "doctor", "--online", "--json", env=dict(ch.env, HTTPS_PROXY="http://127.0.0.1:9")
    )
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    online = [f for f in out["findings"] if f["id"].startswith("online.")]
    assert online, out


@pytest.mark.e2e
def test_fresh_machine_fix_creates_config(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    out = doctor(ch)
    assert "docker-config.creds-store-unset" in ids(out)
    check_fixed(ch, monkeypatch, {}, set())
    config = ch.docker_config / "config.json"
    assert config.read_bytes() == b'{\n\t"auths": {},\n\t"credsStore": "credhelper"\n}'
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


@pytest.mark.e2e
def test_online_checks_each_login(ch: Env, registry_http: RegistryServer) -> None:
    user, password = next(iter(registry_http.users.items()))
    ch.store_creds(registry_http.host, user, password)
    write_config(ch, {"auths": {}, "credsStore": "credhelper"})
    out = doctor(ch, "--online")
    assert out["healthy"], out
    assert any(f["id"] == "online.ok" for f in out["findings"])  # type: ignore[union-attr]
    ch.store_creds(registry_http.host, user, "not-the-password")
    out = doctor(ch, "--online")
    [finding] = [f for f in problems(out) if f["id"] == "online.rejected"]
    assert finding["fix"] == f"credhelper login {registry_http.host}"
    assert "not-the-password" not in json.dumps(out)


@pytest.mark.e2e
def test_hub_alias_in_cred_helpers(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        ch, {"auths": {}, "credsStore": "credhelper", "credHelpers": {"docker.io": "credhelper"}}
    )
    original = snapshot_files(ch.docker_config)
    check_fixed(ch, monkeypatch, original, {"docker-config.hub-key"})
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["credHelpers"] == {
        "docker.io": "credhelper",
        "https://index.docker.io/v1/": "credhelper",
    }


def test_shadowing_helper_reported(ch: Env, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "docker-credential-credhelper"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'docker-credential-credhelper (credhelper) 0.0.1'\n")
    fake.chmod(0o755)
    env = dict(ch.env, PATH=f"{fake.parent}{os.pathsep}{ch.env['PATH']}")
    proc = ch.cli("doctor", "--json", env=env)
    out = json.loads(proc.stdout)
    [finding] = [f for f in problems(out) if f["id"] == "helper.version-mismatch"]
    assert str(fake) in finding["message"] and "0.0.1" in finding["message"]


def test_owner(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root can take a store file back (--fix); anyone else is told the exact command."""
    if os.geteuid() != 0:
        env = dict(ch.env, CREDHELPER_HOME="/")  # root-owned; doctor only reads
        proc = ch.cli("doctor", "--json", env=env)
        [finding] = [f for f in problems(json.loads(proc.stdout)) if f["id"] == "store.dir-owner"]
        assert not finding["fixable"] and finding["fix"].startswith("sudo chown")
        return
    _installed(ch)
    os.chown(ch.store, 4242, 4242)
    assert "store.file-owner" in ids(doctor(ch))
    original = snapshot_files(ch.docker_config, ch.home)
    check_fixed(ch, monkeypatch, original, {"store.file-owner"})
    assert ch.store.stat().st_uid == 0
    assert stored(ch, "r.example") == ("alice", "pw")


def test_never_chmods_a_shared_directory(ch: Env, tmp_path: Path) -> None:
    shared = tmp_path / "shared-home"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("not credhelper's")
    env = dict(ch.env, CREDHELPER_HOME=str(shared))
    proc = ch.cli("doctor", "--fix", "--json", env=env)
    out = json.loads(proc.stdout)
    [finding] = [f for f in problems(out) if f["id"] == "store.dir-mode"]
    assert not finding["fixable"] and "CREDHELPER_HOME" in finding["fix"]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_plaintext_kept_when_store_cannot_take_it(ch: Env) -> None:
    path = write_config(
        ch, {"auths": {"p.example": {"auth": b64("u:pw")}, "bad.example": {"auth": "-"}}}
    )
    before = path.read_bytes()
    env = dict(ch.env, CREDHELPER_KEY_PROVIDER="env")  # no key available: import must fail
    proc = ch.cli("doctor", "--fix", "--json", env=env)
    out = json.loads(proc.stdout)
    assert any("could not move logins" in f for f in out["notFixed"])
    # The other repair would need a backup of a file holding u:pw; with no key to
    # seal it, credhelper refuses rather than write a plaintext copy.
    assert any("store key is not available" in f for f in out["notFixed"]), out["notFixed"]
    assert path.read_bytes() == before  # never dropped, nothing half done
    assert list(ch.docker_config.glob("config.json.bak-*")) == []


def test_fix_without_helper_on_path_keeps_docker_working(ch: Env) -> None:
    path = write_config(ch, {"auths": {"p.example": {"auth": b64("u:pw")}}})
    proc = subprocess.run(
        [str(BIN / "credhelper"), "doctor", "--fix", "--json"],
        capture_output=True,
        text=True,
        env=dict(ch.env, PATH="/usr/bin:/bin"),
        timeout=60,
        check=False,
    )
    out = json.loads(proc.stdout)
    assert proc.returncode == FINDINGS
    assert any("not on PATH" in f for f in out["notFixed"])
    assert json.loads(path.read_text()) == {"auths": {"p.example": {"auth": b64("u:pw")}}}


# ------------------------------------------------ case-variant keys, login advice


@pytest.mark.e2e
def test_doctor_reports_what_docker_really_uses_and_fix_folds_it(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text(
        '{"credsStore": "credhelper", "CredsStore": "nosuchhelper", "auths": {}, "x": 1e400}'
    )
    before = doctor(ch)
    # docker calls docker-credential-nosuchhelper (the last key): every pull would fail.
    assert {"docker-config.duplicate-key", "docker-config.helper-missing"} <= ids(before)
    fixed = doctor(ch, "--fix")
    assert fixed["healthy"], fixed
    text = config.read_text()
    assert "CredsStore" not in text and '"credsStore": "credhelper"' in text
    assert '"x": 1e400' in text
    assert docker_load_warning(ch) is None


@pytest.mark.e2e
def test_login_with_a_broken_config_names_a_step_that_works(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text('{"auths": {}, "x": NaN}')
    proc = ch.cli("login", "r.example", "-u", "u", "--password-stdin", "--no-verify", stdin="pw")
    assert proc.returncode == 0, proc.stderr
    assert "doctor --fix" not in proc.stderr
    assert "fix it by hand" in proc.stderr
    # And the step it names does work: fixed by hand, the same login routes docker.
    config.write_text('{"auths": {}, "x": 1}')
    proc = ch.cli("login", "r.example", "-u", "u", "--password-stdin", "--no-verify", stdin="pw")
    assert proc.returncode == 0 and "WARNING: logged in, but" not in proc.stderr
    assert json.loads(config.read_text())["credHelpers"] == {"r.example": "credhelper"}


def test_helper_not_on_path_names_the_directory_to_add(ch: Env) -> None:
    from tests.conftest import CLI

    proc = ch.cli("doctor", "--json", env={**ch.env, "PATH": "/usr/bin:/bin"})
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["id"] == "helper.not-on-path"]
    directory = os.path.dirname(CLI)
    assert f'export PATH="{directory}:$PATH"' in finding["fix"] and "pipx" not in finding["fix"]


# ------------------------------------------ attacks on reading/writing docker's config


def test_doctor_counts_helper_found_only_through_empty_path_entry(ch: Env) -> None:
    """PATH with an empty entry (":/usr/bin", a classic shell-profile slip) and
    docker-credential-credhelper only in the current directory: shutil.which finds
    it (Python treats "" as "."), so doctor says "no problems found". docker's Go
    exec.LookPath refuses a result found through "." (exec.ErrDot, Go >= 1.19) and
    never runs it: the oracle below shows docker does not run a helper placed that
    way, so every pull/push fails while doctor reports nothing."""
    import subprocess

    from tests.conftest import CLI, HELPER, require_tool

    docker = require_tool("docker")
    cwd = ch.root / "cwd"
    cwd.mkdir()
    # Oracle: a fake helper reachable only through the empty PATH entry.
    log = ch.root / "fake.log"
    fake = cwd / "docker-credential-fake"
    fake.write_text(f'#!/bin/sh\necho ran "$1" >> {log}\nexit 0\n')
    fake.chmod(0o755)
    oracle_cfg = ch.root / "oracle"
    oracle_cfg.mkdir()
    (oracle_cfg / "config.json").write_text('{"credsStore":"fake","auths":{"r.io":{}}}')
    path = ":/usr/local/bin:/usr/bin:/bin"
    env = dict(ch.env, PATH=path, DOCKER_HOST=f"unix://{ch.root}/no-daemon.sock")
    subprocess.run(
        [docker, "--config", str(oracle_cfg), "logout", "r.io"],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert not log.exists(), "docker ran a helper found through '.' (oracle assumption broken)"
    # The same layout for credhelper: only ./docker-credential-credhelper.
    (cwd / "docker-credential-credhelper").symlink_to(HELPER)
    config = ch.docker_config / "config.json"
    config.write_text('{"credsStore":"credhelper","auths":{"r.io":{}}}')
    config.chmod(0o600)
    doctor = subprocess.run(
        [CLI, "doctor"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "helper.not-on-path" in doctor.stdout, (
        f"docker cannot run the helper, doctor says: {doctor.stdout!r}"
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"auths":{"r.io":{"auth":"%s"}},"auths":{"r.io":{}}}',
        '{"auths":{"r.io":{"auth":"%s"}},"Auths":null}',
        '{"auths":{"r.io":{"auth":"%s","AUTH":""}}}',
        '{"auths":{"r.io":{"auth":"%s"},"r.io":{}}}',
    ],
)
def test_doctor_reports_and_fixes_credentials_docker_does_not_see(ch: Env, text: str) -> None:
    """A shadowed duplicate or case variant is plaintext in the file although docker
    ignores it: doctor names it (never 'no problems'), --fix drops it after a sealed
    backup, and doctor then finds no plaintext copy anywhere."""
    ch.store_creds("k.io", "u", "p")  # the store has a key to seal with
    secret = b64("ivan:ShadowPW9")
    path = write_config(ch, text % secret)
    out = doctor(ch)
    assert "docker-config.plaintext-shadowed" in ids(out), ids(out)
    fixed = doctor(ch, "--fix")
    assert secret not in path.read_text()
    for backup in ch.docker_config.glob("config.json.bak-*"):
        assert secret.encode() not in backup.read_bytes()
        assert secret.encode() in open_sealed(backup)
    assert "docker-config.plaintext-shadowed" not in ids(fixed)


def test_doctor_flags_a_plaintext_backup_holding_a_shadowed_login(ch: Env) -> None:
    write_config(ch, {"auths": {}})
    secret = b64("judy:OldBackupPW")
    backup = ch.docker_config / "config.json.bak-20260101T000000Z"
    backup.write_text('{"auths":{"r.io":{"AUTH":"' + secret + '"},"r.io":{}}}')
    backup.chmod(0o600)
    assert "docker-config.plaintext-backup" in ids(doctor(ch))


def test_doctor_reports_a_registry_token(ch: Env) -> None:
    write_config(ch, {"auths": {"t.io": {"registrytoken": "RegTok"}}, "credsStore": "credhelper"})
    out = doctor(ch)
    assert out["healthy"] is False
    [finding] = [f for f in problems(out) if f["id"] == "docker-config.registry-token"]
    assert finding["server"] == "t.io" and "RegTok" not in json.dumps(out)


def test_doctor_does_not_swap_in_a_stale_copy_another_helper_shadows(ch: Env) -> None:
    path = write_config(
        ch,
        {"auths": {"o.io": {"auth": b64("stale:StalePW")}}, "credHelpers": {"o.io": "desktop"}},
    )
    fakebin = ch.root / "fakebin"
    fakebin.mkdir()
    (fakebin / "docker-credential-desktop").write_text("#!/bin/sh\nexit 1\n")
    (fakebin / "docker-credential-desktop").chmod(0o755)
    env = dict(ch.env, PATH=f"{fakebin}:{ch.env['PATH']}")
    out = json.loads(ch.cli("doctor", "--json", env=env).stdout)
    [finding] = [f for f in problems(out) if f["id"] == "docker-config.plaintext"]
    assert "docker-credential-desktop" in finding["message"] and not finding["fixable"]
    ch.cli("doctor", "--fix", "--json", env=env)
    doc = json.loads(path.read_text())
    assert doc["credHelpers"] == {"o.io": "desktop"}
    assert doc["auths"]["o.io"] == {"auth": b64("stale:StalePW")}  # left for the user


def _seed_two(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "SECRET-A-123")
    ch.store_creds("b.example", "bob", "SECRET-B-456")


def _raw_edit(ch: Env, edit: Callable[[dict[str, object]], None]) -> None:
    """Apply `edit` to the parsed store, then turn every SURR into a JSON \\ud800 escape."""
    doc = json.loads(ch.store.read_bytes())
    edit(doc)
    ch.store.write_bytes(json.dumps(doc).replace("SURR", "\\ud800").encode())


@pytest.mark.parametrize("where", ["server", "keyId"])
def test_doctor_survives_a_lone_surrogate_in_the_store(ch: Env, where: str) -> None:
    """A server name or an entry's keyId that is the JSON escape "\\ud800": `doctor`
    and `doctor --fix` report it (escaped) instead of dying with an internal error
    (UnicodeEncodeError); list, get and doctor --json cope as well."""
    _seed_two(ch)

    def edit(doc: dict[str, object]) -> None:
        auths = doc["auths"]
        assert isinstance(auths, dict)
        if where == "server":
            auths["SURR"] = {"invalidated": "t", "reason": "r"}
        else:
            auths["a.example"]["keyId"] = "SURR"

    _raw_edit(ch, edit)
    assert ch.cli("list").returncode == 0
    for args in (("doctor",), ("doctor", "--fix")):
        proc = ch.cli(*args)
        out = proc.stdout + proc.stderr
        assert "internal error" not in out and "Traceback" not in out, (args, out[-300:])
        assert proc.returncode in (0, FINDINGS), (args, out[-300:])
        assert "\\ud800" in proc.stdout, (args, out[-300:])  # shown escaped, not dropped
    assert b"SECRET-B-456" in ch.helper("get", b"b.example").stdout


def test_doctor_never_echoes_control_characters_from_the_store(ch: Env) -> None:
    """A planted keyId ("\\x1b]0;PWNED\\x07\\x1b[2J": OSC title, clear screen) and an ESC
    in a server name: doctor and doctor --fix show them escaped, never raw."""
    _seed_two(ch)
    doc = json.loads(ch.store.read_bytes())
    doc["auths"]["a.example"]["keyId"] = "\x1b]0;PWNED\x07\x1b[2J"
    doc["auths"]["evil\x1b[2J.example"] = doc["auths"]["b.example"]  # corrupt: AAD binds server
    ch.store.write_bytes(json.dumps(doc).encode())
    for args in (("doctor",), ("doctor", "--fix")):
        proc = ch.cli(*args)
        assert "\x1b" not in proc.stdout + proc.stderr, (args, proc.stdout[-400:])
        assert "evil\\x1b[2J.example" in proc.stdout, (args, proc.stdout[-400:])


# --- The window between diagnosis and --fix (docker edits config.json in it) ---

WIN_SERVER, WIN_USER, WIN_OLD, WIN_NEW = (
    "reg.example",
    "alice",
    "old-secret-AAAA",
    "new-secret-BBBB",
)


def stored_or_none(ch: Env, server: str) -> dict[str, str] | None:
    proc = ch.helper("get", server)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def diagnosed_then(ch: Env, after: object) -> tuple[Path, Doctor]:
    """Diagnose a plaintext OLD login, then let docker rewrite config.json to `after`."""

    cfg = write_config(ch, {"auths": {WIN_SERVER: {"auth": b64(f"{WIN_USER}:{WIN_OLD}")}}})
    diagnosis = Doctor(str(cfg), search_path=ch.env["PATH"])
    diagnosis.run()
    assert any(f.id == "docker-config.plaintext" for f in diagnosis.findings)
    write_config(ch, json.dumps(after, indent="\t"))
    return cfg, diagnosis


def test_fix_never_installs_a_login_docker_replaced_since_diagnosis(ch: Env) -> None:
    """`docker login` rewrote OLD to NEW in the window: OLD is not stored, docker is not
    pointed at credhelper, NEW stays where docker reads it, and the user is told."""
    new_auth = b64(f"{WIN_USER}:{WIN_NEW}")
    cfg, diagnosis = diagnosed_then(ch, {"auths": {WIN_SERVER: {"auth": new_auth}}})
    report = diagnosis.fix()
    doc = json.loads(cfg.read_text())
    assert doc["auths"][WIN_SERVER]["auth"] == new_auth
    assert "credsStore" not in doc and "credHelpers" not in doc
    assert stored_or_none(ch, WIN_SERVER) is None
    assert any("changed since diagnosis; run --fix again" in f for f in report.failures)
    # The second --fix (as the line says) moves NEW: docker then gets NEW from the store.
    proc = ch.cli("doctor", "--fix")
    assert "Traceback" not in proc.stderr
    got = stored_or_none(ch, WIN_SERVER)
    assert got is not None and got["Secret"] == WIN_NEW
    assert json.loads(cfg.read_text()).get("credsStore") == "credhelper"


def test_fix_takes_routing_from_the_file_as_it_is_at_the_fix(ch: Env) -> None:
    """Diagnosed while docker read the plaintext OLD itself; then the user stored NEW
    in credhelper and set credsStore by hand, the stale OLD entry still there: docker
    now uses the store's NEW, so OLD must not replace it."""
    ch.put(WIN_SERVER, WIN_USER, WIN_NEW)
    old_auth = b64(f"{WIN_USER}:{WIN_OLD}")
    after = {"credsStore": "credhelper", "auths": {WIN_SERVER: {"auth": old_auth}}}
    cfg, diagnosis = diagnosed_then(ch, after)
    diagnosis.fix()
    got = stored_or_none(ch, WIN_SERVER)
    assert got is not None and got["Secret"] == WIN_NEW
    assert json.loads(cfg.read_text())["auths"][WIN_SERVER]["auth"] == old_auth


def test_fix_never_resurrects_a_login_docker_logged_out_of(ch: Env) -> None:
    cfg, diagnosis = diagnosed_then(ch, {"auths": {}})
    diagnosis.fix()
    assert stored_or_none(ch, WIN_SERVER) is None
    assert json.loads(cfg.read_text()) == {"auths": {}}


def test_fix_keeps_a_plaintext_login_that_differs_from_the_stored_one(ch: Env) -> None:
    """Docker uses the store's login, yet config.json holds a different plaintext one:
    that copy may be the newer login, so --fix never strips it (it says so)."""
    ch.put(WIN_SERVER, WIN_USER, WIN_OLD)
    new_auth = b64(f"{WIN_USER}:{WIN_NEW}")
    cfg = write_config(ch, {"credsStore": "credhelper", "auths": {WIN_SERVER: {"auth": new_auth}}})
    proc = ch.cli("doctor", "--fix")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert json.loads(cfg.read_text())["auths"][WIN_SERVER]["auth"] == new_auth
    assert "different one" in proc.stdout + proc.stderr
    got = stored_or_none(ch, WIN_SERVER)
    assert got is not None and got["Secret"] == WIN_OLD


def test_fix_failure_lines_are_in_doctors_own_words(ch: Env) -> None:
    """A store repair that fails (the store dir is not dedicated, so doctor will not
    chmod it): its line neither repeats "credhelper: " mid-line nor sends the user
    back to doctor, in text and in JSON."""
    ch.put(WIN_SERVER, WIN_USER, WIN_OLD)
    (ch.home / "user-file.txt").write_text("mine\n")
    (ch.home / ".config.json.tmp-deadbeef").write_bytes(b"x")
    os.chmod(ch.home, 0o755)  # noqa: S103 (the state under test)
    text = ch.cli("doctor", "--fix")
    assert "not fixed: could not repair the store: refusing store directory" in text.stdout
    as_json = ch.cli("doctor", "--fix", "--json")
    for out in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        assert "Traceback" not in out
        assert ": credhelper: " not in out
        assert "credhelper doctor --fix)" not in out and "run: credhelper doctor" not in out


def test_fix_seals_only_backups_still_as_diagnosed(ch: Env) -> None:
    """Backups diagnosed as plaintext, then one replaced by a file holding no login and
    one by a symbolic link: both are left as they are, the third is sealed, and the
    rest of Docker's config is still repaired (its plaintext login moves)."""
    from credhelper import backups
    from credhelper.doctor import Doctor

    ch.put("seed.example", "u", "seed")  # a store key exists, so backups can be sealed
    plain = json.dumps({"auths": {WIN_SERVER: {"auth": b64(f"{WIN_USER}:{WIN_OLD}")}}})
    cfg = write_config(ch, {"auths": {"p.example": {"auth": b64("bob:pw")}}})
    swapped, linked, kept = (
        ch.docker_config / f"config.json.bak-2025010{i}T000000Z" for i in (1, 2, 3)
    )
    for bak in (swapped, linked, kept):
        bak.write_text(plain)
        bak.chmod(0o600)
    victim = ch.root / "victim.txt"
    victim.write_text(plain)
    diagnosis = Doctor(str(cfg), search_path=ch.env["PATH"])
    diagnosis.run()
    assert any(f.id == "docker-config.plaintext-backup" for f in diagnosis.findings)
    swapped.write_bytes(b"notes the user keeps here\n")
    linked.unlink()
    linked.symlink_to(victim)
    report = diagnosis.fix()
    assert swapped.read_bytes() == b"notes the user keeps here\n"
    assert linked.is_symlink() and victim.read_text() == plain
    assert backups.sealed_key_id(kept.read_bytes()) is not None
    assert any(str(linked) in f for f in report.failures)
    got = stored_or_none(ch, "p.example")
    assert got is not None and got["Secret"] == "pw"
    assert json.loads(cfg.read_text())["auths"]["p.example"] == {}


# --- Hostile files and swaps around --fix, killed and concurrent fixes ---

USER, OLD, NEW, SERVER = WIN_USER, WIN_OLD, WIN_NEW, WIN_SERVER


def _auth(user: str, secret: str) -> str:
    return b64(f"{user}:{secret}")


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


_get = stored_or_none


def test_stale_temp_swapped_for_symlink_only_link_removed(ch: Env) -> None:
    from credhelper.doctor import Doctor

    cfg = ch.docker_config / "config.json"
    _write(cfg, json.dumps({"credsStore": "credhelper", "auths": {}}).encode())
    temp = ch.docker_config / ".config.json.tmp-abc123"
    _write(temp, b'{"auths":{"x":{"auth":"' + _auth(USER, OLD).encode() + b'"}}}')
    outside = ch.root / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(b"precious\n")
    doctor = Doctor(str(cfg))
    doctor.run()
    assert any(f.id == "docker-config.stale-temp" for f in doctor.findings)
    temp.unlink()
    os.symlink(victim, temp)
    doctor.fix()
    assert victim.read_bytes() == b"precious\n"


def test_store_file_chmod_swapped_for_symlink(ch: Env) -> None:
    """store file diagnosed 0644, then replaced by a symlink to a 0644 file of ours."""
    from credhelper.doctor import Doctor

    ch.put(SERVER, USER, OLD)
    os.chmod(ch.store, 0o644)
    victim = ch.root / "victim.txt"
    victim.write_bytes(b"x")
    os.chmod(victim, 0o644)
    doctor = Doctor(str(ch.docker_config / "config.json"))
    doctor.run()
    assert any(f.id == "store.file-mode" for f in doctor.findings)
    real = ch.root / "store.real"
    os.rename(ch.store, real)
    os.symlink(victim, ch.store)
    doctor.fix()
    assert oct(victim.stat().st_mode & 0o777) == oct(0o644)
    os.unlink(ch.store)
    os.rename(real, ch.store)


HOSTILE = {
    "deep": b"[" * 100000 + b"]" * 100000,
    "nan": b'{"auths":{"r.example":{"auth":NaN}},"x":1e999}',
    "bom": b'\xef\xbb\xbf{"auths":{"r.example":{"auth":"dXNlcjpwYXNz"}}}',
    "badutf8": b'{"auths":{"r\xff\xfe.example":{"auth":"dXNlcjpwYXNz"}}}',
    "bigint": b'{"auths":{"r.example":{"auth":' + b"9" * 100000 + b"}}}",
    "trailing": b'{"auths":{"r.example":{"auth":"dXNlcjpwYXNz"}}} {"x":1}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_unparseable_config_untouched(ch: Env, name: str) -> None:
    cfg = ch.docker_config / "config.json"
    data = HOSTILE[name]
    _write(cfg, data)
    for args in (["doctor", "--json"], ["doctor", "--fix", "--json"]):
        proc = ch.cli(*args)
        assert proc.returncode == 10, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        json.loads(proc.stdout)
    assert cfg.read_bytes() == data
    for p in ch.root.rglob("*"):
        if p.is_file() and p != cfg:
            assert b"dXNlcjpwYXNz" not in p.read_bytes(), p


def test_hostile_names_escaped_and_no_self_hint(ch: Env) -> None:
    cfg = ch.docker_config / "config.json"
    _write(
        cfg,
        b'{"auths":{"\\u001b]0;pwn\\u0007\\u001b[31mevil":{"auth":"!!!"},'
        b'"\\u009b2Jx":{"auth":"' + _auth(USER, OLD).encode() + b'"}},'
        b'"credHelpers":{"\\u001b[2Jx":"nosuch"}}',
    )
    for args in (["doctor", "-v"], ["doctor", "--json"], ["doctor", "--fix"], ["doctor", "-v"]):
        proc = ch.cli(*args)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out
        assert not any(c in out for c in ("\x1b", "\x07", "\x9b")), (args, out)
        assert "run: credhelper doctor" not in out, (args, out)
        if "--json" in args:
            json.loads(proc.stdout)


def test_fix_killed_leaves_no_plaintext(ch: Env) -> None:
    """SIGKILL/SIGTERM at increasing delays during a fix that moves plaintext."""
    cfg = ch.docker_config / "config.json"
    original = json.dumps(
        {"auths": {f"r{i}.example": {"auth": _auth(USER, f"{OLD}{i}")} for i in range(20)}}
    ).encode()
    secret_b64 = [_auth(USER, f"{OLD}{i}").encode() for i in range(20)]
    # The delays only spread the kill over the fix's steps: every outcome must hold.
    for step in range(12):
        _write(cfg, original)
        for p in ch.docker_config.iterdir():
            if p != cfg:
                p.unlink()
        proc = subprocess.Popen(
            [CLI, "doctor", "--fix"],
            env=ch.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.05 * step)
        proc.send_signal(signal.SIGKILL if step % 2 else signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err
        for p in ch.root.rglob("*"):
            if not p.is_file() or p == cfg:
                continue
            data = p.read_bytes()
            for s in secret_b64:
                assert s not in data and f"{OLD}".encode() not in data, (step, p)
        # Docker's config is original or a parseable rewrite.
        json.loads(cfg.read_bytes())
        done = ch.cli("doctor", "--fix", "--json")
        assert done.returncode in (0, 10), done.stderr
        assert cfg.read_bytes() != original


def test_concurrent_fix_and_helper_store(ch: Env) -> None:
    """doctor --fix moving plaintext while the helper stores other logins (bounded)."""
    cfg = ch.docker_config / "config.json"
    _write(
        cfg,
        json.dumps(
            {"auths": {f"p{i}.example": {"auth": _auth(USER, f"plain{i}")} for i in range(10)}}
        ).encode(),
    )
    fixer = subprocess.Popen(
        [CLI, "doctor", "--fix"], env=ch.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    for i in range(15):
        ch.store_creds(f"s{i}.example", "bob", f"stored{i}")
    _out, err = fixer.communicate(timeout=120)
    assert b"Traceback" not in err
    for i in range(15):
        got = _get(ch, f"s{i}.example")
        assert got is not None and got["Secret"] == f"stored{i}", i
    doc = json.loads(cfg.read_text())
    for i in range(10):
        entry = doc["auths"].get(f"p{i}.example", {})
        got = _get(ch, f"p{i}.example")
        assert entry.get("auth") == _auth(USER, f"plain{i}") or (
            got is not None and got["Secret"] == f"plain{i}"
        ), i


def test_list_and_logout_escape_hostile_server(ch: Env) -> None:
    name = "evil\x1b]0;pwn\x07\x1b[2J.example"
    # Stored or refused, nothing below may print the name's escapes.
    ch.helper("store", json.dumps({"ServerURL": name, "Username": "u\x1b[31m", "Secret": "s"}))
    for args in (["list"], ["logout", name], ["logout", name], ["doctor", "-v"]):
        out = ch.cli(*args)
        text = out.stdout + out.stderr
        assert "Traceback" not in text
        assert "\x1b" not in text and "\x07" not in text, (args, text)


@pytest.mark.parametrize("where", ["config", "store", "config-link", "key"])
@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_fifo_or_dir_in_place_no_hang(ch: Env, where: str, kind: str) -> None:
    ch.put(SERVER, USER, OLD)
    cfg = ch.docker_config / "config.json"
    target = {"config": cfg, "store": ch.store, "key": ch.key, "config-link": ch.root / "t"}[where]
    target.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(target, 0o600)
    else:
        target.mkdir(mode=0o700)
    if where == "config-link":
        cfg.unlink(missing_ok=True)
        os.symlink(target, cfg)
    for args in (["doctor", "--json"], ["doctor", "--fix"]):
        proc = ch.cli(*args)  # timeout=120 inside: a hang fails
        assert proc.returncode == 10, (args, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
    assert target.is_fifo() if kind == "fifo" else target.is_dir()


@pytest.mark.parametrize(
    "doc",
    [
        b'{"auths":{"a.example":{"auth":"%s"}},"Auths":{"b.example":{"auth":"%s"}}}',
        b'{"auths":{"a.example":{"auth":"%s","Auth":"%s"}}}',
        b'{"auths":{"a.example":{"auth":"%s"}},"auths":{"a.example":{"auth":"%s"}}}',
        b'{"auths":{"a.example":{"auth":"%s"}},"auths":null,"AUTHS":{"b.example":{"auth":"%s"}}}',
    ],
)
def test_fix_of_shadowed_credentials_leaves_no_plaintext(ch: Env, doc: bytes) -> None:
    one, two = _auth(USER, OLD).encode(), _auth(USER, NEW).encode()
    cfg = ch.docker_config / "config.json"
    _write(cfg, doc % (one, two))
    for _ in range(2):
        proc = ch.cli("doctor", "--fix")
        assert "Traceback" not in proc.stdout + proc.stderr
    for p in ch.root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for s in (one, two, OLD.encode(), NEW.encode()):
                assert s not in data, (p, data[:200])


def test_unreadable_store_replaced_by_good_one_before_fix_is_kept(ch: Env) -> None:
    from credhelper.doctor import Doctor

    ch.put(SERVER, USER, OLD)
    good = ch.store.read_bytes()
    _write(ch.store, b"{not json")
    doctor = Doctor(str(ch.docker_config / "config.json"))
    doctor.run()
    assert any(f.id == "store.unreadable" and f.fixable for f in doctor.findings)
    _write(ch.store, good)
    doctor.fix()
    assert ch.store.read_bytes() == good
    got = _get(ch, SERVER)
    assert got is not None and got["Secret"] == OLD
