# ruff: noqa: UP031
"""Backups and leftovers: no plaintext copy credhelper wrote survives an import.

Attacks: read every file in Docker's config directory after install / migrate /
doctor --fix, including after a SIGKILL at varied moments; plant the temp files a
killed write leaves and the plaintext backups an older credhelper wrote; restore
through `uninstall --restore-credentials`; purge after a key is rotated away.
"""

from __future__ import annotations

import base64
import json
import os
import random
import stat
import subprocess
import time
from pathlib import Path

import pytest

from credhelper import backups, crypto
from tests.conftest import CLI, Env, make_env
from tests.test_dockerconfig import docker_load_warning, open_sealed
from tests.test_doctor import doctor, ids

SECRET = "hunter2-s3cret"
AUTH = base64.b64encode(f"alice:{SECRET}".encode()).decode()


def _plain_config(ch: Env) -> bytes:
    original = json.dumps(
        {"auths": {"r.example": {"auth": AUTH}}, "psFormat": "keep", "n": 1}
    ).encode()
    config = ch.docker_config / "config.json"
    config.write_bytes(original)
    config.chmod(0o600)
    return original


def _plaintext_files(directory: Path) -> list[str]:
    """Every file under `directory` holding the secret in any form docker could read."""
    needles = (SECRET.encode(), AUTH.encode(), AUTH.rstrip("=").encode())
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n in data for n in needles):
                found.append(path.name)
    return found


def _run(ch: Env, *args: str) -> subprocess.CompletedProcess[str]:
    proc = ch.cli(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.e2e
def test_install_leaves_no_plaintext_and_restore_brings_the_login_back(ch: Env) -> None:
    original = _plain_config(ch)
    _run(ch, "install")
    assert _plaintext_files(ch.docker_config) == []
    [backup] = backups.backups_of(str(ch.docker_config / "config.json"))
    assert open_sealed(backup) == original
    _run(ch, "uninstall", "--restore-credentials")
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert doc["auths"]["r.example"] == {"auth": AUTH} and doc["psFormat"] == "keep"
    assert "credsStore" not in doc
    assert docker_load_warning(ch) is None


@pytest.mark.e2e
def test_migrate_leaves_no_plaintext(ch: Env) -> None:
    _plain_config(ch)
    _run(ch, "install")  # the key
    config = ch.docker_config / "config.json"
    doc = json.loads(config.read_text())
    doc["auths"]["s.example"] = {"auth": AUTH}
    config.write_text(json.dumps(doc))
    _run(ch, "migrate", "--from", "docker")
    assert _plaintext_files(ch.docker_config) == []


def test_purge_sealed_backups_removes_exactly_the_old_keys_copies(ch: Env) -> None:
    path = str(ch.docker_config / "config.json")
    old, new = crypto.Sealer(os.urandom(32)), crypto.Sealer(os.urandom(32))
    a = backups.write_backup(path, b'{"auths": {"x": {"auth": "' + AUTH.encode() + b'"}}}', old)
    b = backups.write_backup(path, b'{"auths": {}}', new)
    plain = backups.write_backup(path, b'{"auths": {}}')
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600 and AUTH.encode() not in Path(a).read_bytes()
    assert backups.purge_sealed_backups(old.key_id, path) == [a]
    assert not os.path.exists(a) and os.path.exists(b) and os.path.exists(plain)
    assert backups.purge_sealed_backups(old.key_id, path) == []
    # The old key opens nothing that is left; the new one opens its own.
    assert backups.open_backup(Path(b).read_bytes(), new) == b'{"auths": {}}'
    with pytest.raises(backups.BackupError):
        backups.open_backup(Path(b).read_bytes(), old)


def test_a_sealed_backup_renamed_or_edited_does_not_open(ch: Env) -> None:
    path = str(ch.docker_config / "config.json")
    sealer = crypto.Sealer(os.urandom(32))
    backup = backups.write_backup(path, b"{}", sealer)
    doc = json.loads(Path(backup).read_bytes())
    doc["of"] = "other.json"  # bound in the associated data
    with pytest.raises(backups.BackupError):
        backups.open_backup(json.dumps(doc).encode(), sealer)


def _plant_temps(ch: Env) -> list[Path]:
    """What a SIGKILL during a backup or a rewrite leaves (credhelper's names), plus
    docker's own temp name, which is not ours to touch."""
    plain = json.dumps({"auths": {"r.example": {"auth": AUTH}}}).encode()
    names = [
        ".config.json.bak-20260101T000000Z.tmp-4242-deadbeef",
        ".config.json.tmp-4242-cafebabe",
    ]
    planted = []
    for name in names:
        path = ch.docker_config / name
        path.write_bytes(plain)
        planted.append(path)
    (ch.docker_config / "config.json123456").write_text("{}")
    return planted


@pytest.mark.e2e
def test_doctor_reports_and_fix_removes_stale_temp_files(ch: Env) -> None:
    _run(ch, "install")
    planted = _plant_temps(ch)
    out = doctor(ch)
    assert "docker-config.stale-temp" in ids(out) and not out["healthy"]
    fixed = doctor(ch, "--fix")
    assert "docker-config.stale-temp" not in ids(fixed)
    assert not any(p.exists() for p in planted)
    assert (ch.docker_config / "config.json123456").exists()
    assert _plaintext_files(ch.docker_config) == []


@pytest.mark.e2e
def test_the_next_write_under_the_lock_cleans_stale_temp_files(ch: Env) -> None:
    _run(ch, "install")
    planted = _plant_temps(ch)
    proc = ch.cli("login", "k.example", "-u", "u", "--password-stdin", "--no-verify", stdin="pw")
    assert proc.returncode == 0, proc.stderr
    assert not any(p.exists() for p in planted)
    assert (ch.docker_config / "config.json123456").exists()


@pytest.mark.e2e
def test_plaintext_backups_of_an_older_credhelper_are_reported_and_sealed(ch: Env) -> None:
    _run(ch, "install")
    old = ch.docker_config / "config.json.bak-20250101T000000Z"
    data = json.dumps({"auths": {"r.example": {"auth": AUTH}}}).encode()
    old.write_bytes(data)
    old.chmod(0o600)
    assert "docker-config.plaintext-backup" in ids(doctor(ch))
    fixed = doctor(ch, "--fix")
    assert "docker-config.plaintext-backup" not in ids(fixed)
    assert _plaintext_files(ch.docker_config) == []
    assert open_sealed(old) == data


def _timed_install_and_migrate(root: Path) -> dict[str, float]:
    """How long a whole first install, then a migrate, take (the executables, as the
    kills hit them), timed in a home of their own: the test's first round still
    kills a first-ever install."""
    timing = make_env(root)
    _plain_config(timing)
    started = time.monotonic()
    assert timing.cli_exe("install").returncode == 0
    install = time.monotonic() - started
    config = timing.docker_config / "config.json"
    doc = json.loads(config.read_text())
    doc["auths"]["r.example"] = {"auth": AUTH}
    config.write_text(json.dumps(doc))
    started = time.monotonic()
    assert timing.cli_exe("migrate", "--from", "docker").returncode == 0
    return {"install": install, "migrate": time.monotonic() - started}


@pytest.mark.slow
@pytest.mark.e2e
def test_sigkill_of_install_and_migrate_leaves_no_plaintext_after_the_next_run(
    ch: Env,
) -> None:
    """Killed at varied moments, the next complete run leaves no plaintext copy, and
    doctor never calls a leftover healthy."""
    from tests.test_faults import _kill_at

    rng = random.Random(7)
    config = ch.docker_config / "config.json"
    spans: dict[str, float] = {}
    landed = 0
    for i in range(10):
        if i % 5 == 0:
            spans = _timed_install_and_migrate(ch.root / f"timing{i}")
        _plain_config(ch)
        if i % 2 and config.exists():
            _run(ch, "install")
            doc = json.loads(config.read_text())
            doc["auths"]["r.example"] = {"auth": AUTH}
            config.write_text(json.dumps(doc))
            argv = [CLI, "migrate", "--from", "docker"]
        else:
            argv = [CLI, "install"]
        # Round i kills in the i-th tenth of 1.3 times a whole run: from start-up
        # to past the end, every stretch of the run is hit once.
        delay = spans[argv[1]] * 1.3 * (i + rng.random()) / 10
        landed += _kill_at(argv, b"", ch.env, delay)
        leftovers = backups.stale_temps(str(config))
        if leftovers:
            assert "docker-config.stale-temp" in ids(doctor(ch)), f"round {i}"
        _run(ch, *argv[1:])
        assert _plaintext_files(ch.docker_config) == [], f"round {i}"
        assert backups.stale_temps(str(config)) == []
        assert json.loads(config.read_text())["psFormat"] == "keep"
    # About 7 of 10 land (the tenths before the end); 4 leaves room for a slower moment.
    assert landed >= 4, f"{landed} of 10 kills landed mid-run"


def test_hostile_leftovers_never_break_a_write_or_follow_a_link(ch: Env, tmp_path: Path) -> None:
    """A directory and a symlink under credhelper's temp and backup names: the write
    still works, the link's target is neither read, removed nor sealed over."""
    from credhelper import dockerconfig

    victim = tmp_path / "victim"
    victim.write_text(json.dumps({"auths": {"r.example": {"auth": AUTH}}}))
    (ch.docker_config / ".config.json.tmp-1-dir").mkdir()
    (ch.docker_config / ".config.json.tmp-2-link").symlink_to(victim)
    (ch.docker_config / "config.json.bak-20250101T000000Z").symlink_to(victim)
    (ch.docker_config / "config.json").write_text('{"auths": {}}')
    assert dockerconfig.ensure_uses_credhelper("r.example")
    assert victim.exists() and AUTH in victim.read_text()
    assert not (ch.docker_config / ".config.json.tmp-2-link").is_symlink()  # the link went
    assert (ch.docker_config / ".config.json.tmp-1-dir").is_dir()
    path = str(ch.docker_config / "config.json")
    # Never read through a link (the only backup holding the secret is the symlink).
    assert backups.plaintext_backups(path, lambda data: AUTH.encode() in data) == []
    assert backups.purge_sealed_backups("0" * 16, path) == []


# ------------------------------------------ attacks: no plaintext copy of a login left


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    """Every regular file under `root` whose bytes contain one of `needles`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n in data for n in needles):
                found.append(str(path.relative_to(root)))
    return sorted(found)


def needles(user: str, password: str) -> list[bytes]:
    """The forms a password takes on disk: as is, in base64 user:password, in base64."""
    return [
        password.encode(),
        _b64(f"{user}:{password}").encode(),
        _b64(password).encode(),
    ]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def install_over(ch: Env, config_text: str) -> None:
    """Docker's config.json holds `config_text`; then `credhelper install` succeeds."""
    ch.docker_config.joinpath("config.json").write_text(config_text)
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr


def backups_holding(ch: Env, found: list[bytes]) -> list[str]:
    """The backups beside Docker's config whose bytes hold one of `found`."""
    return [name for name in files_holding(ch.docker_config, found) if ".bak-" in name]


def test_shadowed_login_is_backed_up_in_plaintext(ch: Env) -> None:
    """A login docker does not see (a later duplicate "auths" key replaces the entry
    with {}) is still in the file's bytes. install drops it from config.json but
    writes the old bytes to config.json.bak-* UNSEALED, because the "holds
    credentials?" test looks only at docker's view; doctor then says "no problems".
    A plaintext copy of a password that credhelper itself wrote remains."""
    password = "Sup3rSecretPW"
    auth = _b64(f"alice:{password}")
    install_over(ch, '{"auths":{"r.io":{"auth":"%s"}},"auths":{"r.io":{}}}' % auth)
    assert auth not in ch.docker_config.joinpath("config.json").read_text()
    leaks = files_holding(ch.docker_config, needles("alice", password))
    doctor = ch.cli("doctor")
    assert leaks == [], (
        f"install wrote a plaintext copy of the password: {leaks}; doctor said: {doctor.stdout}"
    )


def test_null_reset_auths_backed_up_in_plaintext(ch: Env) -> None:
    """Same defect through `"Auths": null` (Go resets the map): the login text is in
    the file, the backup credhelper writes keeps it in the clear."""
    password = "NullResetPW42"
    auth = _b64(f"alice:{password}")
    install_over(ch, '{"auths":{"r.io":{"auth":"%s"}},"Auths":null}' % auth)
    leaks = backups_holding(ch, needles("alice", password))
    assert leaks == [], f"plaintext backup written by credhelper: {leaks}"


def test_registrytoken_left_plaintext_and_backup_unsealed(ch: Env) -> None:
    """docker sends an entry's `registrytoken` as the bearer token (nativeStore.Get
    keeps it from the file even with a credsStore). install neither moves nor
    reports it, backs the file up UNSEALED, and doctor says "no problems"."""
    token = "RegTokSecret123"
    install_over(ch, '{"auths":{"r.io":{"registrytoken":"%s"}}}' % token)
    backups = backups_holding(ch, [token.encode()])
    doctor = ch.cli("doctor")
    assert backups == [] or doctor.returncode != 0, (
        f"unsealed backups holding the token {backups}, doctor silent: {doctor.stdout}"
    )


def test_logout_without_key_writes_plaintext_backup(ch: Env) -> None:
    """When the store key is not available (aeskey moved away, env/keyring key not
    reachable in this shell), every rewrite of a config that still holds a
    plaintext login backs it up in the clear: store_sealer() returns None and
    write_backup silently writes plaintext instead of refusing or skipping."""
    config = ch.docker_config / "config.json"
    config.write_text("{}")
    assert ch.cli("install").returncode == 0
    ch.store_creds("r.io", "u", "StoreSecret")
    password = "PlainOtherPW77"
    auth = _b64(f"bob:{password}")
    config.write_text(
        '{"auths":{"r.io":{},"plain.io":{"auth":"%s"}},"credsStore":"credhelper",'
        '"credHelpers":{"plain.io":"desktop"}}' % auth
    )
    ch.key.rename(ch.root / "aeskey.away")
    proc = ch.cli("logout", "r.io")
    assert proc.returncode == 0, proc.stderr
    leaks = backups_holding(ch, needles("bob", password))
    assert leaks == [], f"credhelper wrote a plaintext backup holding a login: {leaks}"


def test_auth_shadowed_by_empty_case_variant_stays_unreported(ch: Env) -> None:
    """`"auth": B, "AUTH": ""` -- Go's last case-insensitive match sets Auth to "",
    so docker ignores B; but B is a real base64 user:password. install leaves it in
    config.json (doctor only calls it a duplicate key) and backs the file up UNSEALED."""
    password = "ShadowAuthPW8"
    auth = _b64(f"gina:{password}")
    install_over(ch, '{"auths":{"r.io":{"auth":"%s","AUTH":""}}}' % auth)
    leaks = backups_holding(ch, needles("gina", password))
    assert leaks == [], f"credhelper wrote an unsealed backup holding a login: {leaks}"


def test_forced_rotation_leaves_docker_backups_the_old_key_opens(ch: Env) -> None:
    """`credhelper rotate` (forced: "the old key ... and the old ciphertexts become
    useless"; README: purge_sealed_backups "removes every such backup the old key
    opens") purges only the store's own backups. The sealed config.json.bak-* that
    install wrote beside Docker's config stays, and the leaked old key opens it to
    the user's registry password. purge_sealed_backups is never called."""
    from credhelper import backups
    from credhelper.crypto import Sealer

    auth = _b64("erin:RotateLeakPW3")
    config = ch.docker_config / "config.json"
    config.write_text('{"auths":{"r.io":{"auth":"%s"}}}' % auth)
    assert ch.cli("install").returncode == 0
    leaked = ch.key.read_bytes()
    proc = ch.cli("rotate", "--yes")
    assert proc.returncode == 0, proc.stderr
    old = Sealer(leaked)
    opened = []
    for backup in sorted(ch.docker_config.glob("config.json.bak-*")):
        try:
            data = backups.open_backup(backup.read_bytes(), old)
        except backups.BackupError:
            continue
        if auth.encode() in data:
            opened.append(backup.name)
    assert opened == [], f"after a forced rotation the leaked key still opens {opened}"


@pytest.mark.parametrize(
    "text",
    [
        '{"auths":{"r":{"AUTH":"x"}}}',
        '{"auths":{"r":{"\\u0061uth":"x"}}}',
        '{"AUTHS":{"r":{"passWord":"x"}}}',
        '{"auths":{"r":{"identityto\\u212aen":"x"}}}',  # U+212A KELVIN SIGN folds to k in Go
        '{"auths":{"r":{"registrytoken":"x"}}}',
        '{"auths":{"r":{"auth":"x"}},"auths":null}',
        '{"auths":{"r":{"auth":"x"},"r":{}}}',
        '{"auths":{"r":{"auth":"x"}}} trailing',
        '{"auths":{"r":{"auth":"x"}},"psFormat":"\\xff"}',
    ],
)
def test_every_raw_credential_value_counts_for_sealing(text: str) -> None:
    from credhelper import dockerconfig

    raw = text.encode("utf-8", "surrogateescape").replace(b"\\xff", b"\xff")
    assert dockerconfig.raw_holds_credentials(raw)


@pytest.mark.parametrize(
    "text", ["", "{}", "null", '{"auths":{"r":{}}}', '{"auths":{"r":{"auth":""}}}']
)
def test_a_file_without_credential_text_needs_no_seal(text: str) -> None:
    from credhelper import dockerconfig

    assert not dockerconfig.raw_holds_credentials(text.encode())


def test_without_a_key_a_rewrite_of_credentials_is_refused_not_backed_up_plain(ch: Env) -> None:
    """No store key: a change that loses bytes of a file holding a login is refused
    (one line, file untouched); a pure addition to docker's own layout needs no backup."""
    from credhelper import dockerconfig

    config = ch.docker_config / "config.json"
    secret = _b64("kim:NoKeyPW")
    text = '{\n\t"auths": {\n\t\t"p.io": {\n\t\t\t"auth": "%s"\n\t\t}\n\t}\n}' % secret
    config.write_text(text)

    def drop(doc: dict[str, object]) -> bool:
        doc["auths"] = {}
        return True

    with pytest.raises(dockerconfig.DockerConfigError, match="store key is not available"):
        dockerconfig.modify(str(config), drop)
    assert config.read_text() == text

    def add(doc: dict[str, object]) -> bool:
        doc["credsStore"] = "credhelper"
        return True

    result = dockerconfig.modify(str(config), add, backup_additions=False)
    assert result.changed and result.backup is None
    assert secret in config.read_text()
    assert list(ch.docker_config.glob("config.json.bak-*")) == []


def test_forced_rotation_purges_backups_beside_a_symlinked_config(ch: Env) -> None:
    """Backups sit next to the file a symlinked config.json points to: a forced
    rotation removes them there too and reports each in --json removedBackups."""
    real = ch.root / "dotfiles"
    real.mkdir()
    (real / "config.json").write_text('{"auths":{"r.io":{"auth":"%s"}}}' % _b64("lee:LinkPW"))
    (ch.docker_config / "config.json").symlink_to(real / "config.json")
    assert ch.cli("install").returncode == 0
    [backup] = sorted(real.glob("config.json.bak-*"))
    proc = ch.cli("rotate", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert str(backup) in json.loads(proc.stdout)["removedBackups"]
    assert not backup.exists()
