# ruff: noqa: UP031
"""credhelper install / uninstall on real configs; then the real docker CLI logs in through it."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI, HELPER, Env, require_tool
from tests.registry_server import RegistryServer
from tests.test_dockerconfig import docker_load_warning, open_sealed
from tests.test_legacy import openeuler_record

pytest_plugins = ["tests.registry_server"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def install(ch: Env, *args: str, env: dict[str, str] | None = None) -> str:
    proc = ch.cli("install", *args, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def get(ch: Env, server: str) -> tuple[str, str]:
    proc = ch.helper("get", server)
    assert proc.returncode == 0, proc.stdout
    out = json.loads(proc.stdout)
    return out["Username"], out["Secret"]


def assert_idempotent(ch: Env) -> None:
    before_docker, before_home = files(ch.docker_config), files(ch.home)
    out = install(ch)
    assert "nothing to change" in out
    assert files(ch.docker_config) == before_docker
    assert files(ch.home) == before_home


def docker_login(ch: Env, reg: RegistryServer, user: str, password: str) -> None:
    docker = require_tool("docker")
    proc = subprocess.run(
        [docker, "login", reg.host, "-u", user, "--password-stdin"],
        input=password,
        capture_output=True,
        text=True,
        env=ch.env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Login Succeeded" in proc.stdout
    assert "WARNING" not in proc.stderr, proc.stderr


@pytest.mark.e2e
def test_install_empty_then_docker_login(ch: Env, registry_http: RegistryServer) -> None:
    install(ch)
    config = ch.docker_config / "config.json"
    assert config.read_bytes() == b'{\n\t"auths": {},\n\t"credsStore": "credhelper"\n}'
    assert stat.S_IMODE(ch.key.stat().st_mode) == 0o600
    assert_idempotent(ch)
    user, password = next(iter(registry_http.users.items()))
    docker_login(ch, registry_http, user, password)
    assert get(ch, registry_http.host) == (user, password)
    # docker left its usual {} entry and kept credsStore.
    doc = json.loads(config.read_text())
    assert doc["auths"][registry_http.host] == {} and doc["credsStore"] == "credhelper"
    assert password not in config.read_text()


@pytest.mark.e2e
def test_install_plaintext_config(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    original = json.dumps(
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hub-pw")},
                "r.example:5000": {"auth": b64("alice:p:w")},
                "empty.example": {},
            },
            "psFormat": "table {{.ID}}",
            "aliases": {"builder": "buildx"},
            "somethingNew": [1, {"x": None}],
        }
    ).encode()
    config.write_bytes(original)
    out = install(ch)
    assert "Moved the login for r.example:5000 into the encrypted store." in out
    assert get(ch, "https://index.docker.io/v1/") == ("hubuser", "hub-pw")
    assert get(ch, "r.example:5000") == ("alice", "p:w")
    doc = json.loads(config.read_text())
    assert doc == {
        "auths": {"https://index.docker.io/v1/": {}, "r.example:5000": {}, "empty.example": {}},
        "psFormat": "table {{.ID}}",
        "aliases": {"builder": "buildx"},
        "somethingNew": [1, {"x": None}],
        "credsStore": "credhelper",
    }
    [backup] = list(ch.docker_config.glob("config.json.bak-*"))
    # No plaintext copy remains: the backup is sealed with the store key.
    assert b"hub-pw" not in backup.read_bytes() and base64.b64encode(b"alice:p:w") not in (
        backup.read_bytes()
    )
    assert open_sealed(backup) == original
    assert docker_load_warning(ch) is None
    assert_idempotent(ch)


@pytest.mark.e2e
def test_install_cred_helpers_only(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text('{"credHelpers": {"gcr.io": "gcloud"}}')
    out = install(ch)
    assert "gcr.io still uses docker-credential-gcloud" in out
    assert json.loads(config.read_text()) == {
        "credHelpers": {"gcr.io": "gcloud"},
        "credsStore": "credhelper",
    }
    assert_idempotent(ch)


@pytest.mark.e2e
def test_install_openeuler_config(ch: Env, registry_http: RegistryServer) -> None:
    key = os.urandom(32)
    (ch.docker_config / "aeskey").write_bytes(key)
    (ch.docker_config / "aeskey").chmod(0o600)
    config = ch.docker_config / "config.json"
    config.write_text(
        json.dumps({"auths": {"euler.example": {"auth": openeuler_record(key, "eu", "pw1")}}})
    )
    out = install(ch)
    assert "Moved the login for euler.example" in out
    assert get(ch, "euler.example") == ("eu", "pw1")
    assert json.loads(config.read_text())["auths"] == {"euler.example": {}}
    assert docker_load_warning(ch) is None
    assert_idempotent(ch)
    user, password = next(iter(registry_http.users.items()))
    docker_login(ch, registry_http, user, password)
    assert get(ch, registry_http.host) == (user, password)


def test_install_refuses_broken_json(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text('{"auths": {')
    proc = ch.cli("install")
    assert proc.returncode != 0
    assert "refusing to change" in proc.stderr and "Traceback" not in proc.stderr
    assert config.read_text() == '{"auths": {'


def test_install_env_provider(ch: Env) -> None:
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    install(ch, "--key-provider", "env", env=env)
    assert not ch.key.exists()
    assert json.loads((ch.docker_config / "config.json").read_text())["credsStore"] == "credhelper"


def test_install_env_provider_without_key_fails_clearly(ch: Env) -> None:
    proc = ch.cli("install", "--key-provider", "env")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CREDHELPER_AESKEY" in lines[0]


def test_install_docker_config_option(ch: Env, tmp_path: Path) -> None:
    other = tmp_path / "ci-docker"
    env = {k: v for k, v in ch.env.items() if k != "CREDHELPER_HOME"}
    install(ch, "--docker-config", str(other), env=env)
    assert json.loads((other / "config.json").read_text())["credsStore"] == "credhelper"
    assert (other / "credhelper" / "aeskey").exists()


@pytest.mark.e2e
def test_uninstall_keeps_store_and_docker_works(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    config.write_text(json.dumps({"auths": {"r.example": {"auth": b64("alice:pw")}}, "x": 1}))
    install(ch)
    proc = ch.cli("uninstall")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(config.read_text())
    assert doc == {"auths": {"r.example": {}}, "x": 1}
    assert docker_load_warning(ch) is None
    assert get(ch, "r.example") == ("alice", "pw")  # the store is kept
    assert "pw" not in config.read_text()


@pytest.mark.e2e
def test_uninstall_restore_credentials_warns(ch: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker.auth

    config = ch.docker_config / "config.json"
    install(ch)
    ch.store_creds("r.example", "alice", "pw:1")
    ch.store_creds("https://index.docker.io/v1/", "<token>", "tok")
    proc = ch.cli("uninstall", "--restore-credentials")
    assert proc.returncode == 0
    assert "plaintext" in proc.stderr and "WARNING" in proc.stderr
    assert docker_load_warning(ch) is None
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no helper: the file alone must do
    auth = docker.auth.load_config(str(config))
    assert docker.auth.resolve_authconfig(auth, "r.example")["password"] == "pw:1"
    assert json.loads(config.read_text())["auths"]["https://index.docker.io/v1/"] == {
        "identitytoken": "tok"
    }


@pytest.mark.e2e
def test_install_keyring_provider(ch: Env, tmp_path: Path) -> None:
    from tests.keyring_session import secret_service

    require_tool("secret-tool")
    config = ch.docker_config / "config.json"
    config.write_text(json.dumps({"auths": {"r.example": {"auth": b64("alice:pw")}}}))
    with secret_service(tmp_path / "ss") as extra:
        ch.env = {**ch.env, **extra}
        out = install(ch, "--key-provider", "keyring")
        assert "keyring key provider" in out
        assert not ch.key.exists()  # the key lives in the keyring, not in a file
        assert json.loads(ch.store.read_text())["keyProvider"]["name"] == "keyring"
        assert get(ch, "r.example") == ("alice", "pw")
        assert_idempotent_env(ch)


def assert_idempotent_env(ch: Env) -> None:
    before_docker, before_home = files(ch.docker_config), files(ch.home)
    proc = ch.cli("install", "--key-provider", "keyring")
    assert proc.returncode == 0, proc.stderr
    assert files(ch.docker_config) == before_docker
    assert files(ch.home) == before_home


# ------------------------------------------ attacks on reading/writing docker's config


def test_install_loses_login_docker_found_by_legacy_key(ch: Env) -> None:
    """docker's file store finds an `auths` entry keyed in the legacy URL form
    (`https://HOST/v2/`, `http://HOST`) for HOST (fileStore.Get falls back to
    ConvertToHostname of every key): `docker login 127.0.0.1:1` says
    "Authenticating with existing credentials... [Username: carol]". install moves
    the login into the store under the URL key, strips the entry and reports
    success, but docker then asks the helper for `127.0.0.1:1` and gets
    "credentials not found": the login docker was using is gone from its view."""
    auth = b64("carol:LegacyKeyPW5")
    ch.docker_config.joinpath("config.json").write_text(
        '{"auths":{"https://127.0.0.1:1/v2/":{"auth":"%s"}}}' % auth
    )
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    got = ch.helper("get", b"127.0.0.1:1")
    assert got.returncode == 0 and b"LegacyKeyPW5" in got.stdout, (
        f"install reported success but docker's lookup key 127.0.0.1:1 now finds nothing: "
        f"{got.stdout!r}"
    )


def test_install_silently_skips_short_binary_login(ch: Env) -> None:
    """A plaintext auth whose password is not UTF-8 (base64 of b"bin:pa\\xffss") is
    a login docker sends as is. install cannot store it (unrepresentable), but says
    nothing about it: it is shorter than an AES record, so docker_candidates hits
    `continue` without a relogin entry. install prints success, switches docker to
    credhelper (which no longer sends that password) and never names b.io; only a
    separate `doctor` run shows it."""
    auth = base64.b64encode(b"bin:pa\xffss").decode()
    ch.docker_config.joinpath("config.json").write_text('{"auths":{"b.io":{"auth":"%s"}}}' % auth)
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert "b.io" in proc.stdout + proc.stderr, (
        f"install did not report the login it could not move: {proc.stdout!r}"
    )


def test_install_replaces_login_docker_used_from_other_helper_with_stale_plaintext(
    ch: Env,
) -> None:
    """credHelpers routes 127.0.0.1:1 to another helper ("desktop"), so docker uses
    that helper's login (current-user) and ignores the leftover plaintext auth in
    `auths` (nativeStore.Get overwrites the password). install imports the ignored
    stale copy, rewrites credHelpers["127.0.0.1:1"] to credhelper and prints "Moved
    the login": docker now authenticates as stale-user. The copy docker used last
    did not win, and the switch of that credHelpers entry is not reported."""
    import subprocess

    from tests.conftest import require_tool

    docker = require_tool("docker")
    fakebin = ch.root / "fakebin"
    fakebin.mkdir()
    desktop = fakebin / "docker-credential-desktop"
    desktop.write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        '[ "$1" = get ] && echo \'{"ServerURL":"127.0.0.1:1","Username":"current-user",'
        '"Secret":"CurrentPW"}\'\nexit 0\n'
    )
    desktop.chmod(0o755)
    env = dict(
        ch.env,
        PATH=f"{fakebin}:{ch.env['PATH']}",
        DOCKER_HOST=f"unix://{ch.root}/no-daemon.sock",
    )
    config = ch.docker_config / "config.json"
    config.write_text(
        '{"auths":{"127.0.0.1:1":{"auth":"%s"}},"credHelpers":{"127.0.0.1:1":"desktop"}}'
        % b64("stale-user:StalePW")
    )

    def docker_user(config_dir: Path) -> str:
        out = subprocess.run(
            [docker, "--config", str(config_dir), "login", "127.0.0.1:1"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        text = out.stdout + out.stderr
        return text.split("[Username: ", 1)[1].split("]", 1)[0] if "[Username: " in text else text

    before = ch.root / "before"
    before.mkdir()
    (before / "config.json").write_bytes(config.read_bytes())
    assert docker_user(before) == "current-user"  # docker uses the other helper's login
    proc = ch.cli("install", env=env)
    assert proc.returncode == 0, proc.stderr
    assert docker_user(ch.docker_config) == "current-user", (
        f"after install docker authenticates with the stale plaintext copy: {proc.stdout!r}"
    )
    # ... and install says why it left that copy alone.
    assert "127.0.0.1:1: docker uses docker-credential-desktop" in proc.stdout, proc.stdout


def test_install_hangs_on_fifo_aeskey(ch: Env) -> None:
    """install always reads an openEuler `aeskey` beside Docker's config
    (legacy.load_key: a plain open(), no O_NONBLOCK/O_NOFOLLOW, no file-type check),
    even when no entry is AES-encrypted. A FIFO there blocks install forever
    (doctor, which reads files the nofollow/nonblocking way, does not hang)."""
    import os
    import subprocess

    from tests.conftest import CLI

    (ch.docker_config / "config.json").write_text("{}")
    os.mkfifo(ch.docker_config / "aeskey")
    try:
        proc = subprocess.run(
            [CLI, "install"], env=ch.env, capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("install blocked for 20s opening the FIFO aeskey") from None
    assert proc.returncode is not None


def test_restore_credentials_username_with_colon_comes_back_different(ch: Env) -> None:
    """A stored login whose username holds ':' (the helper protocol keeps it intact:
    docker gets "svc:acct"/"pw1" back) is restored as auth=base64("svc:acct:pw1"),
    which docker's decodeAuth splits at the first ':' -> user "svc", password
    "acct:pw1". uninstall --restore-credentials reports it restored, yet docker now
    sends another login; it should be written as docker reads it back (username/
    password fields, which docker uses when `auth` is empty) or listed as not restored."""
    from credhelper import dockerconfig

    (ch.docker_config / "config.json").write_text("{}")
    assert ch.cli("install").returncode == 0
    ch.store_creds("r.io", "svc:acct", "pw1")
    proc = ch.cli("uninstall", "--restore-credentials")
    assert proc.returncode == 0, proc.stderr
    cfg = dockerconfig.load(str(ch.docker_config / "config.json"))
    seen = {c.server: (c.username, c.secret) for c in dockerconfig.check_entries(cfg)}
    restored = "r.io" in seen
    assert not restored or seen["r.io"] == ("svc:acct", "pw1"), (
        f"restored, but docker reads {seen['r.io']!r} instead of ('svc:acct', 'pw1'): {proc.stdout}"
    )


def test_restore_credentials_without_docker_config_restores_nothing_silently(ch: Env) -> None:
    """With Docker's config.json absent (a fresh ~/.docker, another DOCKER_CONFIG),
    `uninstall --restore-credentials` prints "does not use credhelper; nothing to
    change", exits 0 and writes no login back (modify(create=False)), without naming
    the registry it did not restore: docker is left with no credentials for r.io."""
    (ch.docker_config / "config.json").write_text("{}")
    assert ch.cli("install").returncode == 0
    ch.store_creds("r.io", "u", "RestoreMePW")
    (ch.docker_config / "config.json").unlink()
    proc = ch.cli("uninstall", "--restore-credentials")
    config = ch.docker_config / "config.json"
    restored = config.exists() and "r.io" in config.read_text()
    assert restored or proc.returncode != 0 or "r.io" in proc.stdout + proc.stderr, (
        f"asked to restore, nothing restored and r.io not named: {proc.stdout!r}"
    )


def test_install_refuses_a_fifo_aeskey_an_aes_entry_needs(ch: Env) -> None:
    """With an AES-looking entry the aeskey is read: a FIFO (or link) there is refused
    at once and the entry is reported as needing a new login, never a hang."""
    import subprocess

    from tests.conftest import CLI

    record = openeuler_record(os.urandom(32), "oe", "OePW")
    (ch.docker_config / "config.json").write_text(
        json.dumps({"auths": {"oe.example": {"auth": record}}})
    )
    os.mkfifo(ch.docker_config / "aeskey")
    proc = subprocess.run(
        [CLI, "install", "--json"],
        env=ch.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = json.loads(proc.stdout)
    [item] = out["migration"]["needsLogin"]
    assert item["server"] == "oe.example" and "not a regular file" in item["reason"]


def test_install_again_drops_shadowed_credential_text(ch: Env) -> None:
    """Already installed, nothing to move, yet a case variant docker skips holds a
    password: install rewrites the file without it, after a sealed backup."""
    config = ch.docker_config / "config.json"
    config.write_text("{}")
    assert ch.cli("install").returncode == 0
    secret = b64("mia:ShadowAgainPW")
    config.write_text(
        '{"auths":{"r.io":{"Auth":"' + secret + '","auth":""}},"credsStore":"credhelper"}'
    )
    proc = ch.cli("install", "--json")
    assert proc.returncode == 0, proc.stderr
    assert secret not in config.read_text()
    [backup] = json.loads(proc.stdout)["backups"]
    assert secret.encode() in open_sealed(backup)


# ------------------------------------------ switching key providers


def store_with(env: dict[str, str], server: str, secret: str) -> subprocess.CompletedProcess[bytes]:
    body = json.dumps({"ServerURL": server, "Username": "u", "Secret": secret}).encode()
    return subprocess.run(
        [HELPER, "store"], input=body, env=env, capture_output=True, timeout=60, check=False
    )


def test_switching_from_env_to_file_never_writes_the_env_key(ch: Env) -> None:
    """The fleet's env key (it may open every runner's store) never reaches `aeskey`:
    the switch makes a new file key and re-seals the logins under it."""
    fleet = os.urandom(32)
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(fleet).decode())
    install(ch, "--key-provider", "env", env=env)
    for server in ("a.example", "b.example"):
        assert store_with(env, server, f"pw-{server}").returncode == 0
    install(ch, "--key-provider", "file", env=env)
    key = ch.key.read_bytes()
    assert len(key) == 32 and key != fleet
    assert fleet not in b"".join(files(ch.home).values())
    doc = json.loads(ch.store.read_text())
    assert doc["keyProvider"] == {"name": "file"} and doc["header"]["provider"] == "file"
    for server in ("a.example", "b.example"):
        assert get(ch, server) == ("u", f"pw-{server}")  # without the env key
    # The env key set by mistake afterwards: one line, nothing written.
    before = ch.store.read_bytes()
    refused = store_with(env, "c.example", "pw")
    assert refused.returncode == 1 and refused.stdout.count(b"\n") == 1
    assert ch.store.read_bytes() == before


def test_switching_from_env_without_the_env_key_refuses(ch: Env) -> None:
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    install(ch, "--key-provider", "env", env=env)
    assert store_with(env, "a.example", "pw-a").returncode == 0
    before = files(ch.home)
    proc = ch.cli("install", "--key-provider", "file")
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.count("\n") == 1 and "CREDHELPER_AESKEY" in proc.stderr
    assert files(ch.home) == before


@pytest.mark.parametrize("provider", ["file", "env"])
def test_configuring_the_same_provider_again_writes_nothing(ch: Env, provider: str) -> None:
    """configure_provider (install runs it on every vault install) with nothing to
    change does not rewrite (or re-seal) the store."""
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    env = env if provider == "env" else ch.env
    install(ch, "--key-provider", provider, env=env)
    assert store_with(env, "a.example", "pw-a").returncode == 0
    before = os.stat(ch.store)
    code = f"from credhelper.keys.setup import configure_provider; configure_provider({provider!r})"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    after = os.stat(ch.store)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_install_again_keeps_the_env_provider_in_force(ch: Env) -> None:
    """A plain `credhelper install` on a runner with the env key: env stays, no key file."""
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    install(ch, "--key-provider", "env", env=env)
    out = install(ch, env=env)
    assert "env key provider" in out
    assert not ch.key.exists()
    assert json.loads(ch.store.read_text())["keyProvider"]["name"] == "env"


def test_a_stray_env_key_does_not_switch_a_file_store(ch: Env) -> None:
    """`credhelper install` on a file store with CREDHELPER_AESKEY left set keeps the file
    key: the store's own provider, not the environment's one-off choice."""
    install(ch)
    ch.store_creds("a.example", "alice", "pw")
    key = ch.key.read_bytes()
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    ch.cli("install", env=env)
    assert ch.key.read_bytes() == key
    assert json.loads(ch.store.read_text())["keyProvider"]["name"] == "file"
    assert get(ch, "a.example") == ("alice", "pw")


# ------------------------------------- env keys never on disk; refused writers change nothing

TWO = {f"r{i}.example": f"pw-{i}-secret" for i in range(2)}


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _secret(env: dict[str, str], server: str) -> str | None:
    got = subprocess.run(
        [HELPER, "get"], input=server.encode(), env=env, capture_output=True, timeout=60
    )
    return json.loads(got.stdout)["Secret"] if got.returncode == 0 else None


def _all_bytes(root: Path) -> bytes:
    out = []
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = Path(base, name)
            if path.is_file() and not path.is_symlink():
                out.append(path.read_bytes())
    return b"\n".join(out)


def _assert_absent(secret: bytes, *roots: Path) -> None:
    forms = [secret, base64.b64encode(secret), secret.hex().encode()]
    for root in roots:
        blob = _all_bytes(root)
        for form in forms:
            assert form not in blob, f"the env key is on disk under {root}"


def _env_store(ch: Env, key: bytes) -> dict[str, str]:
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(key).decode())
    done = subprocess.run(
        [CLI, "install", "--key-provider", "env"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for server, secret in TWO.items():
        assert store_with(env, server, secret).returncode == 0
    return env


def test_plain_install_with_provider_file_on_an_env_store_keeps_the_env_key_off_disk(
    ch: Env,
) -> None:
    """`CREDHELPER_KEY_PROVIDER=file credhelper install` on an env store: either it
    switches to file with every login readable without the env key, or it refuses and
    the env store is intact; the env key is in no file under HOME or TMPDIR."""
    fleet = os.urandom(32)
    env = _env_store(ch, fleet)
    done = subprocess.run(
        [CLI, "install"],
        env=dict(env, CREDHELPER_KEY_PROVIDER="file"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _assert_absent(fleet, ch.root, Path(ch.env["TMPDIR"]))
    name = json.loads(ch.store.read_text())["keyProvider"]["name"]
    assert name == ("file" if done.returncode == 0 else "env")
    for server, secret in TWO.items():
        assert _secret(ch.env if done.returncode == 0 else env, server) == secret


def _tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    out = {}
    for base, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(base, name)
            st = path.lstat()
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            out[str(path)] = (data, st.st_mtime_ns, st.st_ino)
    return out


def test_a_refused_override_writer_changes_no_file(ch: Env, tmp_path: Path) -> None:
    """CREDHELPER_AESKEY_FILE on a file store: every writer is refused and no file under
    HOME (store, key, lock, Docker config, the directories) changes in bytes, mtime or inode."""
    for server, secret in TWO.items():
        ch.store_creds(server, "u", secret)
    keyfile = tmp_path / "other.key"
    _private(keyfile, base64.b64encode(os.urandom(32)))
    env = dict(ch.env, CREDHELPER_AESKEY_FILE=str(keyfile))
    before = _tree(ch.root)
    body = json.dumps({"ServerURL": "z.example", "Username": "u", "Secret": "pw-z"})
    for action, data in (("store", body), ("erase", "r0.example")):
        refused = subprocess.run(
            [HELPER, action], input=data.encode(), env=env, capture_output=True, timeout=60
        )
        assert refused.returncode == 1, refused.stdout
    for args in (("logout", "r0.example"), ("logout", "--expired"), ("rotate", "--yes")):
        cli = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)
        assert cli.returncode != 0, (args, cli.stdout)
    assert _tree(ch.root) == before


def test_rotate_key_from_env_leaves_neither_env_key_on_disk(ch: Env) -> None:
    old, new = os.urandom(32), os.urandom(32)
    _env_store(ch, old)
    env2 = dict(
        ch.env,
        CREDHELPER_AESKEY=base64.b64encode(new).decode(),
        CREDHELPER_OLD_AESKEY=base64.b64encode(old).decode(),
    )
    done = subprocess.run(
        [CLI, "rotate", "--key-from-env", "--reencrypt", "--yes"],
        env=env2,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for key in (old, new):
        _assert_absent(key, ch.root, Path(ch.env["TMPDIR"]))
    for server, secret in TWO.items():
        assert _secret(env2, server) == secret


@pytest.mark.parametrize("login", [True, False], ids=["docker-login", "docker-logout"])
def test_install_never_routes_docker_to_a_login_replaced_meanwhile(
    ch: Env, monkeypatch: pytest.MonkeyPatch, login: bool
) -> None:
    """A docker login (NEW) or logout between install's read of config.json and its
    locked rewrite: OLD is not stored and docker is not switched to credhelper (it
    would get OLD, or a login it logged out of); install says so and fails; run again,
    it moves NEW."""
    from credhelper import install as install_mod
    from credhelper import migrate as migrate_mod
    from credhelper.errors import CredhelperError

    monkeypatch.setenv("PATH", f"{Path(HELPER).parent}{os.pathsep}{os.environ['PATH']}")
    config = ch.docker_config / "config.json"
    old, new, other = b64("u:OLD"), b64("u:NEW"), b64("o:pw")
    config.write_text(
        json.dumps({"auths": {"w.example": {"auth": old}, "o.example": {"auth": other}}})
    )
    entry = {"w.example": {"auth": new}} if login else {}
    after = {"auths": {**entry, "o.example": {"auth": other}}}
    real = migrate_mod.docker_candidates

    def then_docker(*args: object, **kwargs: object) -> list[migrate_mod.Candidate]:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        config.write_text(json.dumps(after, indent="\t"))  # docker login/logout, now
        return found

    monkeypatch.setattr(migrate_mod, "docker_candidates", then_docker)
    with pytest.raises(CredhelperError, match=r"w\.example .*changed since it was read"):
        install_mod.install("file", str(config))
    doc = json.loads(config.read_text())
    assert "credsStore" not in doc and "w.example" not in doc.get("credHelpers", {})
    assert doc["auths"].get("w.example") == ({"auth": new} if login else None)
    assert ch.helper("get", "w.example").returncode != 0
    assert doc["credHelpers"]["o.example"] == "credhelper" and doc["auths"]["o.example"] == {}
    proc = ch.cli_exe("install")  # a new process: nothing changes the file meanwhile
    assert proc.returncode == 0, proc.stderr
    assert json.loads(config.read_text())["credsStore"] == "credhelper"
    got = ch.helper("get", "w.example")
    assert (got.returncode == 0) == login
    assert not login or json.loads(got.stdout)["Secret"] == "NEW"
