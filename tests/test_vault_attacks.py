"""Attacks on the vault key provider (credhelper/keys/vault/, doctor, install, rotate).

Each test is an attack a security review found to work, kept with its assertion
now that it does not: a password in an address without a scheme, a second request
with a fresh deadline, a wrong-length data key, a VAULT_CAPATH of plain PEM files,
mixed BAO_*/VAULT_* families, an https -> http redirect of the admin client (the
two rotation findings, a restored pre-rotation store and two hosts rotating at
once, are in test_vault_rotate.py). A hostile "vault" is a small socket server
on 127.0.0.1 (tests/hostile_vault.py); the real one is OpenBao.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper.errors import KeyProblem
from credhelper.keys.vault import settings
from tests.conftest import HELPER, Env, make_env
from tests.hostile_vault import Hostile, forwarder, hostile, http  # noqa: F401 -- the fixture
from tests.openbao_server import OpenBao, bao_binary, data_key, make_host, openbao  # noqa: F401
from tests.registry_server import make_pki

FAKE_TOKEN = "s.attacker-test-token"


def vault_env(ch: Env, addr: str, token: str = FAKE_TOKEN) -> dict[str, str]:
    env = {k: v for k, v in ch.env.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=addr, VAULT_TOKEN=token, TMPDIR=str(ch.root))
    return env


def run_get(env: dict[str, str], server: str = "reg.example.com") -> tuple[float, int, bytes]:
    start = time.monotonic()
    proc = subprocess.run(
        [HELPER, "get"], input=server.encode(), env=env, capture_output=True, timeout=60
    )
    return time.monotonic() - start, proc.returncode, proc.stdout + proc.stderr


# ------------------------------------------------------------ 1. userinfo in the address


def test_vault_addr_password_is_not_echoed_when_scheme_is_missing(tmp_path: Path) -> None:
    """An address without a scheme (or with a one-slash typo) is refused without its
    user:password@ part: before, the mask applied only after "://"."""
    ch = make_env(tmp_path)
    for addr in ("admin:S3cretPW@127.0.0.1:8200", "https:/admin:S3cretPW@127.0.0.1:8200"):
        proc = ch.cli("install", "--key-provider", "vault", env=vault_env(ch, addr))
        assert proc.returncode != 0
        out = proc.stdout + proc.stderr
        assert "VAULT_ADDR" in out, out
        assert "S3cretPW" not in out, f"VAULT_ADDR password echoed: {out!r}"
        doctor = ch.cli("doctor", env=vault_env(ch, addr))
        assert "S3cretPW" not in doctor.stdout + doctor.stderr


_SECRET = st.text(st.characters(codec="ascii", exclude_characters="@\r\n"), min_size=6).filter(
    lambda s: s.strip() == s and "***" not in s
)


@given(
    secret=_SECRET,
    prefix=st.sampled_from(["", "https://", "http:/", "https:", "//", "x://", "https://u:"]),
    scheme=st.sampled_from(["", "https://", "HTTP://"]),
    extra=st.sampled_from(["", "@", "a@b", "://"]),
)
def test_no_part_of_a_userinfo_is_ever_shown(
    secret: str, prefix: str, scheme: str, extra: str
) -> None:
    """Whatever precedes the last "@" of an address never reaches a message (in the
    vault settings and in the registry-name parser alike)."""
    from credhelper import netloc
    from credhelper.errors import UsageError

    addr = f"{scheme}{prefix}{secret}{extra}@vault.example:8200"
    shown = settings._shown(addr)
    assert secret not in shown, shown
    assert shown.endswith("@vault.example:8200'"), shown
    try:
        netloc.parse_server(addr)  # "a/@b" is host "a" and a path: nothing refused
    except UsageError as err:
        assert secret not in err.message.replace("vault.example:8200", ""), err.message


def test_bao_addr_is_named_in_its_own_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAO_ADDR", "admin:S3cretPW@127.0.0.1:8200")
    monkeypatch.setenv("VAULT_ADDR", "https://127.0.0.1:8200")
    with pytest.raises(KeyProblem) as err:
        settings.endpoint()
    assert "BAO_ADDR" in err.value.message and "S3cretPW" not in err.value.message


# ------------------------------------------------------------ 2. one deadline per command


def test_get_keeps_one_deadline_across_the_403_lookup_self(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
    hostile: Callable[..., Hostile],  # noqa: F811
) -> None:
    """A 403 to transit/decrypt triggers a second request (auth/token/lookup-self); it
    shares the first one's deadline, so a slow server cannot keep `get` for ~2x."""
    key = openbao.new_key()
    host = make_host(tmp_path / "h", openbao, key)
    host.ch.store_creds("reg.example.com", "u", "pw")

    def slow_403(path: str, raw: bytes) -> bytes:
        time.sleep(1.7)  # within one deadline of 2s, each time
        return http(403, {"errors": ["permission denied"]})

    server = hostile(slow_403)
    env = dict(host.ch.env, VAULT_ADDR=server.addr, CREDHELPER_VAULT_TIMEOUT="2")
    elapsed, rc, out = run_get(env)
    assert rc == 1, out
    assert b"did not answer within 2s" in out, out
    assert elapsed < 2.0 + 0.8, (
        f"get took {elapsed:.2f}s with CREDHELPER_VAULT_TIMEOUT=2 "
        f"(requests: {[r.split(b' ')[1] for r in server.requests]})"
    )


# ------------------------------------------------------------ 3. wrong-length data keys


@pytest.mark.parametrize("plaintext", [b"A" * 16, b"", b"B" * 33])
def test_wrong_length_datakey_is_one_line_not_an_internal_error(
    tmp_path: Path,
    hostile: Callable[..., Hostile],  # noqa: F811
    plaintext: bytes,
) -> None:
    """A server that returns a 16-byte (or no) data key from datakey: one line naming
    the cause and the fix, not `internal error (ValueError)`; nothing is installed."""
    ciphertext = "vault:v1:" + base64.b64encode(b"x" * 60).decode()

    def short_key(path: str, raw: bytes) -> bytes:
        data = {"ciphertext": ciphertext}
        if plaintext:
            data["plaintext"] = base64.b64encode(plaintext).decode()
        return http(200, {"data": data})

    server = hostile(short_key)
    ch = make_env(tmp_path)
    proc = ch.cli("install", "--key-provider", "vault", env=vault_env(ch, server.addr))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "internal error" not in out, out
    assert f"{len(plaintext)}-byte data key, not 32" in out, out
    assert len(out.strip().splitlines()) == 1, out
    assert not ch.store.exists()


def test_wrong_length_key_from_decrypt_on_get_is_one_line(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
    hostile: Callable[..., Hostile],  # noqa: F811
) -> None:
    host = make_host(tmp_path / "h", openbao, openbao.new_key())
    host.ch.store_creds("reg.example.com", "u", "pw")
    plaintext = base64.b64encode(b"k" * 16).decode()
    server = hostile(lambda path, raw: http(200, {"data": {"plaintext": plaintext}}))
    _, rc, out = run_get(dict(host.ch.env, VAULT_ADDR=server.addr))
    assert rc == 1 and b"16-byte data key, not 32" in out and b"internal error" not in out


# ------------------------------------------------------------ 4. VAULT_CAPATH of PEM files


def test_vault_capath_directory_of_pem_files_is_trusted(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    """VAULT_CAPATH holding the CA's PEM file (no c_rehash names) works for bao and so
    for credhelper: get (hot path) and doctor (hvac/requests) alike."""
    key = openbao.new_key()
    host = make_host(tmp_path / "h", openbao, key)
    host.ch.store_creds("reg.example.com", "u", "pw")
    capath = tmp_path / "capath"
    capath.mkdir()
    shutil.copy(openbao.ca_file, capath / "ca.pem")
    env = {k: v for k, v in host.ch.env.items() if k != "VAULT_CACERT"}
    env.update(VAULT_ADDR=openbao.tls_addr, VAULT_CAPATH=str(capath))
    # The ecosystem's own client accepts this VAULT_CAPATH:
    bao = subprocess.run(
        [bao_binary(), "token", "lookup", "-format=json"],
        env=dict(env, VAULT_TOKEN=host.token, BAO_TOKEN=host.token),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert bao.returncode == 0, bao.stderr
    _, rc, out = run_get(env)
    assert rc == 0, f"bao trusts VAULT_CAPATH={capath}, credhelper does not: {out!r}"
    doctor = host.ch.cli("doctor", "--json", env=env)
    ids = [f["id"] for f in json.loads(doctor.stdout)["findings"]]
    assert "vault.unreachable" not in ids and "vault.token" in ids, doctor.stdout


def _doctor_ids(host_env: dict[str, str], ch: Env) -> list[str]:
    doctor = ch.cli("doctor", "--json", env=host_env)
    return [f["id"] for f in json.loads(doctor.stdout)["findings"]]


def test_admin_client_uses_the_hot_paths_tls_settings(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    """doctor's hvac/requests client verifies with the same context as get: the client
    certificate for mutual TLS, VAULT_TLS_SERVER_NAME, and only the named CA."""
    host = make_host(tmp_path / "h", openbao, openbao.new_key())
    host.ch.store_creds("reg.example.com", "u", "pw")
    tls = dict(host.ch.env, VAULT_ADDR=openbao.mtls_addr, VAULT_CACERT=str(openbao.ca_file))
    assert "vault.unreachable" in _doctor_ids(tls, host.ch)  # no client certificate
    mtls = dict(
        tls, VAULT_CLIENT_CERT=str(openbao.client_cert), VAULT_CLIENT_KEY=str(openbao.client_key)
    )
    ids = _doctor_ids(mtls, host.ch)
    assert "vault.unreachable" not in ids and "vault.token" in ids, ids
    renamed = dict(mtls, VAULT_TLS_SERVER_NAME="not-the-server.example")
    assert "vault.unreachable" in _doctor_ids(renamed, host.ch)
    _, rc, out = run_get(renamed)
    assert rc == 1 and b"not trusted" in out, out


# ------------------------------------------------------------ 5. BAO_* and VAULT_* together


def test_bao_token_goes_to_bao_addr_as_bao_does(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
    hostile: Callable[..., Hostile],  # noqa: F811
) -> None:
    """With BAO_ADDR/BAO_TOKEN for the OpenBao server and an unrelated VAULT_ADDR also set,
    `bao` uses BAO_ADDR and BAO_TOKEN; so does credhelper: nothing reaches VAULT_ADDR."""
    key = openbao.new_key()
    host = make_host(tmp_path / "h", openbao, key)
    host.ch.store_creds("reg.example.com", "u", "pw")
    other = hostile(lambda path, raw: http(403, {"errors": ["permission denied"]}))
    env = {k: v for k, v in host.ch.env.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(BAO_ADDR=openbao.addr, BAO_TOKEN=host.token, VAULT_ADDR=other.addr)
    bao = subprocess.run(
        [bao_binary(), "token", "lookup", "-format=json"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert bao.returncode == 0, bao.stderr  # bao talks to BAO_ADDR
    assert not other.requests
    _, rc, out = run_get(env)
    leaked = [r for r in other.requests if host.token.encode() in r]
    assert not leaked, f"the BAO_TOKEN was sent to VAULT_ADDR {other.addr} ({len(leaked)}x)"
    assert rc == 0, out
    doctor = host.ch.cli("doctor", "--json", env=env)
    assert not other.requests, "doctor used VAULT_ADDR although BAO_ADDR is set"
    mixed = [f for f in json.loads(doctor.stdout)["findings"] if f["id"] == "vault.env-mixed"]
    assert [f["severity"] for f in mixed] == ["warning"], doctor.stdout
    assert "BAO_ADDR is used" in mixed[0]["message"]
    assert host.token not in doctor.stdout + doctor.stderr


@pytest.mark.parametrize(
    "name", ["ADDR", "TOKEN", "NAMESPACE", "CACERT", "CAPATH", "CLIENT_CERT", "TLS_SERVER_NAME"]
)
def test_every_setting_prefers_bao_over_vault(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"VAULT_{name}", "from-vault")
    monkeypatch.setenv(f"BAO_{name}", "from-bao")
    assert settings.setting(name) == "from-bao" and settings.source(name) == f"BAO_{name}"
    monkeypatch.setenv(f"BAO_{name}", "")  # empty counts as unset, as for bao
    assert settings.setting(name) == "from-vault" and settings.source(name) == f"VAULT_{name}"


# ------------------------------------------------------------ 6. redirects of the admin client


def _tls_redirector(
    tmp_path: Path,
    hostile: Callable[..., Hostile],  # noqa: F811
    target: str,
) -> tuple[Hostile, Path]:
    pki = make_pki(tmp_path / "pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert_file, pki.key_file)

    def redirect(path: str, raw: bytes) -> bytes:
        return (
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    return hostile(redirect, tls=ctx), pki.ca_file


def test_doctor_and_rotate_follow_no_redirect_with_the_token(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
    hostile: Callable[..., Hostile],  # noqa: F811
) -> None:
    """The admin side (hvac/requests: doctor, rotate --reencrypt) got a 307 from the
    https:// VAULT_ADDR to plain http:// and resent X-Vault-Token there in cleartext;
    `bao` refuses ("redirect would cause protocol downgrade"). Now no redirect is
    followed at all, and the refusal is one line."""
    key = openbao.new_key()
    host = make_host(tmp_path / "h", openbao, key)
    host.ch.store_creds("reg.example.com", "u", "pw")
    plain = hostile(lambda path, raw: http(200, {"data": {}}))
    tls, ca_file = _tls_redirector(tmp_path, hostile, plain.addr)
    env = dict(host.ch.env, VAULT_ADDR=tls.addr, VAULT_CACERT=str(ca_file))
    doctor = host.ch.cli("doctor", env=env)
    assert "redirect" in doctor.stdout + doctor.stderr
    rotate = host.ch.cli("rotate", "--reencrypt", "--yes", env=env)
    assert rotate.returncode == 4 and "redirect" in rotate.stderr, rotate.stderr
    assert len(rotate.stderr.strip().splitlines()) == 1
    cleartext = [r.split(b"\r\n")[0] for r in plain.requests if host.token.encode() in r]
    assert not cleartext, f"token sent over plain http after a redirect from https: {cleartext}"
    assert not plain.requests, "a redirect was followed"


@pytest.mark.parametrize(
    "name",
    [
        "https://admin:S3cretPW@reg.example",
        "admin:S3cretPW@reg.example",
        "https:/admin:S3cretPW@reg.example",
        "https://admin:S3cretPW@reg.example/v2/?x=@y",
    ],
)
def test_registry_names_never_echo_a_password_either(name: str, tmp_path: Path) -> None:
    """The sibling of finding 1 in the registry-name parser (credhelper/netloc.py):
    a refused name is shown without any user:password@ part, by login too."""
    from credhelper import netloc
    from credhelper.errors import UsageError

    with pytest.raises(UsageError) as caught:
        netloc.parse_server(name)
    assert "S3cretPW" not in caught.value.message, caught.value.message
    ch = make_env(tmp_path)
    proc = ch.cli("login", name, "-u", "u", "--password-stdin", stdin="pw\n")
    assert proc.returncode != 0 and "S3cretPW" not in proc.stdout + proc.stderr
