"""Docker's config.json: our checks agree with the real docker CLI, merge-writes keep everything."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from credhelper import dockerconfig
from tests.conftest import Env, require_tool

WARNING_PREFIX = "WARNING: Error parsing config file ("


def docker_load_warning(env: Env, config_dir: Path | None = None) -> str | None:
    """Make the real docker CLI load the config; return its parse warning (cause only)."""
    docker = require_tool("docker")
    run_env = dict(env.env)
    if config_dir is not None:
        run_env["DOCKER_CONFIG"] = str(config_dir)
    proc = subprocess.run(
        [docker, "context", "ls", "-q"],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=60,
        check=False,
    )
    for line in proc.stderr.splitlines():
        if line.startswith(WARNING_PREFIX):
            return line.split("): ", 1)[1]
    return None


def open_sealed(path: Path | str) -> bytes:
    """A Docker-config backup that held credentials: sealed (no secret readable), and
    opened with the store's key gives the original bytes back."""
    from credhelper import backups
    from credhelper.store import Store

    data = Path(path).read_bytes()
    assert backups.sealed_key_id(data) is not None, "a backup with credentials is not sealed"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealer = Store().snapshot().sealer()
    assert sealer is not None
    return backups.open_backup(data, sealer)


def b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


# auth values, each checked against the real docker CLI (not only our expectation).
AUTH_VALUES = [
    b64(b"user:pass"),
    b64(b"user:"),
    b64(b"user:pa:ss"),
    b64(b"user"),
    b64(b":pass"),
    b64(b"u:p\x00\x00"),
    "dTpw",
    "dTpw=",
    "dTpw==",
    "dTp",
    "dT",
    "d",
    "=",
    "====",
    "dTpwdQ",
    "dTpwdQ=",
    "dTpwdQ==",
    "dTpwdQ==x",
    "dTpwdQ===",
    "dTpw dTpw",
    " dTpw",
    "dTpw ",
    "dXNlcjpwYXNz\n",
    "dXNl\ncjpw\r\nYXNz",
    "dXNlcjpwYXNz====",
    "dXN=lcjo=",
    "dXNlcjpw-XNz",
    "dXNlcjpwYXNz_",
    "-abc",
    "_abc",
    "{abc}",
    "<token>",
    '"quoted"',
    "dTpwé",
    "dXNlcjpwYXNz.",
    base64.urlsafe_b64encode(b"\xfb\xff:\xfe\xff").decode(),
    base64.b64encode(b"user:pass").decode().rstrip("="),
    base64.b64encode(b"user:pas").decode().rstrip("="),
    pytest.param(base64.b64encode(os.urandom(48)).decode(), id="random-48-bytes"),
]


@pytest.mark.e2e
@pytest.mark.parametrize("value", AUTH_VALUES)
def test_auth_check_matches_real_docker(ch: Env, value: str) -> None:
    (ch.docker_config / "config.json").write_text(
        json.dumps({"auths": {"registry.example": {"auth": value}}})
    )
    docker_says = docker_load_warning(ch)
    try:
        dockerconfig.decode_auth(value)
        ours = None
    except ValueError as err:
        ours = str(err)
    assert ours == docker_says, f"value {value!r}: docker says {docker_says!r}, we say {ours!r}"


def test_empty_auth_is_not_decoded() -> None:
    cfg = dockerconfig.parse(b'{"auths":{"a":{"auth":""}}}', "x")
    assert cfg.writable and cfg.auths() == {"a": {"auth": ""}}


@pytest.mark.e2e
@pytest.mark.parametrize(
    "text",
    [
        '{"credsStore": 1}',
        '{"credHelpers": {"a": 1}}',
        '{"credHelpers": []}',
        '{"auths": {"a": {"username": 1}}}',
        '{"auths": {"a": "x"}}',
        '{"auths": []}',
        '{"Auths": {"a": {"Password": true}}}',
        '{"psFormat": 1}',
        '{"HttpHeaders": {"a": 1}}',
        '{"proxies": {"default": {"httpProxy": 1}}}',
        '{"plugins": {"x": {"y": 2}}}',
        '{"plugins": {"x": 3}}',
        '{"pruneFilters": [1]}',
        "[]",
        '"x"',
    ],
)
def test_type_errors_match_real_docker(ch: Env, text: str) -> None:
    (ch.docker_config / "config.json").write_text(text)
    cfg = dockerconfig.parse(text.encode(), "x")
    assert cfg.type_errors[:1] == [docker_load_warning(ch)]
    assert not cfg.writable


def test_go_case_insensitive_fields() -> None:
    cfg = dockerconfig.parse(b'{"CredsStore": "pass", "credhelpers": {"a": "x"}}', "x")
    assert cfg.creds_store() == "pass"
    assert cfg.cred_helpers() == {"a": "x"}


def read(path: Path) -> bytes:
    return path.read_bytes()


def backups(directory: Path) -> list[Path]:
    return sorted(directory.glob("config.json.bak-*"))


def test_ensure_creates_missing_file_private(ch: Env, tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "config.json"
    assert dockerconfig.ensure_uses_credhelper(dockerconfig.DOCKER_HUB, str(target))
    assert read(target) == b'{\n\t"auths": {},\n\t"credsStore": "credhelper"\n}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert not backups(target.parent)
    assert docker_load_warning(ch, target.parent) is None


def test_ensure_sets_creds_store_keeping_everything(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    original = (
        '{"auths": {"r.example": {}}, "psFormat": "table {{.ID}}", '
        '"unknownKey": {"nested": [1, 2, "<&>"]}, "HttpHeaders": {"X-A": "b"}}\n'
    )
    path.write_text(original)
    assert dockerconfig.ensure_uses_credhelper("r.example")
    doc = json.loads(read(path))
    assert doc == {**json.loads(original), "credsStore": "credhelper"}
    assert list(doc) == ["auths", "psFormat", "unknownKey", "HttpHeaders", "credsStore"]
    data = read(path)
    assert data.startswith(b'{\n\t"auths"') and not data.endswith(b"\n")
    assert b"\\u003c\\u0026\\u003e" in data  # Go's HTML escaping, as docker writes it
    [backup] = backups(ch.docker_config)
    assert backup.read_text() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert docker_load_warning(ch) is None
    # Nothing left to do: no write, no new backup.
    before = path.stat().st_mtime_ns
    assert not dockerconfig.ensure_uses_credhelper("r.example")
    assert path.stat().st_mtime_ns == before and len(backups(ch.docker_config)) == 1


def test_ensure_other_creds_store_adds_cred_helper(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    path.write_text('{"auths": {}, "credsStore": "desktop"}')
    assert dockerconfig.ensure_uses_credhelper("r.example:5000")
    doc = json.loads(read(path))
    assert doc["credsStore"] == "desktop"
    assert doc["credHelpers"] == {"r.example:5000": "credhelper"}
    assert not dockerconfig.ensure_uses_credhelper("r.example:5000")


def test_ensure_existing_cred_helper_entry_is_switched(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    path.write_text('{"credHelpers": {"gcr.io": "gcloud", "r.example": "pass"}}')
    assert dockerconfig.ensure_uses_credhelper("r.example")
    doc = json.loads(read(path))
    assert doc == {"credHelpers": {"gcr.io": "gcloud", "r.example": "credhelper"}}


def test_ensure_already_credhelper_writes_nothing(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    path.write_text('{"credsStore":"credhelper"}')
    assert not dockerconfig.ensure_uses_credhelper("r.example")
    assert read(path) == b'{"credsStore":"credhelper"}'
    assert not backups(ch.docker_config)


@pytest.mark.parametrize(
    "text",
    ['{"auths": {', '{"credsStore": 5}', '{"auths": {}} trailing', "[1]", "\ufeff{}"],
)
def test_ensure_refuses_unparsable_file(ch: Env, text: str) -> None:
    path = ch.docker_config / "config.json"
    path.write_text(text)
    with pytest.raises(dockerconfig.DockerConfigError) as info:
        dockerconfig.ensure_uses_credhelper("r.example")
    assert "refusing to rewrite" in str(info.value)
    assert path.read_text() == text
    assert not backups(ch.docker_config)


def test_ensure_writes_through_symlink(ch: Env, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "docker.json"
    real.parent.mkdir()
    # Not in docker's own layout, so the rewrite must back it up (next to the real file).
    real.write_text('{"auths": {}}\n')
    link = ch.docker_config / "config.json"
    link.symlink_to(real)
    assert dockerconfig.ensure_uses_credhelper("r.example")
    assert link.is_symlink()
    assert json.loads(real.read_text())["credsStore"] == "credhelper"
    assert [p.name.startswith("docker.json.bak-") for p in real.parent.iterdir()].count(True) == 1


@pytest.mark.parametrize(
    "text, refusal",
    [
        ('{"auths": {}, "x": NaN}', "NaN is not JSON"),
        ('{"auths": {}} {"more": 1}', "data after the JSON object"),
    ],
)
def test_never_rewrites_what_it_cannot_keep(ch: Env, text: str, refusal: str) -> None:
    path = ch.docker_config / "config.json"
    path.write_text(text)
    cfg = dockerconfig.load(str(path))
    assert not cfg.writable and refusal in cfg.refusal()
    with pytest.raises(dockerconfig.DockerConfigError):
        dockerconfig.ensure_uses_credhelper("r.example")
    assert path.read_text() == text


def test_lone_surrogate_survives_a_rewrite(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    path.write_text('{"auths": {}, "note": "\\ud800x"}')
    assert dockerconfig.ensure_uses_credhelper("r.example")
    assert json.loads(path.read_text()) == {
        "auths": {},
        "note": "\ud800x",
        "credsStore": "credhelper",
    }


def test_empty_and_null_files_are_docker_defaults(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    for text in ("", "  \n", "null"):
        path.write_text(text)
        cfg = dockerconfig.load(str(path))
        assert cfg.writable and cfg.doc == {} and not cfg.contains_auth()


@pytest.mark.e2e
def test_random_auth_values_match_real_docker(ch: Env) -> None:
    """Random short values over the characters that matter, each loaded by the real docker."""
    import random

    rng = random.Random(20261129)  # fixed: a failure reproduces
    alphabet = "AQgw+/=\n\r -_dTpw:"
    config = ch.docker_config / "config.json"
    for _ in range(150):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        config.write_text(json.dumps({"auths": {"r.example": {"auth": value}}}))
        docker_says = docker_load_warning(ch)
        try:
            dockerconfig.decode_auth(value)
            ours = None
        except ValueError as err:
            ours = str(err)
        assert ours == docker_says, f"value {value!r}: docker says {docker_says!r}, we say {ours!r}"


@pytest.mark.parametrize("depth", [150, 399, 401, 490, 499, 600])
def test_a_deeply_nested_config_is_rewritten_or_left_alone_never_a_crash(
    ch: Env, depth: int
) -> None:
    """A member nested `depth` deep (docker keeps members it does not know): up to the
    rewrite limit login rewrites the file and keeps the member; deeper, it leaves the
    file as it was and says so in one line. Never an internal error (500 levels used
    to give a RecursionError from the renderer)."""
    path = ch.docker_config / "config.json"
    nested = "[" * depth + "]" * depth
    original = f'{{"auths": {{}}, "x": {nested}}}\n'.encode()
    path.write_bytes(original)
    proc = ch.cli(
        "login", "deep.example", "-u", "u", "--password-stdin", "--no-verify", stdin="pw\n"
    )
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    if depth <= 400:
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(path.read_bytes())
        assert doc["credHelpers"] == {"deep.example": "credhelper"}, doc
        assert json.dumps(doc["x"], separators=(",", ":")) == nested
    else:
        # The login is stored; Docker's file is left as it was, and why is said once.
        assert proc.returncode == 0, proc.stderr
        assert path.read_bytes() == original
        line = f"it is nested {depth + 1} levels deep (credhelper rewrites 400)"
        assert proc.stderr.count(line) == 1, proc.stderr
